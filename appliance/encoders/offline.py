"""Offline switches for the Hugging Face stack, set before ``transformers`` is imported.

Every module that imports ``transformers`` or ``torch`` model code imports this module
first. The flags (``appliance.airgap``, already applied when the ``appliance`` package was
imported; applied again here) make the hub client refuse to open a connection; loading also
passes ``local_files_only=True`` so no code path depends on the flags alone.
"""

from __future__ import annotations

import os
import sys

from appliance.airgap import AIRGAP_ENVIRONMENT

OFFLINE_ENVIRONMENT: dict[str, str] = {**AIRGAP_ENVIRONMENT, "TOKENIZERS_PARALLELISM": "false"}


def apply_offline_environment() -> None:
    """Force the offline flags into ``os.environ`` (they win over anything set before)."""
    for key, value in OFFLINE_ENVIRONMENT.items():
        os.environ[key] = value


def transformers_imported_early() -> bool:
    """True when ``transformers`` was imported before the flags were set (a wiring bug)."""
    return _IMPORTED_BEFORE


_IMPORTED_BEFORE = "transformers" in sys.modules
apply_offline_environment()
