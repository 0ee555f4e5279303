"""Canary recovery on annotated notes nobody wrote for the inversion code: every annotated
name span (and MRN / other-id span) of a held-out PHI corpus split is a canary.

The synthetic canaries (``notes.py``) draw their names from the text detector's own
lexicon, so a detector-based defence looks perfect on them. Here the notes and names come
from the hand-annotated held-out splits of ``tests/detectors/phi_corpus`` (JSON lines,
``{"text", "spans": [{"start", "end", "kind"}]}``; docs/phi-detection.md), written before the
detector rules that handle them. Per split:

* the roster is the split's own distinct names (and ids), normalised (titles such as
  ``Dr`` and punctuation dropped, case folded: MiniLM is uncased);
* the roster attacker trains the bag-of-tokens decoder as ``risk inversion`` does, on
  fabricated public notes written about the people on that roster
  (``notes.public_text(candidates=...)``);
* each canary is attacked on the note's vector: **open** (every word piece of it among the
  decoder's note-length top-k) and **closed** (it ranks first among the split's candidates,
  the note's other canaries of the same kind left out; chance is 1 / the candidates left);
* undefended (the note as written) and ``redact_before_encode`` (the note rewritten by the
  real detector and redaction, then re-embedded), with the same decoder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from appliance.risk.inversion import TrainedDecoder, canary_bag, token_bag

NAME_KINDS = frozenset({"person_name"})
ID_KINDS = frozenset({"medical_record_number", "other_id", "health_plan_id", "account_number"})
TITLES = frozenset({"dr", "mr", "mrs", "ms", "miss", "prof", "rn", "md", "np", "pa"})
SPLITS = ("test", "test2", "test3", "test4", "i2b2_sample")


@dataclass(frozen=True)
class CorpusCanary:
    """One annotated identifier of one note."""

    note: int
    kind: str  # "name" | "id"
    value: str  # normalised
    surface: str  # as written (never printed)


def read_split(path: Path) -> list[dict[str, Any]]:
    """The documents of one JSON-lines split."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def normalise_name(surface: str) -> str | None:
    """``DR. OCONNELL`` -> ``Oconnell``; ``Feeney, Margaret A`` -> ``Feeney Margaret``; None
    when nothing name-like is left."""
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'-]*", surface) if len(w) > 1]
    kept = [w for w in words if w.lower().strip(".") not in TITLES]
    return " ".join(w.title() for w in kept) or None


def normalise_id(surface: str) -> str | None:
    """The digits and letters of an id (``#4471-02`` -> ``447102``); None when empty."""
    value = re.sub(r"[^0-9A-Za-z]", "", surface)
    return value if any(c.isdigit() for c in value) else None


def canaries(documents: Sequence[dict[str, Any]]) -> list[CorpusCanary]:
    """Every name and id span of ``documents`` as a canary (one per distinct value per
    note)."""
    out: list[CorpusCanary] = []
    for index, document in enumerate(documents):
        seen: set[tuple[str, str]] = set()
        for span in document["spans"]:
            surface = document["text"][span["start"] : span["end"]]
            if span["kind"] in NAME_KINDS:
                kind, value = "name", normalise_name(surface)
            elif span["kind"] in ID_KINDS:
                kind, value = "id", normalise_id(surface)
            else:
                continue
            if value and (kind, value.lower()) not in seen:
                seen.add((kind, value.lower()))
                out.append(CorpusCanary(index, kind, value, surface))
    return out


def roster(found: Sequence[CorpusCanary]) -> tuple[list[str], list[str]]:
    """The split's distinct names and ids (the attacker's candidate lists)."""
    names = sorted({c.value for c in found if c.kind == "name"})
    ids = sorted({c.value for c in found if c.kind == "id"})
    return names, ids


def evaluate(
    decoder: TrainedDecoder,
    vectors: np.ndarray,
    texts: Sequence[str],
    found: Sequence[CorpusCanary],
) -> dict[str, dict[str, float]]:
    """Open and closed-set recovery per canary kind (``texts``: what was embedded)."""
    scores = decoder.scores(vectors)
    log_p = -np.logaddexp(0.0, -scores)
    out: dict[str, dict[str, float]] = {}
    for kind in ("name", "id"):
        mine = [c for c in found if c.kind == kind]
        if not mine:
            continue
        candidates = sorted({c.value for c in mine})
        bags = [sorted(canary_bag(c)) for c in candidates]
        table = np.stack([log_p[:, bag].mean(axis=1) for bag in bags], axis=1)
        opened = closed = 0
        chance = 0.0
        for canary in mine:
            row = scores[canary.note]
            k = len(token_bag(texts[canary.note]))
            top = set(np.argpartition(-row, k)[:k].tolist())
            opened += canary_bag(canary.value) <= top
            others = {c.value for c in mine if c.note == canary.note and c != canary}
            pool = [i for i, v in enumerate(candidates) if v not in others]
            best = max(pool, key=lambda i: table[canary.note, i])
            closed += candidates[best] == canary.value
            chance += 1.0 / len(pool)
        out[kind] = {
            "canaries": len(mine),
            "candidates": len(candidates),
            "open": opened / len(mine),
            "closed_top1": closed / len(mine),
            "closed_chance": chance / len(mine),
        }
    return out


def left_in_text(texts: Sequence[str], found: Sequence[CorpusCanary]) -> dict[str, float]:
    """Share of canaries whose written form is still in the text (what redaction missed)."""
    out = {}
    for kind in ("name", "id"):
        mine = [c for c in found if c.kind == kind]
        if mine:
            kept = sum(c.surface.lower() in texts[c.note].lower() for c in mine)
            out[kind] = kept / len(mine)
    return out


def attack_split(
    documents: Sequence[dict[str, Any]],
    embed: Callable[[Sequence[str]], np.ndarray],
    rewrite: Callable[[str], str],
    train: Callable[[np.ndarray, list[str]], TrainedDecoder],
    public: int,
    seed: int = 0,
) -> dict[str, Any]:
    """Both rows (undefended, ``redact_before_encode``) of one split."""
    from appliance.risk.notes import public_text, random_mrn

    found = canaries(documents)
    names, ids = roster(found)
    if not ids:  # the public notes need MRNs: random ones when the split has no id
        rng = np.random.default_rng(seed)
        ids_for_text = [random_mrn(rng) for _ in range(20)]
    else:
        ids_for_text = ids
    training = public_text(public, seed=seed + 1, candidates=(names, ids_for_text))
    texts = [d["text"] for d in documents]
    redacted = [rewrite(t) for t in texts]
    vectors = embed(training + texts + redacted)
    train_v, raw_v, red_v = np.split(vectors, [len(training), len(training) + len(texts)])
    decoder = train(train_v, training)
    return {
        "notes": len(texts),
        "names": len(names),
        "ids": len(ids),
        "none": {
            **evaluate(decoder, raw_v, texts, found),
            "left_in_text": left_in_text(texts, found),
        },
        "redact_before_encode": {
            **evaluate(decoder, red_v, redacted, found),
            "left_in_text": left_in_text(redacted, found),
        },
    }


def pooled(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Canary-weighted means over the splits (each canary judged in its own split)."""
    out: dict[str, Any] = {}
    for row in ("none", "redact_before_encode"):
        out[row] = {}
        for kind in ("name", "id"):
            parts = [r[row][kind] for r in results.values() if kind in r[row]]
            total = sum(p["canaries"] for p in parts)
            if not total:
                continue
            out[row][kind] = {"canaries": total}
            for field in ("open", "closed_top1", "closed_chance"):
                out[row][kind][field] = sum(p[field] * p["canaries"] for p in parts) / total
        out[row]["left_in_text"] = {
            kind: sum(
                r[row]["left_in_text"][kind] * r[row][kind]["canaries"]
                for r in results.values()
                if kind in r[row]
            )
            / out[row][kind]["canaries"]
            for kind in ("name", "id")
            if kind in out[row]
        }
    return out


def print_corpus(result: dict[str, Any], echo: Callable[[str], None]) -> None:
    """One line per split and row: name and id recovery (open / closed-set, chance)."""
    echo(
        "canaries on held-out annotated notes (roster = the split's own names; "
        f"{result['public_texts']} public training notes per split)"
    )
    echo(
        f"{'split':<13}{'row':<22}{'notes':>6}{'names':>6}{'open':>7}{'closed':>8}{'chance':>8}"
        f"{'ids':>5}{'open':>7}{'closed':>8}{'chance':>8}{'left':>6}"
    )
    rows = [(n, r) for n, r in result["splits"].items()] + [("pooled", result["pooled"])]
    for split, r in rows:
        for row in ("none", "redact_before_encode"):
            figures = r[row]
            name, ident = figures.get("name", {}), figures.get("id", {})
            left = figures.get("left_in_text", {}).get("name")
            echo(
                f"{split:<13}{row:<22}{r.get('notes', ''):>6}{name.get('canaries', 0):>6}"
                f"{name.get('open', 0):7.3f}{name.get('closed_top1', 0):8.3f}"
                f"{name.get('closed_chance', 0):8.3f}{ident.get('canaries', 0):>5}"
                f"{ident.get('open', 0):7.3f}{ident.get('closed_top1', 0):8.3f}"
                f"{ident.get('closed_chance', 0):8.3f}" + ("" if left is None else f"{left:6.3f}")
            )
