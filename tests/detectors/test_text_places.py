"""Second round of issue 10's classes: facilities that are ordinary words or
abbreviations, regions, employers, streets in any case, towns after a street, internal extensions,
ages after a label and dates after a date word, each in Title case, ALL CAPS and lower
case; and the clinical text around them that must stay text."""

from __future__ import annotations

import pytest

from appliance.detectors import TextDetector
from tests.detectors.case_styles import STYLES, found_in, kinds_over

# (sentence, the identifier it carries, expected kind); sentences in plain case.
CLASSES = [
    ("Wife interested in rehab at Kindred in the fall.", "Kindred", "address"),
    ("Transferred from Lowell General for a higher level of care.", "Lowell General", "address"),
    ("Received from MGH PACU at 1500.", "MGH", "address"),
    ("Seen at BIDMC ED last month.", "BIDMC", "address"),
    ("Ortho follow up at NEBH in two weeks.", "NEBH", "address"),
    ("Plan discharge home with VNA from Cape Cod.", "Cape Cod", "address"),
    ("Son drives in from the North Shore daily.", "North Shore", "address"),
    ("Pt lives on 12 Elm St with her sister.", "12 Elm St", "address"),
    ("Lives alone at 7 Birch Hill Rd, Fall River.", "Fall River", "address"),
    ("Lives on 27 Maple Ave in Revere with his wife.", "Revere", "address"),
    ("Pt stays at the Long Island Shelter most nights.", "Long Island Shelter", "address"),
    ("Please page the team at x4-2210 with questions.", "x4-2210", "phone_number"),
    ("Npn: 94m from home, dementia at baseline.", "94", "age_over_89"),
    ("Bipap 14/6 since 11/3, tolerating well.", "11/3", "date"),
    ("Cath done on 3/5 without complication.", "3/5", "date"),
    ("Last seen by neurology in March, no changes.", "March", "date"),
    ("Seen by Dr. Le this morning, plan unchanged.", "Le", "person_name"),
    ("Pt works at Market Basket in the deli.", "Market Basket", "address"),
    ("Syncope at the Natick Mall this am.", "Natick Mall", "address"),
]
# Clinical text that must not be flagged, in every case style.
CLINICAL = [
    "Pt on 1/2 NS at 100cc/hr, 1/2 tab percocet q4h prn.",
    "Weaned psv from 10/5 to 8/5 this afternoon.",
    "JP drain to bulb suction, 30cc serosang. Lasix 40 bid.",
    "Fx of distal radius, splinted. Pt may go home tomorrow.",
    "HR 100 ST, BP 110/60. Given 2 units per dr order.",
    "General surgery aware, general appearance improved.",
    "3 hrs ago ct head negative, 2 episodes of vt overnight.",
    "Worked at night for years, now works for a landscaper. Per MOLST dated today.",
]


@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize(("sentence", "value", "kind"), CLASSES)
def test_place_and_date_classes_found_in_every_case_style(
    text_detector: TextDetector, sentence: str, value: str, kind: str, style: str
) -> None:
    """Listed facilities and abbreviations, regions, streets, towns after a street,
    extensions, labelled ages and context dates are found in any letter case."""
    found = kinds_over(text_detector, sentence, value, style)
    assert kind in found, (STYLES[style](sentence), found)


@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize("sentence", CLINICAL)
def test_fractions_settings_and_shorthand_stay_text(
    text_detector: TextDetector, sentence: str, style: str
) -> None:
    """Fractions after "on", setting changes, JP drains, "bid", "radius", "may", sinus
    tachycardia and unit counts before street-suffix-like words are not identifiers."""
    assert found_in(text_detector, sentence, style) == []


def test_facility_list_words_need_context_when_they_are_english(
    text_detector: TextDetector,
) -> None:
    """A listed facility that is an English word ("kindred", "north shore") is a place only
    after a motion word; a listed abbreviation ("mgh") is one anywhere."""
    assert text_detector.analyze("kindred spirits on the unit today") == []
    assert text_detector.analyze("the south end of the incision oozing") == []
    found = text_detector.analyze("mgh records requested")
    assert [f.kind.value for f in found] == ["address"]
