"""DICOM: every PHI attribute in pydicom's bundled files found; de-identified copies clean."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file, get_testdata_files

from appliance.detectors import DetectorRegistry, deidentify_dicom, detect, find_dicom_phi
from appliance.detectors.dicom_phi import replacement_uid
from appliance.domain.findings import FindingKind
from appliance.errors import InvalidInputError
from tests.encoders.hostile_media import nested_dicom, patient_name_element

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # odd values in test files

# Written from PS3.15 Table E.1-1 independently of the detector's table: identifiers that
# must always be reported when present and not empty.
CORE_PHI = {
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientMotherBirthName",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "NameOfPhysiciansReadingStudy",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "StudyTime",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "DeviceSerialNumber",
    "StationName",
    "PatientAge",
    "PatientSex",
    "PatientWeight",
    "ImageComments",
    "StudyDescription",
    "RequestingPhysician",
    "MedicalRecordLocator",
}


def _dicom_files() -> list[tuple[str, bytes, Any]]:
    out = []
    for name in get_testdata_files():
        path = Path(name)
        if not path.is_file():
            continue
        data = path.read_bytes()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out.append((path.name, data, pydicom.dcmread(io.BytesIO(data))))
        except Exception:  # not every bundled file is a DICOM dataset
            continue
    return out


@pytest.fixture(scope="module")
def bundled() -> list[tuple[str, bytes, Any]]:
    """Every file among pydicom's bundled test data that pydicom itself can read."""
    files = _dicom_files()
    assert len(files) >= 150
    return files


def _expected(dataset: Any, prefix: str = "") -> set[str]:
    """Paths of attributes the oracle calls PHI: core identifiers, any person name,
    any private attribute, with a non-empty value, looking into sequences."""
    paths = set()
    for element in dataset:
        name = element.keyword or f"({element.tag.group:04X},{element.tag.element:04X})"
        if element.VR == "SQ" and not element.tag.is_private:
            for index, item in enumerate(element.value or []):
                paths |= _expected(item, f"{prefix}{name}[{index}].")
            continue
        value = element.value
        if isinstance(value, bytes):
            value = value.strip(b"\0 ")  # padding-only bytes carry nothing
        if value in (None, "", b"") or (isinstance(value, list) and not value):
            continue
        if element.keyword in CORE_PHI or element.VR == "PN" or element.tag.is_private:
            paths.add(f"{prefix}{name}")
    return paths


def _tag_paths(findings: list[Any]) -> set[str]:
    return {f.location["path"] for f in findings if f.kind is FindingKind.DICOM_PHI_TAG}


def test_every_phi_attribute_in_bundled_files_is_found(
    bundled: list[tuple[str, bytes, Any]],
) -> None:
    """In all bundled files, every oracle PHI attribute is among the findings."""
    total = 0
    for name, _, dataset in bundled:
        found = find_dicom_phi(dataset)
        expected = _expected(dataset)
        reported = _tag_paths(found)
        covered = {
            p for p in expected if p in reported or any(p.startswith(r + "[") for r in reported)
        }
        assert covered == expected, (name, sorted(expected - covered)[:5])
        total += len(found)
    print(f"\nDICOM: {len(bundled)} files, {total} findings")
    assert total > 1000


def test_deidentified_copies_rescan_clean(bundled: list[tuple[str, bytes, Any]]) -> None:
    """De-identified copies re-scan without PHI attributes, keep the pixels, say so, and
    contain none of the original identifying strings."""
    for name, data, dataset in bundled:
        clean_bytes = deidentify_dicom(data, uid_key=b"k" * 32)
        clean = pydicom.dcmread(io.BytesIO(clean_bytes), force=True)
        assert _tag_paths(find_dicom_phi(clean)) == set(), name
        assert clean.PatientIdentityRemoved == "YES"
        assert clean.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        if "PixelData" in dataset:
            assert clean.PixelData == dataset.PixelData, name
        secrets = {
            str(dataset[p].value)
            for p in ("PatientName", "PatientID", "StudyInstanceUID", "AccessionNumber")
            if p in dataset and len(str(dataset[p].value).strip()) >= 6
        }
        for secret in secrets:
            assert secret.encode() not in clean_bytes, (name, "identifier survived")


def test_uids_are_replaced_consistently_under_a_key() -> None:
    """The same UID maps to the same replacement under one key, another under another key;
    the file meta SOP Instance UID follows the dataset's."""
    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    original = pydicom.dcmread(io.BytesIO(data))
    first = pydicom.dcmread(io.BytesIO(deidentify_dicom(data, uid_key=b"a" * 32)))
    again = pydicom.dcmread(io.BytesIO(deidentify_dicom(data, uid_key=b"a" * 32)))
    other = pydicom.dcmread(io.BytesIO(deidentify_dicom(data, uid_key=b"b" * 32)))
    assert first.StudyInstanceUID == again.StudyInstanceUID != other.StudyInstanceUID
    assert first.StudyInstanceUID == replacement_uid(original.StudyInstanceUID, b"a" * 32)
    assert first.StudyInstanceUID.startswith("2.25.") and len(first.StudyInstanceUID) <= 64
    assert first.file_meta.MediaStorageSOPInstanceUID == first.SOPInstanceUID
    assert first.SOPClassUID == original.SOPClassUID  # DICOM-defined UIDs are kept


def test_findings_name_attributes_never_values() -> None:
    """A finding carries tag, keyword, path, VR, action and reason; never the value."""
    dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    findings = find_dicom_phi(dataset)
    name = next(f for f in findings if f.location.get("keyword") == "PatientName")
    assert name.location == {
        "tag": "(0010,0010)",
        "keyword": "PatientName",
        "path": "PatientName",
        "vr": "PN",
        "action": "Z",
        "reason": "annex-e",
    }
    assert all(str(dataset.PatientName) not in str(f.location) for f in findings)


def test_burned_in_annotation_and_visual_feature_flags() -> None:
    """BurnedInAnnotation YES is reported (NO is not); an unflagged ultrasound is reported as
    unknown; RecognizableVisualFeatures YES is a FACE; PatientAge 092Y is over 89."""
    dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    dataset.BurnedInAnnotation = "YES"
    dataset.RecognizableVisualFeatures = "YES"
    dataset.PatientAge = "092Y"
    kinds = {f.kind: f for f in find_dicom_phi(dataset)}
    assert kinds[FindingKind.BURNED_IN_ANNOTATION].score == 1.0
    assert FindingKind.FACE in kinds and FindingKind.AGE_OVER_89 in kinds
    dataset.BurnedInAnnotation = "NO"
    dataset.PatientAge = "089Y"
    kinds = {f.kind for f in find_dicom_phi(dataset)}
    assert FindingKind.BURNED_IN_ANNOTATION not in kinds and FindingKind.AGE_OVER_89 not in kinds
    del dataset.BurnedInAnnotation
    dataset.Modality = "US"
    unknown = [f for f in find_dicom_phi(dataset) if f.kind is FindingKind.BURNED_IN_ANNOTATION]
    assert [f.location["flag"] for f in unknown] == ["absent"] and unknown[0].score == 0.5


def test_detect_on_dicom_bytes(registry: DetectorRegistry, encoder_settings) -> None:
    """detect() recognises DICOM, reports header PHI and facts, and decodes the pixels."""
    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    report = detect("image", data, settings=encoder_settings, registry=registry)
    facts = report.facts
    assert facts["is_dicom"] and facts["dicom_modality"] == "CT" and facts["pixels_decoded"]
    assert (facts["width"], facts["height"]) == (128, 128)
    assert report.count(FindingKind.DICOM_PHI_TAG) >= 10
    clean = detect("image", deidentify_dicom(data), settings=encoder_settings, registry=registry)
    assert clean.count(FindingKind.DICOM_PHI_TAG) == 0
    assert clean.facts["patient_identity_removed"] == "YES"


def test_corrupt_dicom_is_refused() -> None:
    """Bytes that are not DICOM give InvalidInputError, not a crash."""
    with pytest.raises(InvalidInputError):
        deidentify_dicom(b"\x00" * 10)


def test_every_bundled_file_gets_a_report_or_a_clear_refusal(
    registry: DetectorRegistry, encoder_settings
) -> None:
    """detect() never crashes on pydicom's odd files: malformed values, no pixels,
    unsupported compression all end in a report (with facts) or an InvalidInputError."""
    reports = refused = 0
    for name in get_testdata_files():
        path = Path(name)
        if not path.is_file():
            continue
        try:
            report = detect(
                "image", path.read_bytes(), settings=encoder_settings, registry=registry
            )
        except InvalidInputError:
            refused += 1
            continue
        reports += 1
        assert report.facts["is_dicom"] is True
        if report.facts["has_pixels"] and not report.facts["pixels_decoded"]:
            assert report.facts["pixel_error"]
    print(f"\nbundled files: {reports} reports, {refused} refused")
    assert reports >= 150


def test_sequences_nested_2000_deep_are_refused_not_a_crash(
    registry: DetectorRegistry, encoder_settings
) -> None:
    """Sequences 2,000 deep: detection and de-identification refuse with a 422, not a crash."""
    data = nested_dicom(2000, patient_name_element(b"DEEP^HIDDEN"))
    with pytest.raises(InvalidInputError) as found:
        detect("image", data, settings=encoder_settings, registry=registry)
    assert "nest deeper than" in found.value.message
    with pytest.raises(InvalidInputError) as cleaned:
        deidentify_dicom(data, uid_key=b"k" * 32)
    assert "nest deeper than" in cleaned.value.message


def test_nesting_within_the_limit_is_walked_without_recursion() -> None:
    """A name 40 sequences deep is still found (path included) and removed by de-identification."""
    data = nested_dicom(40, patient_name_element(b"DEEP^HIDDEN"))
    dataset = pydicom.dcmread(io.BytesIO(data), force=True)
    paths = [f.location["path"] for f in find_dicom_phi(dataset)]
    deep = [p for p in paths if p.endswith("PatientName")]
    assert len(deep) == 1 and deep[0].count("ReferencedSeriesSequence[0].") == 40
    clean = deidentify_dicom(data, uid_key=b"k" * 32)
    assert b"DEEP^HIDDEN" not in clean
    again = pydicom.dcmread(io.BytesIO(clean), force=True)
    assert not [f for f in find_dicom_phi(again) if f.location.get("keyword") == "PatientName"]
