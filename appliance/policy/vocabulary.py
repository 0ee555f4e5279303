"""The closed vocabularies policy files are validated against.

A condition naming a value outside these sets could never match any request, so the
loader refuses it (with the file and line) instead of silently never firing.
"""

from __future__ import annotations

from appliance.domain.findings import FindingKind
from appliance.domain.types import Modality

SUBJECT_ROLES: tuple[str, ...] = ("patient", "staff", "visitor")
"""Who the data is about (``context.subject_role`` of a request)."""

PURPOSES: tuple[str, ...] = ("treatment", "payment", "operations", "research")
"""Why the data is processed (``context.purpose``); HIPAA's TPO plus research."""

SETTINGS: tuple[str, ...] = ("health_care", "other")
"""Where the data was captured (``context.setting``); BIPA excludes patients' data
captured in a health-care setting (740 ILCS 14/10)."""

VIEWER_ROLES: tuple[str, ...] = ("admin", "ingest", "query", "auditor")
"""API token roles a ``restrict_visibility`` obligation may name."""

DEIDENTIFICATION_METHODS: tuple[str, ...] = ("safe_harbor", "dicom_basic_profile")
"""``require_deidentification`` methods: HIPAA Safe Harbor removal of the 18
identifiers, and the DICOM PS3.15 basic application-level confidentiality profile."""

RETENTION_BASES: tuple[str, ...] = ("collection", "last_interaction")
"""What a retention period counts from. At ingest both are "now"."""

OBLIGATION_TYPES: tuple[str, ...] = (
    "deny",
    "require_consent",
    "require_deidentification",
    "apply_defence",
    "retention",
    "restrict_visibility",
)

ALL_MODALITIES: frozenset[str] = frozenset(m.value for m in Modality)

KIND_MODALITIES: dict[FindingKind, frozenset[str]] = {
    FindingKind.FACE: frozenset({Modality.IMAGE.value}),
    FindingKind.SPEECH: frozenset({Modality.AUDIO.value}),
    FindingKind.DICOM_PHI_TAG: frozenset({Modality.IMAGE.value}),
    FindingKind.BURNED_IN_ANNOTATION: frozenset({Modality.IMAGE.value}),
}
"""Modalities a finding kind can come from; kinds not listed (the text identifiers) can
come from any modality (DICOM tags, burned-in text)."""


def kind_modalities(kind: FindingKind) -> frozenset[str]:
    """The modalities in which a finding of ``kind`` can occur."""
    return KIND_MODALITIES.get(kind, ALL_MODALITIES)
