"""``detect()``: one entry point for every modality, over detectors loaded once per process.

The registry builds each detector lazily on first use (the text word lists take half a
second, the cascades and the VAD model much less) under a lock, so concurrent requests and
an inventory over many files share one instance of each.
"""

from __future__ import annotations

import threading
from typing import Any

from appliance.detectors.dicom_phi import find_dicom_phi, read_dicom
from appliance.detectors.faces import FaceDetector
from appliance.detectors.report import DetectionReport
from appliance.detectors.speech import SpeechDetector
from appliance.detectors.text import TextDetector, text_facts
from appliance.domain.types import Modality
from appliance.engine.deadline import check_deadline
from appliance.errors import InvalidInputError
from appliance.settings import EncoderSettings


class DetectorRegistry:
    """Lazily built, shared detectors (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._text: TextDetector | None = None
        self._faces: FaceDetector | None = None
        self._speech: SpeechDetector | None = None

    def text(self) -> TextDetector:
        """The text PHI detector, loaded."""
        with self._lock:
            if self._text is None:
                detector = TextDetector()
                detector.load()
                self._text = detector
            return self._text

    def faces(self) -> FaceDetector:
        """The face detector, loaded."""
        with self._lock:
            if self._faces is None:
                detector = FaceDetector()
                detector.load()
                self._faces = detector
            return self._faces

    def speech(self) -> SpeechDetector:
        """The speech detector, loaded."""
        with self._lock:
            if self._speech is None:
                detector = SpeechDetector()
                detector.load()
                self._speech = detector
            return self._speech

    def warm(self, modalities: tuple[Modality, ...] = tuple(Modality)) -> None:
        """Load the detectors for ``modalities`` now (at service start-up)."""
        for modality in modalities:
            {Modality.TEXT: self.text, Modality.IMAGE: self.faces, Modality.AUDIO: self.speech}[
                modality
            ]()


_DEFAULT = DetectorRegistry()


def get_registry() -> DetectorRegistry:
    """The default registry of one-shot callers (CLI ``policy check``, ``inventory``); a
    server builds its own in its composition root and injects it (``Screening``)."""
    return _DEFAULT


def _as_text(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"text input is not valid UTF-8 (byte {exc.start})", remedy="send text as UTF-8"
            ) from exc
    raise InvalidInputError(f"text input must be a string, got {type(data).__name__}")


def _header(dataset: Any, keyword: str, convert: Any, default: Any) -> Any:
    """A header value converted, or ``default`` when absent, empty or malformed."""
    try:
        value = dataset.get(keyword)
        return default if value in (None, "") else convert(value)
    except (ValueError, TypeError, KeyError, AttributeError):
        return default


def _dicom_report(
    data: bytes, settings: EncoderSettings, registry: DetectorRegistry
) -> DetectionReport:
    from appliance.encoders.dicom import decode_dicom

    dataset = read_dicom(data)  # pixel bytes are read, not decoded
    findings = find_dicom_phi(dataset)
    facts: dict[str, Any] = {
        "format": "DICOM",
        "is_dicom": True,
        "dicom_modality": _header(dataset, "Modality", str, ""),
        "sop_class": getattr(_header(dataset, "SOPClassUID", lambda v: v, None), "name", ""),
        "width": _header(dataset, "Columns", int, 0),
        "height": _header(dataset, "Rows", int, 0),
        "frames": _header(dataset, "NumberOfFrames", int, 1),
        "burned_in_annotation": _header(dataset, "BurnedInAnnotation", str, None),
        "patient_identity_removed": _header(dataset, "PatientIdentityRemoved", str, None),
        "has_pixels": "PixelData" in dataset,
    }
    if facts["has_pixels"]:
        try:
            image, _ = decode_dicom(data, max_pixels=settings.max_image_pixels)
        except InvalidInputError as exc:
            facts["pixels_decoded"] = False
            facts["pixel_error"] = exc.message
        except (ValueError, TypeError, KeyError, AttributeError, RuntimeError, EOFError) as exc:
            # a malformed header value the decoder did not catch (e.g. NumberOfFrames "1A")
            facts["pixels_decoded"] = False
            facts["pixel_error"] = f"DICOM pixel data could not be decoded: {exc}"
        else:
            facts["pixels_decoded"] = True
            findings.extend(registry.faces().findings(image, detector="faces:haar:dicom"))
    return DetectionReport(Modality.IMAGE, tuple(findings), facts)


def _image_report(
    data: bytes, settings: EncoderSettings, registry: DetectorRegistry
) -> DetectionReport:
    from appliance.encoders.decode_image import decode_image
    from appliance.encoders.sniff import require_bytes, sniff

    data = require_bytes(data, "image", max_bytes=settings.max_image_bytes)
    found = sniff(data)
    if found == ("image", "DICOM"):
        return _dicom_report(data, settings, registry)
    image = decode_image(data, max_pixels=settings.max_image_pixels)
    facts = {
        "format": found[1] if found else "unknown",
        "is_dicom": False,
        "width": image.width,
        "height": image.height,
    }
    return DetectionReport(Modality.IMAGE, tuple(registry.faces().findings(image)), facts)


def _audio_report(
    data: bytes, settings: EncoderSettings, registry: DetectorRegistry
) -> DetectionReport:
    from appliance.encoders.decode_audio import decode_audio_bounded
    from appliance.encoders.sniff import require_bytes, sniff

    data = require_bytes(data, "audio", max_bytes=settings.max_audio_bytes)
    decoded = decode_audio_bounded(data, settings)
    findings, speech_facts = registry.speech().findings(decoded.samples, decoded.sample_rate)
    found = sniff(data)
    facts: dict[str, Any] = {
        "format": found[1] if found else "unknown",
        "duration_s": round(decoded.seconds, 3),
        "sample_rate": decoded.sample_rate,
        "channels": int(decoded.notes.get("channels", 1)),
        "silent": bool(decoded.notes.get("silent", False)),
        "clipped": bool(decoded.notes.get("clipped", False)),
        **speech_facts,
    }
    return DetectionReport(Modality.AUDIO, tuple(findings), facts)


def detect(
    modality: Modality | str,
    data: bytes | str,
    *,
    settings: EncoderSettings,
    registry: DetectorRegistry | None = None,
) -> DetectionReport:
    """What the detectors see in one input: findings plus facts for the inventory.

    Text may be ``str`` or UTF-8 bytes; images (DICOM included) and audio are bytes.
    Bad input raises ``InvalidInputError`` naming the problem.
    """
    registry = registry or _DEFAULT
    check_deadline("detection")  # a request out of time or whose client left screens no more
    try:
        kind = Modality(modality)
    except ValueError as exc:
        raise InvalidInputError(
            f"unknown modality {modality!r}", remedy="use text, image or audio"
        ) from exc
    if kind is Modality.TEXT:
        text = _as_text(data)
        findings = registry.text().analyze(text) if text.strip() else []
        return DetectionReport(Modality.TEXT, tuple(findings), text_facts(text))
    if isinstance(data, str):
        raise InvalidInputError(
            f"{kind.value} input must be bytes, got text",
            remedy=f"decode the data: URI and send the {kind.value} bytes",
        )
    if kind is Modality.IMAGE:
        return _image_report(bytes(data), settings, registry)
    return _audio_report(bytes(data), settings, registry)
