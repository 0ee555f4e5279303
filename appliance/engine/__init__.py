"""The serving engine: one batching worker per encoder, no HTTP and no torch import.

``EncoderEngine(encoder, settings).start()`` then ``submit``/``encode``/``encode_async``;
a full queue raises ``EngineBusyError`` (code ``busy``, ``retry_after_s``) at once.
"""

from __future__ import annotations

from appliance.engine.core import EncoderEngine
from appliance.engine.errors import (
    EngineBusyError,
    EngineClosedError,
    EngineFailedError,
    EngineTimeoutError,
)
from appliance.engine.group import EngineGroup
from appliance.engine.metrics import BatchEvent, BatchHook, EngineStats
from appliance.engine.preparing import default_prepare_workers
from appliance.engine.requests import ItemResults

__all__ = [
    "BatchEvent",
    "BatchHook",
    "EncoderEngine",
    "EngineBusyError",
    "EngineClosedError",
    "EngineFailedError",
    "EngineGroup",
    "EngineStats",
    "EngineTimeoutError",
    "ItemResults",
    "default_prepare_workers",
]
