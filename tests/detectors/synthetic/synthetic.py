"""A seeded synthetic clinical-notes set with ground-truth PHI spans, and recall scoring.

Every text-borne HIPAA Safe Harbor identifier kind appears in several formats (see
``SAFE_HARBOR``); kinds 16 (biometric identifiers) and 17 (full-face photographs) are
not text, so notes carry *references* to biometric templates (labelled ``OTHER_ID``) and
faces are measured by the image detector. The benchmark and the inventory reuse this to
quote figures (scoring is in ``text_benchmark``); the tests assert the goals on it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from appliance.domain.findings import FindingKind
from tests.detectors.synthetic import synthetic_data as data
from tests.detectors.synthetic import synthetic_held_out as held_out
from tests.detectors.synthetic import synthetic_phi_free as phi_free
from tests.detectors.synthetic.synthetic_values import Part, value_for

SAFE_HARBOR: dict[str, tuple[FindingKind, ...]] = {
    "1 names": (FindingKind.PERSON_NAME,),
    "2 geographic subdivisions": (FindingKind.ADDRESS, FindingKind.ZIP_CODE),
    "3 dates and ages over 89": (FindingKind.DATE, FindingKind.AGE_OVER_89),
    "4 telephone numbers": (FindingKind.PHONE_NUMBER,),
    "5 fax numbers": (FindingKind.FAX_NUMBER,),
    "6 email addresses": (FindingKind.EMAIL_ADDRESS,),
    "7 social security numbers": (FindingKind.SSN,),
    "8 medical record numbers": (FindingKind.MEDICAL_RECORD_NUMBER,),
    "9 health plan beneficiary numbers": (FindingKind.HEALTH_PLAN_ID,),
    "10 account numbers": (FindingKind.ACCOUNT_NUMBER,),
    "11 certificate/license numbers": (FindingKind.LICENSE_NUMBER,),
    "12 vehicle identifiers": (FindingKind.VEHICLE_ID,),
    "13 device identifiers": (FindingKind.DEVICE_ID,),
    "14 URLs": (FindingKind.URL,),
    "15 IP addresses": (FindingKind.IP_ADDRESS,),
    "16 biometric identifiers (text references)": (FindingKind.OTHER_ID,),
    "17 full-face photographs": (FindingKind.FACE,),
    "18 other unique identifiers": (FindingKind.OTHER_ID,),
}
NAME_KINDS = frozenset({FindingKind.PERSON_NAME})


@dataclass(frozen=True)
class LabelledSpan:
    """A ground-truth identifier: its kind and character span."""

    kind: FindingKind
    start: int
    end: int


@dataclass(frozen=True)
class SyntheticNote:
    """One generated note and its ground truth."""

    text: str
    spans: tuple[LabelledSpan, ...]


PHRASINGS = {
    "tuned": data.TEMPLATES,
    "held_out": held_out.HELD_OUT_TEMPLATES,
    "fresh": held_out.FRESH_TEMPLATES,
}
_PLACEHOLDER = re.compile(r"\{([A-Z0-9_]+)\}")
_LABELS = {kind.name: kind for kind in FindingKind} | {"CITY": FindingKind.ADDRESS}


def _fill(template: str, rng: random.Random, offset: int) -> tuple[str, list[LabelledSpan]]:
    out: list[str] = []
    spans: list[LabelledSpan] = []
    cursor, length = 0, offset
    for match in _PLACEHOLDER.finditer(template):
        literal = template[cursor : match.start()]
        out.append(literal)
        length += len(literal)
        name = match.group(1)
        if name == "STATE":
            value: Part = ("", rng.choice(data.STATES), "")
        else:
            value = value_for(name, rng)
        pre, core, post = value
        if name != "STATE":
            start = length + len(pre)
            spans.append(LabelledSpan(_LABELS[name], start, start + len(core)))
        out.append(pre + core + post)
        length += len(pre + core + post)
        cursor = match.end()
    out.append(template[cursor:])
    return "".join(out), spans


def phi_free_sentences(count: int, seed: int = 20240611) -> list[str]:
    """The hand-written PHI-free sentences, then generated ones up to ``count``."""
    rng = random.Random(seed)
    sentences = list(phi_free.PHI_FREE)
    while len(sentences) < count:
        sentences.append(
            rng.choice(
                (
                    f"{rng.choice(phi_free.DRUGS).capitalize()} {rng.choice((5, 10, 20, 40, 100))} "
                    f"{rng.choice(phi_free.UNITS)} {rng.choice(phi_free.FREQS)}.",
                    f"{rng.choice(phi_free.LABS).capitalize()} {rng.uniform(0.5, 250):.1f}, "
                    f"previously {rng.uniform(0.5, 250):.1f}; "
                    f"trend {rng.choice(('up', 'down', 'stable'))}.",
                    f"Repeat imaging in {rng.randint(2, 12)} weeks showed "
                    f"{rng.choice(phi_free.FINDINGS)}.",
                    f"BP {rng.randint(95, 180)}/{rng.randint(50, 110)}, HR {rng.randint(50, 130)}, "
                    f"T {rng.uniform(36, 39.5):.1f} C.",
                    f"Hospital day {rng.randint(1, 20)}: {rng.choice(phi_free.FINDINGS)} on exam.",
                )
            )
        )
    return sentences[:count]


def generate_notes(
    count: int = 300, seed: int = 20240611, *, phrasing: str = "tuned"
) -> list[SyntheticNote]:
    """``count`` notes, each with identifier sentences cycling over every kind, plus filler.

    ``phrasing`` picks the templates: ``tuned`` (what the recognisers were developed on),
    ``held_out`` (measured, then used for fixes) or ``fresh`` (measured only).
    """
    rng = random.Random(seed)
    templates = PHRASINGS[phrasing]
    kinds = list(templates)
    filler = phi_free_sentences(200, seed + 1)
    notes: list[SyntheticNote] = []
    turn = 0
    for _ in range(count):
        text, spans = "", []
        for position in range(rng.randint(4, 7)):
            if position and rng.random() < 0.4:
                text += rng.choice(filler) + " "
            kind = kinds[turn % len(kinds)]
            turn += 1
            sentence, found = _fill(rng.choice(templates[kind]), rng, len(text))
            text += sentence + rng.choice((" ", "\n", " "))
            spans.extend(found)
        notes.append(SyntheticNote(text.strip(), tuple(spans)))
    return notes
