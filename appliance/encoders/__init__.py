"""Encoders: the only package (with the trainer) that imports torch.

Importing any module of this package first sets the Hugging Face offline flags
(``appliance.encoders.offline``), before ``transformers`` can be imported.
"""

from appliance.encoders import offline as offline
