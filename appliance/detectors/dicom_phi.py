"""PHI in DICOM headers (PS3.15 Annex E), the burned-in annotation flag, and
de-identification to the basic profile (pixel data kept).

Findings name the attribute (tag, keyword, path into sequences, the profile's action and
why), never its value. UIDs are replaced by ``2.25.<HMAC-SHA-256 of the original>``
under a key: the same original UID maps to the same new one for as long as the key is
the same (one appliance key, or a random key per process when none is given), so
studies and series stay linked across files without the original UIDs being derivable.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import appliance.detectors.dicom_profile as profile
from appliance.domain.findings import Finding, FindingKind
from appliance.domain.types import Modality
from appliance.errors import InvalidInputError

DETECTOR = "dicom:annex-e"
_PROCESS_UID_KEY = secrets.token_bytes(32)
_RISKY_MODALITIES = frozenset({"US", "SC", "XC", "ES", "OT", "DOC", "GM", "SM", "IVUS"})
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
MAX_SEQUENCE_DEPTH = 64
"""Sequence nesting beyond this is refused (real IODs nest a handful of levels)."""


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bytes):
        return not value.strip(b"\0 ")
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return all(_empty(v) for v in value)
    if isinstance(value, str) or type(value).__name__ == "PersonName":
        return not str(value).strip("\0 ")
    return False


def _value(element: Any) -> Any:
    try:
        return element.value
    except Exception:  # an unreadable value is treated as present
        return "<unreadable>"


def _standard_uids(value: Any) -> bool:
    values = (
        value
        if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue"
        else [value]
    )
    return all(str(v).startswith(profile.DICOM_DEFINED_UID_ROOT) for v in values if v)


def _action(element: Any) -> tuple[str, str] | None:
    """The profile action for ``element`` and the reason, or None when it is kept."""
    tag = element.tag
    if tag.is_private:
        return profile.REMOVE, "private"
    if profile.is_overlay_or_curve(tag.group, tag.element):
        return profile.REMOVE, "overlay-or-curve"
    keyword = element.keyword
    if keyword in profile.ACTIONS:
        action = profile.ACTIONS[keyword]
        if action == profile.UID and _standard_uids(_value(element)):
            return None
        return action, "annex-e"
    if element.VR in profile.NAME_VRS:
        return profile.REMOVE, "person-name"
    if element.VR in profile.TEMPORAL_VRS:
        return profile.REMOVE, "date-time"
    if element.VR == "UI" and not _standard_uids(_value(element)):
        return profile.UID, "uid"
    return None


Visitor = Callable[[Any, Any, str, str, str], None]


def _elements(dataset: Any) -> list[Any]:
    """The dataset's elements; one whose value cannot be parsed is kept as raw bytes (UN),
    so a malformed attribute is still judged by its tag rather than crashing the scan."""
    from pydicom.dataelem import DataElement

    out = []
    for tag in list(dataset.keys()):
        try:
            out.append(dataset[tag])
        except Exception:  # a malformed value: judge it by its tag
            raw = dataset.get_item(tag)
            out.append(DataElement(tag, "UN", getattr(raw, "value", b"") or b""))
    return out


def _walk(dataset: Any, prefix: str, visit: Visitor) -> None:
    """Call ``visit(dataset, element, action, reason, path)`` for each attribute the profile
    changes; sequences that are not removed are descended into, depth first in file order.

    Iterative (an explicit stack, not recursion), so a crafted file with sequences nested
    thousands deep cannot exhaust the interpreter's stack; past ``MAX_SEQUENCE_DEPTH``
    levels the file is refused with a 422.
    """
    stack: list[tuple[Iterator[Any], Any, str, int]] = [
        (iter(_elements(dataset)), dataset, prefix, 0)
    ]
    while stack:
        elements, owner, base, depth = stack[-1]
        element = next(elements, None)
        if element is None:
            stack.pop()
            continue
        name = element.keyword or f"({element.tag.group:04X},{element.tag.element:04X})"
        path = f"{base}{name}"
        decided = _action(element)
        if element.VR == "SQ" and (decided is None or decided[0] == profile.DUMMY):
            items = list(_value(element) or [])
            if items and depth >= MAX_SEQUENCE_DEPTH:
                raise too_deep()
            for index in range(len(items) - 1, -1, -1):  # first item on top: file order
                item = items[index]
                stack.append((iter(_elements(item)), item, f"{path}[{index}].", depth + 1))
            continue
        if decided is not None:
            visit(owner, element, decided[0], decided[1], path)


def _ours(dataset: Any) -> bool:
    return str(
        dataset.get("PatientIdentityRemoved", "")
    ).upper() == "YES" and profile.METHOD in str(dataset.get("DeidentificationMethod", ""))


def _finding(element: Any, action: str, reason: str, path: str) -> Finding:
    tag = f"({element.tag.group:04X},{element.tag.element:04X})"
    return Finding(
        kind=FindingKind.DICOM_PHI_TAG,
        detector=DETECTOR,
        modality=Modality.IMAGE,
        location={
            "tag": tag,
            "keyword": element.keyword or "",
            "path": path,
            "vr": element.VR,
            "action": action,
            "reason": reason,
        },
    )


def find_dicom_phi(dataset: Any) -> list[Finding]:
    """Findings for every attribute carrying PHI under Annex E, the burned-in annotation
    flag, recognisable visual features and an age over 89. Empty attributes, the dummy
    values our de-identification writes and (in a dataset we de-identified) the UIDs we
    replaced are not reported, so a cleaned copy re-scans clean."""
    findings: list[Finding] = []
    replaced_uids = _ours(dataset)

    def visit(_: Any, element: Any, action: str, reason: str, path: str) -> None:
        value = _value(element)
        if element.VR == "SQ":
            if value:
                findings.append(_finding(element, action, reason, path))
            return
        if _empty(value) or (action == profile.UID and replaced_uids):
            return
        if action == profile.DUMMY and str(value) == profile.DUMMY_VALUES.get(element.VR):
            return
        findings.append(_finding(element, action, reason, path))

    _walk(dataset, "", visit)
    meta = getattr(dataset, "file_meta", None)
    if meta is not None and "SourceApplicationEntityTitle" in meta:
        findings.append(
            _finding(
                meta["SourceApplicationEntityTitle"],
                profile.REMOVE,
                "annex-e",
                "file_meta.SourceApplicationEntityTitle",
            )
        )
    findings.extend(_flags(dataset))
    return findings


def _flags(dataset: Any) -> list[Finding]:
    """Burned-in annotation (declared, or undeclared on a high-risk modality), recognisable
    visual features (a face may be in the pixels), and a patient age over 89."""
    out: list[Finding] = []
    burned = str(dataset.get("BurnedInAnnotation", "")).strip().upper()
    modality = str(dataset.get("Modality", "")).strip().upper()
    sop_class = str(dataset.get("SOPClassUID", ""))
    if burned == "YES":
        out.append(
            Finding(
                FindingKind.BURNED_IN_ANNOTATION,
                DETECTOR,
                Modality.IMAGE,
                1.0,
                {"tag": "(0028,0301)", "keyword": "BurnedInAnnotation", "flag": "YES"},
            )
        )
    elif (
        not burned
        and "PixelData" in dataset
        and (modality in _RISKY_MODALITIES or sop_class.startswith(_SECONDARY_CAPTURE))
    ):
        out.append(
            Finding(
                FindingKind.BURNED_IN_ANNOTATION,
                DETECTOR,
                Modality.IMAGE,
                0.5,
                {
                    "tag": "(0028,0301)",
                    "keyword": "BurnedInAnnotation",
                    "flag": "absent",
                    "modality": modality,
                },
            )
        )
    if str(dataset.get("RecognizableVisualFeatures", "")).strip().upper() == "YES":
        out.append(
            Finding(
                FindingKind.FACE,
                DETECTOR,
                Modality.IMAGE,
                0.9,
                {"tag": "(0028,0302)", "keyword": "RecognizableVisualFeatures"},
            )
        )
    age = str(dataset.get("PatientAge", "")).strip().upper()
    if len(age) == 4 and age[:3].isdigit() and age[3] == "Y" and int(age[:3]) > 89:
        out.append(
            Finding(
                FindingKind.AGE_OVER_89,
                DETECTOR,
                Modality.IMAGE,
                1.0,
                {"tag": "(0010,1010)", "keyword": "PatientAge"},
            )
        )
    return out


def replacement_uid(uid: str, key: bytes) -> str:
    """``2.25.<decimal of the first 128 bits of HMAC-SHA-256(key, uid)>`` (at most 44 chars)."""
    digest = hmac.new(key, uid.strip("\0 ").encode("ascii", "replace"), hashlib.sha256).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def _clean(dataset: Any, key: bytes) -> None:
    from pydicom.sequence import Sequence

    changes: list[tuple[Any, Any, str]] = []
    _walk(dataset, "", lambda ds, el, action, _r, _p: changes.append((ds, el, action)))
    for owner, element, action in changes:
        if action == profile.REMOVE:
            del owner[element.tag]
        elif action == profile.EMPTY:
            element.value = Sequence([]) if element.VR == "SQ" else None
        elif action == profile.DUMMY:
            element.value = profile.DUMMY_VALUES.get(element.VR, None)
        elif action == profile.UID:
            value = _value(element)
            many = isinstance(value, list | tuple) or type(value).__name__ == "MultiValue"
            mapped = [
                replacement_uid(str(v), key) if v and not _standard_uids(v) else v
                for v in (value if many else [value])
            ]
            element.value = mapped if many else mapped[0]


def deidentify_dataset(dataset: Any, *, uid_key: bytes | None = None) -> Any:
    """Apply the basic profile to ``dataset`` in place (pixel data kept) and return it."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    key = uid_key or _PROCESS_UID_KEY
    _clean(dataset, key)
    meta = getattr(dataset, "file_meta", None)
    if meta is not None:
        if "SourceApplicationEntityTitle" in meta:
            del meta.SourceApplicationEntityTitle
        if "MediaStorageSOPInstanceUID" in meta and "SOPInstanceUID" in dataset:
            meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = profile.METHOD_CODE
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = profile.METHOD
    dataset.DeidentificationMethodCodeSequence = Sequence([code])
    dataset.LongitudinalTemporalInformationModified = "REMOVED"
    return dataset


def read_dicom(data: bytes, *, stop_before_pixels: bool = False) -> Any:
    """Parse DICOM bytes (with or without the Part 10 preamble) or raise InvalidInputError."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=stop_before_pixels)
    except (
        InvalidDicomError,
        EOFError,
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        NotImplementedError,
    ) as exc:
        raise InvalidInputError(f"DICOM file is corrupt or truncated: {exc}") from exc
    except RecursionError:  # pydicom reads undefined-length sequences recursively
        raise too_deep() from None


def too_deep() -> InvalidInputError:
    """The refusal for sequences nested past ``MAX_SEQUENCE_DEPTH``."""
    return InvalidInputError(
        f"DICOM sequences nest deeper than {MAX_SEQUENCE_DEPTH} levels",
        remedy="real studies nest a few levels; this file looks crafted",
    )


def deidentify_dicom(data: bytes, *, uid_key: bytes | None = None) -> bytes:
    """A de-identified copy of DICOM ``data`` (Annex E basic profile; pixels unchanged)."""
    import pydicom

    dataset = read_dicom(data)
    if len(dataset) == 0:
        raise InvalidInputError("bytes are not a DICOM dataset (no attributes could be read)")
    deidentify_dataset(dataset, uid_key=uid_key)
    out = io.BytesIO()
    try:
        pydicom.dcmwrite(out, dataset, enforce_file_format=False)
    except (ValueError, TypeError, OSError, AttributeError) as exc:
        raise InvalidInputError(f"de-identified DICOM could not be written: {exc}") from exc
    return out.getvalue()
