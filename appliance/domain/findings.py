"""What detectors report: neutral finding kinds that policy files map to legal categories.

Detectors never decide; they say what they saw (a name, a date, a face, speech, a DICOM
tag that carries PHI). Policies in ``policies/`` map these kinds, with the request
context, to regime categories (HIPAA identifiers, BIPA biometrics, CCPA sensitive data)
and then to obligations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from appliance.domain.types import Modality


class FindingKind(StrEnum):
    """Every kind of thing a detector can report (closed set: policies are validated
    against it)."""

    # Text: the 18 HIPAA Safe Harbor identifier kinds and friends
    PERSON_NAME = "person_name"
    ADDRESS = "address"
    ZIP_CODE = "zip_code"
    DATE = "date"
    AGE_OVER_89 = "age_over_89"
    PHONE_NUMBER = "phone_number"
    FAX_NUMBER = "fax_number"
    EMAIL_ADDRESS = "email_address"
    SSN = "ssn"
    MEDICAL_RECORD_NUMBER = "medical_record_number"
    HEALTH_PLAN_ID = "health_plan_id"
    ACCOUNT_NUMBER = "account_number"
    LICENSE_NUMBER = "license_number"
    VEHICLE_ID = "vehicle_id"
    DEVICE_ID = "device_id"
    URL = "url"
    IP_ADDRESS = "ip_address"
    OTHER_ID = "other_id"
    # Images
    FACE = "face"
    # Audio
    SPEECH = "speech"
    # DICOM
    DICOM_PHI_TAG = "dicom_phi_tag"
    BURNED_IN_ANNOTATION = "burned_in_annotation"


@dataclass(frozen=True)
class Finding:
    """One detection. ``location`` says where (character span, box, time range, tag);
    it never carries the detected content itself."""

    kind: FindingKind
    detector: str
    modality: Modality
    score: float = 1.0
    location: dict[str, Any] = field(default_factory=dict)
