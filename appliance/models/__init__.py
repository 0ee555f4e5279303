"""The local model store (no torch): import, verify, list, and the active space record."""

from appliance.models.manifest import FileRecord, ModelEntry, SpaceRecord, SpaceSlot, StoreManifest
from appliance.models.reports import ImportResult, ModelCheck, Readiness, VerifyReport
from appliance.models.store import ModelStore

__all__ = [
    "FileRecord",
    "ImportResult",
    "ModelCheck",
    "ModelEntry",
    "ModelStore",
    "Readiness",
    "SpaceRecord",
    "SpaceSlot",
    "StoreManifest",
    "VerifyReport",
]
