"""The repeat / averaging attack on the live embedding path (``POST /v1/embeddings``).

The attacker may ask for the embedding of one input many times, or of many slightly
altered versions of it, and average the answers to strip the defence noise. The noise is
keyed on the input (``services.defences.input_rng``): the same input always gets the same
noisy vector, so repeating it buys nothing. What counts as "the same input" is what an
uncased tokeniser sees (``services.defences.canonical_input``: case folded, accents,
zero-width and other format characters dropped, whitespace collapsed). Three kinds of
alteration are measured:

* ``case_variants`` and ``invisible_variants`` (zero-width joiners inside words): MiniLM
  cannot tell them from the original, so each has exactly the original's clean embedding.
  Before the canonical form covered them, every variant drew fresh noise and averaging N
  of them divided the noise by about sqrt(N); now they all draw the original's noise.
* ``punctuation_variants``: the text with a different trailing punctuation or filler
  appended. The model sees these, so each draws fresh noise, but its clean embedding also
  moves a little, so averaging converges to the mean of the variants' clean embeddings,
  not to the original's: the residual limit of keyed noise.

``query(texts)`` is the attacker's access: a function returning one (defended) vector per
text, e.g. a loop over ``/v1/embeddings`` or the screening service's ``defend``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from appliance.risk.attacks import unit

Query = Callable[[Sequence[str]], np.ndarray]
SUFFIXES = (".", "..", "!", " .", ";", ",", " -", " ok", " noted", " (copy)", " thanks", "?")


def case_variants(text: str, count: int, seed: int = 0) -> list[str]:
    """``count`` distinct versions of ``text`` differing only in letter case (the first is
    ``text`` itself); fewer when the text has too few letters."""
    rng = np.random.default_rng(seed)
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    seen, variants = {text}, [text]
    for _ in range(50 * count):
        if len(variants) >= count or not letters:
            break
        flip = set(rng.choice(letters, size=max(1, len(letters) // 4), replace=False).tolist())
        variant = "".join(c.swapcase() if i in flip else c for i, c in enumerate(text))
        if variant not in seen:
            seen.add(variant)
            variants.append(variant)
    return variants


def invisible_variants(text: str, count: int) -> list[str]:
    """``count`` distinct versions of ``text`` with zero-width joiners (U+200D) after
    different letters (the first is ``text`` itself)."""
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    variants = [text]
    for number in range(1, count):
        if not letters:
            break
        spot = letters[(number - 1) % len(letters)]
        joiners = "\u200d" * (1 + (number - 1) // len(letters))
        variants.append(text[: spot + 1] + joiners + text[spot + 1 :])
    return list(dict.fromkeys(variants))


def punctuation_variants(text: str, count: int) -> list[str]:
    """``count`` distinct versions of ``text`` followed by different punctuation or filler
    (the first is ``text`` itself)."""
    stem = text.rstrip(".!?;, ")
    variants = [text]
    number = 0
    while len(variants) < count:
        suffix = SUFFIXES[number % len(SUFFIXES)] * (1 + number // len(SUFFIXES))
        number += 1
        if stem + suffix not in variants:
            variants.append(stem + suffix)
    return variants


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(1.0 - unit(a.reshape(1, -1))[0] @ unit(b.reshape(1, -1))[0])


def averaged(answers: np.ndarray, clean: np.ndarray, counts: Sequence[int]) -> list[float]:
    """Cosine distance to ``clean`` of the mean of the first n answers, for each n."""
    return [_distance(answers[:n].mean(axis=0), clean) for n in counts]


def repeat_attack(
    query: Query, clean: np.ndarray, text: str, repeats: int = 32, seed: int = 0
) -> dict[str, Any]:
    """Ask for ``text`` ``repeats`` times, then for ``repeats`` case, invisible and
    punctuation variants of it; per mode the distinct answers, the distance to the clean
    vector of one answer and of the mean of 2, 4, ... ``repeats`` answers, and the gain
    (one answer's distance / the mean's)."""
    counts = sorted({n for n in (1, 2, 4, 8, 16, 32, 64, 128, 256) if n <= repeats} | {repeats})
    modes = {
        "same_input": [text] * repeats,
        "case_variants": case_variants(text, repeats, seed),
        "invisible_variants": invisible_variants(text, repeats),
        "punctuation_variants": punctuation_variants(text, repeats),
    }
    result: dict[str, Any] = {"repeats": repeats, "modes": {}}
    for mode, texts in modes.items():
        answers = np.asarray(query(texts), dtype=np.float64)
        distances = averaged(answers, clean, [n for n in counts if n <= len(texts)])
        result["modes"][mode] = {
            "queries": len(texts),
            "distinct_answers": len({row.tobytes() for row in answers.astype(np.float32)}),
            "single_distance": distances[0],
            "averaged_distance": distances[-1],
            "gain": distances[0] / max(distances[-1], 1e-12),
            "curve": dict(zip([str(n) for n in counts], distances, strict=False)),
        }
    return result
