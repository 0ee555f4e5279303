"""Face detection: recall on the ORL faces, false positives on generated non-face pictures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from appliance.detectors import DetectorRegistry, FaceDetector, detect
from appliance.domain.findings import FindingKind
from appliance.domain.types import Modality
from appliance.errors import InvalidInputError
from tests.conftest import shared_data_dir
from tests.detectors.detector_media import NON_FACE_KINDS, non_face_image, png_bytes

ORL_STEP = 8  # every 8th picture: 50 in all, every person (the full 400 are in the report)
RECALL_GOAL, FP_GOAL = 0.95, 0.10
SMOOTH_TEXTURES = {"blobs"}  # low-pass noise: face-like to Haar cascades (~12%)


@pytest.fixture(scope="module")
def faces(registry: DetectorRegistry) -> FaceDetector:
    """The loaded face detector."""
    return registry.faces()


@pytest.fixture(scope="module")
def orl_sample() -> list[Image.Image]:
    """Two ORL pictures per person (92x112 greyscale PGM)."""
    root = shared_data_dir("orl_faces")
    files = sorted(root.glob("s*/*.pgm"), key=lambda p: (int(p.parent.name[1:]), int(p.stem)))
    assert len(files) == 400
    return [Image.open(f).convert("RGB") for f in files[::ORL_STEP]]


def test_face_recall_on_orl(faces: FaceDetector, orl_sample: list[Image.Image]) -> None:
    """At least 95% of ORL portraits contain a detected face, inside the picture."""
    results = [faces.detect(image) for image in orl_sample]
    recall = sum(bool(r) for r in results) / len(results)
    print(f"\nORL face recall: {recall:.3f} on {len(results)} pictures")
    assert recall >= RECALL_GOAL
    for image, boxes in zip(orl_sample, results, strict=True):
        for box in boxes:
            assert 0 <= box.x < image.width and 0 <= box.y < image.height
            assert box.w > image.width // 4 and box.x + box.w <= image.width


def test_no_faces_in_non_face_pictures(faces: FaceDetector) -> None:
    """Noise, gradients, shapes, text and checkerboards are never taken for faces; smooth
    random blobs sometimes are, and the overall rate stays within the goal."""
    rng = np.random.default_rng(20240611)
    flagged: dict[str, int] = dict.fromkeys(NON_FACE_KINDS, 0)
    per_kind = 6
    for kind in NON_FACE_KINDS:
        for _ in range(per_kind):
            flagged[kind] += bool(faces.detect(non_face_image(kind, rng)))
    rate = sum(flagged.values()) / (per_kind * len(NON_FACE_KINDS))
    print(f"\nnon-face false positives: {rate:.3f} ({flagged})")
    assert rate <= FP_GOAL
    assert all(flagged[kind] == 0 for kind in NON_FACE_KINDS if kind not in SMOOTH_TEXTURES)


def test_detect_image_reports_face_box_and_facts(
    registry: DetectorRegistry, encoder_settings, orl_sample: list[Image.Image]
) -> None:
    """detect() on PNG bytes gives FACE findings with a box (no pixels) and image facts."""
    report = detect("image", png_bytes(orl_sample[0]), settings=encoder_settings, registry=registry)
    assert report.modality is Modality.IMAGE
    assert report.facts == {"format": "PNG", "is_dicom": False, "width": 92, "height": 112}
    assert report.kinds == {FindingKind.FACE}
    face = report.findings[0]
    assert set(face.location) == {"x", "y", "w", "h", "view"}
    assert face.location["view"] in {"frontal", "profile"} and face.detector == "faces:haar"


def test_blank_picture_has_no_face_and_bad_bytes_are_refused(
    registry: DetectorRegistry, encoder_settings
) -> None:
    """A blank picture yields no finding; non-image bytes give a clear InvalidInputError."""
    blank = Image.new("RGB", (300, 200), "white")
    assert (
        detect("image", png_bytes(blank), settings=encoder_settings, registry=registry).findings
        == ()
    )
    with pytest.raises(InvalidInputError):
        detect("image", b"not an image at all", settings=encoder_settings, registry=registry)
    with pytest.raises(InvalidInputError, match="bytes"):
        detect("image", "data:image/png;base64,AAAA", settings=encoder_settings, registry=registry)
