"""Synthetic clinical notes with canaries, and the attacker's public (non-PHI) training text.

Every name and number here is fabricated: first and last names are drawn from the text
detector's public name lists (``appliance/detectors/data``), MRNs are random digits. The
name lists are split in two disjoint halves by a keyed hash of the name: the attacker's
training text uses names from one half only, the canaries from the other, so a canary is
never in the decoder's training text (the decoder has to generalise to names it has not
seen, as an inversion model trained on public text would).
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

CONDITIONS = (
    "chest pain", "shortness of breath", "atrial fibrillation", "type 2 diabetes",
    "community acquired pneumonia", "hip fracture", "migraine", "asthma exacerbation",
    "urinary tract infection", "cellulitis of the left leg", "chronic kidney disease",
    "heart failure", "acute pancreatitis", "major depression", "hypertension",
    "anaemia", "sepsis", "copd exacerbation", "stroke", "seizure", "back pain",
    "abdominal pain", "syncope", "deep vein thrombosis", "pulmonary embolism",
)  # fmt: skip
PLANS = (
    "started on aspirin and a statin", "discharged home with follow up in clinic",
    "admitted for intravenous antibiotics", "referred to cardiology", "insulin was adjusted",
    "physiotherapy was arranged", "an echo was ordered", "bloods to be repeated in a week",
    "reviewed by the surgical team", "oxygen was weaned", "pain is well controlled",
    "warfarin was restarted", "a chest x ray showed no consolidation",
    "mri of the brain is booked", "fluids were given overnight", "seen by the dietitian",
)  # fmt: skip
WARDS = ("the emergency department", "ward 4b", "the cardiology clinic", "the medical unit",
         "the day hospital", "the surgical ward", "outpatients", "the stroke unit")  # fmt: skip
TEMPLATES = (
    "{name} (MRN {mrn}) was seen in {ward} with {condition}; {plan}.",
    "Patient {name}, MRN {mrn}, presented to {ward} with {condition} and {plan}.",
    "MRN {mrn}: {name} attended {ward} for {condition}. {plan}.",
    "Follow-up note for {name} (MRN {mrn}): {condition}, {plan}.",
)
PUBLIC_TEMPLATES = (
    "Patients with {condition} are usually seen in {ward}; typically {plan}.",
    "A review of {condition}: in most cases {plan}.",
    "Guidance for {ward}: when {condition} is suspected, {plan}.",
)


@dataclass(frozen=True)
class Note:
    """One synthetic note and the canaries injected into it."""

    text: str
    name: str
    mrn: str


@lru_cache(maxsize=2)
def _names(kind: str) -> tuple[str, ...]:
    data = resources.files("appliance.detectors") / "data" / f"{kind}_names.txt.gz"
    with gzip.open(str(data), "rt", encoding="utf-8") as handle:
        rows = [line.strip() for line in handle]
    return tuple(r for r in rows if r.isalpha() and 3 <= len(r) <= 10)


def _half(name: str) -> int:
    return hashlib.sha256(b"canary-split|" + name.encode()).digest()[0] & 1


@lru_cache(maxsize=2)
def name_pool(half: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(first names, last names) of one half of the public name lists (0: the attacker's
    training half, 1: the canary half); the halves share no name."""
    return (
        tuple(n for n in _names("first") if _half(n) == half),
        tuple(n for n in _names("last") if _half(n) == half),
    )


def random_name(rng: np.random.Generator, half: int) -> str:
    """A capitalised first and last name from one half."""
    first, last = name_pool(half)
    return f"{first[rng.integers(len(first))].title()} {last[rng.integers(len(last))].title()}"


def random_mrn(rng: np.random.Generator) -> str:
    """Eight random digits (no leading zero)."""
    return str(int(rng.integers(10_000_000, 100_000_000)))


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def note(rng: np.random.Generator, name: str, mrn: str) -> Note:
    """One note about ``name`` with ``mrn``."""
    text = _pick(rng, TEMPLATES).format(
        name=name,
        mrn=mrn,
        ward=_pick(rng, WARDS),
        condition=_pick(rng, CONDITIONS),
        plan=_pick(rng, PLANS),
    )
    return Note(text, name, mrn)


def canary_notes(count: int, seed: int, pool: int = 50) -> list[Note]:
    """``count`` notes, each about one of ``pool`` canary people (canary half of the name
    lists, each with a fixed MRN); people repeat when ``count`` exceeds ``pool``."""
    rng = np.random.default_rng([seed, 1])
    people = [(random_name(rng, 1), random_mrn(rng)) for _ in range(pool)]
    return [note(rng, *people[i % pool]) for i in range(count)]


def roster(notes: list[Note]) -> tuple[list[str], list[str]]:
    """The distinct names and MRNs of ``notes``: the candidate list a stronger attacker holds
    (a patient roster or a voter list), without the link between name and MRN."""
    return sorted({n.name for n in notes}), sorted({n.mrn for n in notes})


def public_text(
    count: int,
    seed: int,
    extra: list[str] | None = None,
    candidates: tuple[list[str], list[str]] | None = None,
) -> list[str]:
    """The attacker's training text: notes about fabricated people from the training half
    of the name lists with random MRNs, and guidance sentences with no person at all;
    ``extra`` (e.g. public abstracts' sentences in a benchmark) is appended. With
    ``candidates`` (names, MRNs) the people notes use those names and MRNs, paired at random:
    the attacker who holds a roster writes his training notes about the people on it."""
    rng = np.random.default_rng([seed, 2])
    texts = []
    for i in range(count):
        if i % 4 == 3:
            texts.append(
                _pick(rng, PUBLIC_TEMPLATES).format(
                    ward=_pick(rng, WARDS),
                    condition=_pick(rng, CONDITIONS),
                    plan=_pick(rng, PLANS),
                )
            )
        elif candidates is not None:
            names, mrns = candidates
            texts.append(note(rng, _pick(rng, tuple(names)), _pick(rng, tuple(mrns))).text)
        else:
            texts.append(note(rng, random_name(rng, 0), random_mrn(rng)).text)
    return texts + list(extra or [])
