"""Defences applied to vectors before they are stored or handed out.

A policy's ``apply_defence`` obligation names one; an unknown name fails closed (the
input is refused), so a typo in a site policy never silently ships raw vectors. Vector
defences (``DEFENCES``) act on the embedding; input defences (``INPUT_DEFENCES``:
``redact_before_encode``) rewrite the input before the encoder sees it
(``admission.admit``), so what they remove is never in the vector at all.

Randomness is fixed per input: ``input_rng`` seeds the generator with a keyed hash of
the space version, the modality and the input itself (text with its whitespace
normalised, as the tokenisers see it; image and audio bytes as sent). Sending one input
256 times therefore returns one noisy vector 256 times, and averaging the copies removes
nothing. The key is derived from the appliance's KEK-protected keys, so nobody outside
can predict the noise and subtract it. The limit: an input altered in any other way (a
word, a pixel, a re-encoded file) draws independent noise, so an attacker who can make
many variants of one input with the same clean embedding can still average over them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from appliance.errors import ApplianceError

Defence = Callable[[np.ndarray, Mapping[str, Any], np.random.Generator], np.ndarray]


class UnknownDefenceError(ApplianceError):
    """A policy asked for a defence this appliance does not have."""

    code = "policy_denied"


def gaussian_noise(
    vectors: np.ndarray, params: Mapping[str, Any], rng: np.random.Generator
) -> np.ndarray:
    """Add isotropic Gaussian noise (``sigma`` per dimension) and re-normalise."""
    sigma = float(params.get("sigma", 0.02))
    if not 0 < sigma < 10:
        raise UnknownDefenceError(f"gaussian_noise: sigma {sigma} is out of range (0, 10)")
    noisy = vectors + rng.normal(0.0, sigma, size=vectors.shape).astype(np.float32)
    return _normalised(noisy)


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


DEFENCES: dict[str, Defence] = {"gaussian_noise": gaussian_noise}
"""Vector defences: applied to the embedding after the encoder."""

REDACT_BEFORE_ENCODE = "redact_before_encode"
INPUT_DEFENCES = frozenset({REDACT_BEFORE_ENCODE})
"""Input defences: applied by ``admission.admit`` to the payload before it reaches the
encoder (``redact_before_encode``: located identifiers replaced by ``[KIND]``)."""


_INVISIBLE = frozenset({"Cc", "Cf", "Mn"})
"""Control, format (zero-width) and combining-mark (accent) characters."""


def canonical_input(payload: bytes | str) -> bytes:
    """The bytes the noise of an input is keyed on: for text, what an uncased tokeniser
    sees (control and format characters such as zero-width joiners dropped, accents
    stripped, case folded, whitespace runs collapsed), so variants the text model cannot
    tell apart draw the same noise and cannot be averaged; for image and audio the raw
    bytes."""
    if isinstance(payload, str):
        decomposed = unicodedata.normalize("NFD", payload)
        kept = "".join(
            c for c in decomposed if c.isspace() or unicodedata.category(c) not in _INVISIBLE
        )
        folded = unicodedata.normalize("NFC", kept.casefold())
        text = re.sub(r"\s+", " ", folded).strip()
        return b"text:" + text.encode("utf-8")
    return b"bytes:" + bytes(payload)


def input_rng(key: bytes, space: str, modality: str, payload: bytes | str) -> np.random.Generator:
    """The generator of one input's defence noise: the same input, space and key always
    give the same draws."""
    digest = hmac.new(key, b"defence-noise|", hashlib.sha256)
    digest.update(space.encode() + b"|" + modality.encode() + b"|")
    digest.update(canonical_input(payload))
    return np.random.default_rng(int.from_bytes(digest.digest(), "big"))


def apply_defences(
    vectors: np.ndarray,
    defences: list[tuple[str, Mapping[str, Any]]],
    rng: np.random.Generator,
) -> np.ndarray:
    """Apply each named defence in order with ``rng`` (use ``input_rng``: fresh randomness
    per call can be averaged away); ``UnknownDefenceError`` for a name we lack."""
    generator = rng
    out = np.asarray(vectors, dtype=np.float32)
    for name, params in defences:
        defence = DEFENCES.get(name)
        if defence is None:
            raise UnknownDefenceError(
                f"policy requires defence {name!r}, which this appliance does not provide",
                remedy=f"use one of {', '.join(sorted({*DEFENCES, *INPUT_DEFENCES}))} in the "
                "policy files",
            )
        out = defence(out, params, generator)
    return out
