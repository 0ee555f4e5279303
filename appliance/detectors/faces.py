"""Faces in pictures with OpenCV's bundled Haar cascades (no model download, no network).

Tuned for recall on tightly cropped portraits (the ORL set: 92x112 greyscale) without
flagging textures: the picture is scaled so its short side is at least 240 px (at most
512 px on the long side), padded by a quarter on every side with replicated edges (a
cascade needs some margin around a face that fills the frame), and histogram-equalised.
A frontal face is reported when the ``alt2`` cascade finds it with many neighbours, or
finds it and the ``default`` cascade agrees on the box; a profile face (either direction)
is looked for only when no frontal face was found. The smallest face looked for is a
tenth of the padded working picture's short side, so small faces in a crowd shot of a
large photograph can be missed: the check targets full-face photographs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from appliance.domain.findings import Finding, FindingKind
from appliance.domain.types import Modality

MIN_SHORT_SIDE = 240
MAX_LONG_SIDE = 512
PAD_FRACTION = 0.25
SCALE_FACTOR = 1.1
STRONG_NEIGHBOURS = 10
CONFIRM_NEIGHBOURS = 3
PROFILE_NEIGHBOURS = 6
AGREEMENT_IOU = 0.3
PROFILE_LONG_SIDE = 480


@dataclass(frozen=True)
class FaceBox:
    """A face in original-image pixels, with the view and how sure we are."""

    x: int
    y: int
    w: int
    h: int
    view: str
    score: float


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union else 0.0


class FaceDetector:
    """Haar-cascade face detector. Build once and share: ``detect`` is thread-safe."""

    name = "faces"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cascades: dict[str, Any] = {}

    def load(self) -> None:
        """Load the cascade files shipped inside the opencv-python-headless wheel."""
        with self._lock:
            if self._cascades:
                return
            import cv2

            for name in ("frontalface_alt2", "frontalface_default", "profileface"):
                cascade = cv2.CascadeClassifier(f"{cv2.data.haarcascades}haarcascade_{name}.xml")
                if cascade.empty():
                    raise RuntimeError(f"OpenCV cascade {name} could not be loaded")
                self._cascades[name] = cascade

    def _prepare(self, image: Image.Image) -> tuple[np.ndarray, float, int, int]:
        import cv2

        grey = np.asarray(image.convert("L"))
        height, width = grey.shape
        scale = max(1.0, MIN_SHORT_SIDE / min(height, width))
        limit = MAX_LONG_SIDE if scale == 1.0 else 2 * MAX_LONG_SIDE  # upscaled: allow more
        scale = min(scale, limit / max(height, width))
        if scale != 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            method = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
            grey = cv2.resize(grey, size, interpolation=method)
        pad_y, pad_x = int(grey.shape[0] * PAD_FRACTION), int(grey.shape[1] * PAD_FRACTION)
        grey = cv2.copyMakeBorder(grey, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REPLICATE)
        return cv2.equalizeHist(grey), scale, pad_x, pad_y

    def _run(
        self, name: str, grey: np.ndarray, neighbours: int
    ) -> list[tuple[tuple[int, ...], int]]:
        side = max(24, min(grey.shape) // 10)
        with self._lock:  # CascadeClassifier is not safe to share between threads
            boxes, counts = self._cascades[name].detectMultiScale2(
                grey, scaleFactor=SCALE_FACTOR, minNeighbors=neighbours, minSize=(side, side)
            )
        return [(tuple(int(v) for v in box), int(n)) for box, n in zip(boxes, counts, strict=True)]

    def _profiles(self, grey: np.ndarray) -> list[tuple[tuple[int, ...], str, float]]:
        """Profile faces, both directions, on a copy at most PROFILE_LONG_SIDE px long."""
        import cv2

        shrink = min(1.0, PROFILE_LONG_SIDE / max(grey.shape))
        small = (
            grey
            if shrink == 1.0
            else cv2.resize(grey, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
        )
        width = small.shape[1]
        boxes = [box for box, _ in self._run("profileface", small, PROFILE_NEIGHBOURS)]
        boxes += [
            (width - x - w, y, w, h)
            for (x, y, w, h), _ in self._run("profileface", cv2.flip(small, 1), PROFILE_NEIGHBOURS)
        ]
        return [(tuple(round(v / shrink) for v in box), "profile", 0.7) for box in boxes]

    def detect(self, image: Image.Image) -> list[FaceBox]:
        """Every face found in ``image``, in its own pixel coordinates."""

        self.load()
        grey, scale, pad_x, pad_y = self._prepare(image)
        found: list[tuple[tuple[int, ...], str, float]] = []
        candidates = self._run("frontalface_alt2", grey, 2)
        confirmers: list[tuple[int, ...]] = []
        if any(count < STRONG_NEIGHBOURS for _, count in candidates):  # only then is it needed
            confirmers = [
                box for box, _ in self._run("frontalface_default", grey, CONFIRM_NEIGHBOURS)
            ]
        for box, count in candidates:
            agreed = any(_iou(box, other) > AGREEMENT_IOU for other in confirmers)  # type: ignore[arg-type]
            if count >= STRONG_NEIGHBOURS or agreed:
                found.append((box, "frontal", 0.9 if agreed else 0.8))
        if not found:
            found = self._profiles(grey)
        faces = []
        for (x, y, w, h), view, score in found:
            left, top = max(0.0, (x - pad_x) / scale), max(0.0, (y - pad_y) / scale)
            right = min(float(image.width), (x + w - pad_x) / scale)
            bottom = min(float(image.height), (y + h - pad_y) / scale)
            if right > left and bottom > top:
                faces.append(
                    FaceBox(
                        round(left),
                        round(top),
                        round(right - left),
                        round(bottom - top),
                        view,
                        score,
                    )
                )
        return faces

    def findings(self, image: Image.Image, *, detector: str = "faces:haar") -> list[Finding]:
        """FACE findings (box and view, never pixels) for ``image``."""
        return [
            Finding(
                kind=FindingKind.FACE,
                detector=detector,
                modality=Modality.IMAGE,
                score=face.score,
                location={"x": face.x, "y": face.y, "w": face.w, "h": face.h, "view": face.view},
            )
            for face in self.detect(image)
        ]
