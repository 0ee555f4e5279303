"""Fourth round of issue 10's classes (tuned on the dev7 notes by a fresh author, not on
the held-out splits): event dates, weekday dates, pagers with words between keyword and
number, ten-digit phones, quoted, hyphened and nickname first names after relation words,
ambulance services after ``by``; each in Title case, ALL CAPS and lower case, with the
clinical text around them that must stay text."""

from __future__ import annotations

import pytest

from appliance.detectors import TextDetector
from tests.detectors.case_styles import STYLES, found_in, kinds_over

STYLE = list(STYLES)


def _finds(detector: TextDetector, sentence: str, value: str, kind: str, style: str) -> None:
    found = kinds_over(detector, sentence, value, style)
    assert kind in found, (STYLES[style](sentence), found)


@pytest.mark.parametrize("style", STYLE)
@pytest.mark.parametrize(
    ("sentence", "value"),
    [
        ("Pt s/p ex lap 12-9, ngt to lcws.", "12-9"),
        ("S/p cabg x3 9/7, paced at 80.", "9/7"),
        ("Gi fellow to do procedure 7-22 in the am.", "7-22"),
        ("Pt extubated 5/22 at 1000, on 4l nc.", "5/22"),
        ("Mvc 10/30, pt was the driver.", "10/30"),
    ],
)
def test_month_day_after_an_event_is_a_date(
    text_detector: TextDetector, sentence: str, value: str, style: str
) -> None:
    """A month/day (slash or dash) after s/p and a procedure or an event word is a date."""
    _finds(text_detector, sentence, value, "date", style)


@pytest.mark.parametrize("style", STYLE)
def test_fraction_after_a_weekday_is_a_date(text_detector: TextDetector, style: str) -> None:
    """A fraction-shaped month/day after a weekday ('Mon 3/4') is a date."""
    _finds(text_detector, "Admitted Mon 3/4 from the ed.", "3/4", "date", style)


@pytest.mark.parametrize("style", STYLE)
@pytest.mark.parametrize(
    "sentence",
    [
        "S/p 2-3 l ns boluses, s/p fall x2, extubated 2 days ago, mri 1-2 hrs wait.",
        "Cath 3/4 occluded, echo 3/4 mr, arrest 5-10 min downtime, s/p 4/4 units prbc.",
        "S/p trach 8-0 shiley changed to 6-0, fell 1-2 times at home.",
    ],
)
def test_event_words_before_ranges_and_fractions_stay_text(
    text_detector: TextDetector, sentence: str, style: str
) -> None:
    """Ranges, fractions and sizes after event words, with a unit or small, stay text."""
    assert [f for f in found_in(text_detector, sentence, style) if f[1] == "date"] == []


@pytest.mark.parametrize("style", STYLE)
def test_pager_after_words_is_a_phone(text_detector: TextDetector, style: str) -> None:
    """A pager number after 'pager # for dr X is' is a phone number."""
    sentence = "Pager # for dr Adeyemi is 33790, page with changes."
    _finds(text_detector, sentence, "33790", "phone_number", style)


@pytest.mark.parametrize("style", STYLE)
def test_ten_digits_after_a_phone_word_are_a_phone(text_detector: TextDetector, style: str) -> None:
    """Ten digits without separators after 'cell' are a phone number."""
    _finds(text_detector, "Calls to her cell 5085557734.", "5085557734", "phone_number", style)


@pytest.mark.parametrize("style", STYLE)
def test_quoted_name_after_relation_word(text_detector: TextDetector, style: str) -> None:
    """A quoted first name after a relation word ('her husband "Gus"') is a name."""
    _finds(text_detector, 'Asking for her husband "Gus" all night.', "Gus", "person_name", style)


@pytest.mark.parametrize("style", STYLE)
def test_hyphened_name_after_relation_word(text_detector: TextDetector, style: str) -> None:
    """A first name joined to a relation word by a hyphen ('wife-Lorna') is a name."""
    _finds(text_detector, "Pt's wife-Lorna in to visit.", "Lorna", "person_name", style)


@pytest.mark.parametrize("style", STYLE)
@pytest.mark.parametrize(
    ("sentence", "value"),
    [("Son Art from Sandwich coming tomorrow.", "Art"), ("Husband Skip called.", "Skip")],
)
def test_nickname_after_relation_word(
    text_detector: TextDetector, sentence: str, value: str, style: str
) -> None:
    """A nickname that is a dictionary word and in no name list ('son Art') is a name."""
    _finds(text_detector, sentence, value, "person_name", style)


@pytest.mark.parametrize("style", STYLE)
def test_nickname_before_a_noun_stays_text(text_detector: TextDetector, style: str) -> None:
    """A nickname-shaped word before a noun ('wife art teacher', 'son peg tube') stays text."""
    sentence = "Wife art teacher, retired. Son will visit in am. Son peg tube site clean."
    assert found_in(text_detector, sentence, style) == []


@pytest.mark.parametrize("style", STYLE)
def test_ambulance_service_after_by(text_detector: TextDetector, style: str) -> None:
    """A named ambulance service after 'brought in by' is a place."""
    sentence = "Brought in by Cataract Ambulance after a fall."
    _finds(text_detector, sentence, "Cataract Ambulance", "address", style)


@pytest.mark.parametrize("style", STYLE)
@pytest.mark.parametrize(
    ("sentence", "value"),
    [("Called Jen in admitting for a bed.", "Jen"), ("Spoke with Liz re plan.", "Liz")],
)
def test_short_first_name_after_contact_verb(
    text_detector: TextDetector, sentence: str, value: str, style: str
) -> None:
    """A three-letter first name after 'called', 'per' or 'spoke with' is a name."""
    _finds(text_detector, sentence, value, "person_name", style)


@pytest.mark.parametrize("style", STYLE)
def test_second_surname_after_slash(text_detector: TextDetector, style: str) -> None:
    """A second surname after a slash ('Drs Marchetti/Oyelaran') is a name."""
    sentence = "Drs Marchetti/Oyelaran in to see pt."
    _finds(text_detector, sentence, "Oyelaran", "person_name", style)


@pytest.mark.parametrize("style", STYLE)
@pytest.mark.parametrize(
    ("sentence", "value"),
    [("Labs sent 4/5 @ 0400, pending.", "4/5"), ("Was at an osh 4/5-4/7 for same.", "4/7")],
)
def test_month_day_before_a_time_or_in_a_month_range(
    text_detector: TextDetector, sentence: str, value: str, style: str
) -> None:
    """A month/day before a clock time, or two days of one month, is a date."""
    _finds(text_detector, sentence, value, "date", style)


@pytest.mark.parametrize("style", STYLE)
def test_scores_settings_and_contacts_stay_text(text_detector: TextDetector, style: str) -> None:
    """Scores and settings before times, fraction ranges and contact verbs stay text."""
    sentence = (
        "Pain 4/10 @ 0400, psv 10/5 at 2200, strength 4/5 at 0800, ate 1/2-1/3 of tray,"
        " peep 5/5 @ 1200. Md/team aware. Called back by lab. Spoke with pt. Per protocol."
    )
    assert found_in(text_detector, sentence, style) == []
