"""On-premise multimodal embedding appliance with privacy controls."""

import contextlib as _contextlib

from appliance.airgap import apply_airgap_environment as _apply_airgap_environment
from appliance.airgap import disable_onnxruntime_telemetry as _disable_onnxruntime_telemetry

# The air-gap switches go first: onnxruntime reads ORT_DISABLE_TELEMETRY when it is imported
# (just below), huggingface_hub when they are imported later.
_apply_airgap_environment()

# usearch 2.26 loaded before onnxruntime 1.32 makes onnxruntime's import segfault (seen
# here: a speech detection after an index was opened killed the process), so load
# onnxruntime first whenever it is installed.
with _contextlib.suppress(ImportError):
    import onnxruntime as _onnxruntime

    _disable_onnxruntime_telemetry(_onnxruntime)

__version__ = "0.1.0"
