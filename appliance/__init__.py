"""On-premise multimodal embedding appliance with privacy controls."""

import contextlib as _contextlib

# usearch 2.26 loaded before onnxruntime 1.32 makes onnxruntime's import segfault (seen
# here: a speech detection after an index was opened killed the process), so load
# onnxruntime first whenever it is installed.
with _contextlib.suppress(ImportError):
    import onnxruntime as _onnxruntime  # noqa: F401

__version__ = "0.1.0"
