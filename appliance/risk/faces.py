"""Face re-identification on the ORL face database, and a real face-recognition reference.

ORL (Olivetti Research Laboratory): ``s1..s40/1..10.pgm``, 40 people x 10 greyscale 92 x 112
images. Two uses:

* ``write_orl_manifest`` writes the probe set (identity ``s7``) for ``appliance risk audit``,
  which embeds it with the image encoder the appliance serves (the trained tower);
  ``write_digit_utility`` writes the held-out handwritten digits with their captions, the
  alignment audit's text->image pairs that price each defence for the image slot.
* ``dlib_descriptors``: dlib's 128-d ResNet face descriptor (``dlib-bin`` wheel, Boost
  licence; weights from the ``face-recognition-models`` wheel, public domain / CC0), a
  real biometric model, as the reference that shows the attacks find identity where
  identity is present. Benchmark and audit tooling only: the appliance never serves it,
  and it is imported only here, with an error naming the remedy when absent.
"""

from __future__ import annotations

import base64
import importlib.util
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from appliance.errors import ConfigError

DLIB_REMEDY = "pip install dlib-bin face-recognition-models (wheels; no compiler needed)"
DESCRIPTOR_DIM = 128


def orl_files(root: Path, people: int | None = None, images: int | None = None) -> list[Path]:
    """``s{person}/{n}.pgm`` in person then image order (the first ``people`` x ``images``)."""
    folders = sorted(
        (p for p in Path(root).glob("s*") if p.is_dir() and p.name[1:].isdigit()),
        key=lambda p: int(p.name[1:]),
    )[:people]
    files: list[Path] = []
    for folder in folders:
        pictures = sorted(folder.glob("*.pgm"), key=lambda p: int(p.stem))[:images]
        files.extend(pictures)
    if len(folders) < 2 or not files:
        raise ConfigError(
            f"{root}: no ORL faces found (expected s1..s40/1..10.pgm)",
            remedy="point --orl at the orl_faces folder",
        )
    return files


def write_orl_manifest(
    root: Path, out: Path, people: int | None = None, images: int | None = None
) -> Path:
    """The probe set for ``appliance risk audit``: one line per image, identity the person."""
    lines = [
        json.dumps({"identity": path.parent.name, "file": str(path.resolve())})
        for path in orl_files(root, people, images)
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def write_digit_utility(out: Path, held_out: float = 0.1, seed: int = 0) -> Path:
    """The starter image tower's held-out digits (its own split) as caption pairs: the
    text->image alignment audit that prices each defence for the image slot."""
    from appliance.align.pipeline import split_held_out
    from appliance.encoders.starter import digit_pairs

    pairs = digit_pairs()
    _, held = split_held_out(len(pairs), held_out, seed)
    lines = []
    for i in held:
        uri = "data:image/png;base64," + base64.b64encode(pairs[i].payload).decode("ascii")
        lines.append(json.dumps({"text": pairs[i].text, "data": uri, "label": pairs[i].label}))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def _dlib_models() -> tuple[Any, Any, Any]:
    """(detector, 68-point shape predictor, ResNet descriptor), or ``ConfigError``."""
    try:
        import dlib
    except ImportError as exc:
        raise ConfigError(
            "the dlib face reference model is not installed", remedy=DLIB_REMEDY
        ) from exc
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the face-recognition-models weights are not installed", remedy=DLIB_REMEDY
        )
    # located without importing the package (its __init__ imports pkg_resources)
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat")),
        dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat")),
    )


def dlib_descriptors(
    images: Sequence[bytes], progress: Callable[[int], None] | None = None
) -> tuple[np.ndarray, int]:
    """The 128-d descriptor of each image's face and how many faces the HOG detector found
    (images where it finds none are taken whole: ORL images are face crops)."""
    import io

    from PIL import Image

    detector, predictor, recogniser = _dlib_models()  # ConfigError with the remedy first
    import dlib

    rows, detected = [], 0
    for raw in images:
        with Image.open(io.BytesIO(raw)) as image:
            rgb = np.ascontiguousarray(np.asarray(image.convert("RGB")))
        faces = detector(rgb, 1)
        detected += bool(len(faces))
        box = faces[0] if len(faces) else dlib.rectangle(0, 0, rgb.shape[1] - 1, rgb.shape[0] - 1)
        rows.append(np.asarray(recogniser.compute_face_descriptor(rgb, predictor(rgb, box))))
        if progress is not None:
            progress(1)
    return np.vstack(rows).astype(np.float64), detected
