"""Air-gap switches for every dependency that would phone home, write a tracking id or
fetch a list from the internet. Applied by ``appliance/__init__.py`` before anything else
is imported (onnxruntime and huggingface_hub read them at import time).

The values are forced, not defaulted: an operator's environment cannot turn telemetry
back on. ``docs/security.md`` lists each dependency, what it does and how it is disabled.
"""

from __future__ import annotations

import os

AIRGAP_ENVIRONMENT: dict[str, str] = {
    # onnxruntime 1.32's 1DS telemetry: without this, importing it writes a device id and
    # an event queue (~/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db) and
    # starts an uploader for https://mobile.events.data.microsoft.com.
    "ORT_DISABLE_TELEMETRY": "1",
    # huggingface_hub / transformers: no hub requests, no usage pings, no token lookups.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}


def apply_airgap_environment() -> None:
    """Force the air-gap switches into ``os.environ`` (they win over anything set before)."""
    for key, value in AIRGAP_ENVIRONMENT.items():
        os.environ[key] = value


def disable_onnxruntime_telemetry(onnxruntime: object) -> None:
    """Also switch off onnxruntime's non-essential events through its own API."""
    disable = getattr(onnxruntime, "disable_telemetry_events", None)
    if callable(disable):
        disable()
