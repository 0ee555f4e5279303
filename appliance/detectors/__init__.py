"""Detectors: what an input contains that privacy policy cares about.

They report, they never decide: PHI and PII kinds in text (linear-time patterns plus lexicon
and context rules), faces in images, PHI attributes and the burned-in annotation flag in DICOM
headers, speech in audio. ``appliance.policy`` maps findings to legal categories.

Public API::

    detect(modality, data, *, settings) -> DetectionReport
    deidentify_dicom(data) -> bytes
    find_dicom_phi(dataset) -> list[Finding]
    get_registry() -> DetectorRegistry   (TextDetector, FaceDetector, SpeechDetector)
"""

from appliance.detectors.dicom_phi import deidentify_dataset, deidentify_dicom, find_dicom_phi
from appliance.detectors.faces import FaceBox, FaceDetector
from appliance.detectors.registry import DetectorRegistry, detect, get_registry
from appliance.detectors.report import DetectionReport
from appliance.detectors.speech import SpeechDetector, SpeechSegment
from appliance.detectors.text import TextDetector, text_facts

__all__ = [
    "DetectionReport",
    "DetectorRegistry",
    "FaceBox",
    "FaceDetector",
    "SpeechDetector",
    "SpeechSegment",
    "TextDetector",
    "deidentify_dataset",
    "deidentify_dicom",
    "detect",
    "find_dicom_phi",
    "get_registry",
    "text_facts",
]
