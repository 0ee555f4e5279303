"""Text PHI detection: recall per Safe Harbor kind, false positives, offline operation."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from appliance.detectors import TextDetector, detect, text_facts
from appliance.detectors.text import CHUNK_CHARS
from appliance.detectors.text_patterns import PATTERNS
from appliance.domain.findings import FindingKind
from appliance.domain.types import Modality
from appliance.errors import InvalidInputError
from tests.detectors.synthetic.synthetic import NAME_KINDS, SAFE_HARBOR, generate_notes
from tests.detectors.synthetic.text_benchmark import format_table, text_benchmark

PATTERN_GOAL, NAME_GOAL, FP_GOAL = 0.95, 0.85, 0.02
TEXT_KINDS = {k for kinds in SAFE_HARBOR.values() for k in kinds} - {FindingKind.FACE}
NOTES = {"tuned": 150, "held_out": 100, "fresh": 100}


def _kinds(detector: TextDetector, text: str) -> dict[str, str]:
    return {
        text[f.location["start"] : f.location["end"]]: f.kind.value for f in detector.analyze(text)
    }


@pytest.mark.parametrize("phrasing", list(NOTES))
def test_recall_goals_per_kind(text_detector: TextDetector, phrasing: str) -> None:
    """Every identifier kind meets its recall goal on the synthetic notes (table printed)."""
    result = text_benchmark(
        text_detector.analyze, notes=NOTES[phrasing], sentences=0, phrasing=phrasing
    )
    table = result["recall"]
    print(f"\n[{phrasing} phrasings, {NOTES[phrasing]} notes]\n{format_table(table)}")
    assert set(table) == TEXT_KINDS
    for kind, row in table.items():
        goal = NAME_GOAL if kind in NAME_KINDS else PATTERN_GOAL
        assert row["total"] >= 20, kind
        assert row["recall"] >= goal, f"{kind.value}: {row['recall']:.3f} < {goal}"


def test_false_positives_on_phi_free_text(text_detector: TextDetector) -> None:
    """PHI-free clinical sentences (vitals, doses, scores, eponyms) are rarely flagged."""
    fp = text_benchmark(text_detector.analyze, notes=1, sentences=300)["false_positives"]
    print(
        f"\nfalse positives: {fp['flagged']}/{fp['sentences']} sentences "
        f"({fp['rate']:.3%}), by kind {fp['by_kind']}"
    )
    assert fp["sentences"] == 300
    assert fp["rate"] <= FP_GOAL


def test_synthetic_notes_cover_every_text_kind_with_true_spans() -> None:
    """The generator is seeded, labels every text-borne Safe Harbor kind, and spans fit."""
    notes = generate_notes(40)
    assert [n.text for n in notes] == [n.text for n in generate_notes(40)]
    assert {s.kind for n in notes for s in n.spans} == TEXT_KINDS
    for note in notes:
        for span in note.spans:
            value = note.text[span.start : span.end]
            assert value.strip() == value and value, (span, value)


def test_findings_carry_spans_never_text(text_detector: TextDetector) -> None:
    """A finding's location is a character span; the detected text is nowhere in it."""
    text = "Patient Maria Gonzalez, MRN 00482913, SSN 123-45-6789, email maria.g@example.org."
    findings = text_detector.analyze(text)
    assert {f.kind for f in findings} >= {
        FindingKind.PERSON_NAME,
        FindingKind.SSN,
        FindingKind.MEDICAL_RECORD_NUMBER,
        FindingKind.EMAIL_ADDRESS,
    }
    for finding in findings:
        assert set(finding.location) == {"start", "end"}
        assert finding.modality is Modality.TEXT and 0 < finding.score <= 1
        blob = json.dumps([finding.location, finding.detector])
        assert text[finding.location["start"] : finding.location["end"]] not in blob


def test_analysis_makes_no_network_call(no_network: list[str]) -> None:
    """Building the engine and analysing URLs and e-mails happen with sockets blocked."""
    import socket

    with pytest.raises(AssertionError):
        socket.create_connection(("192.0.2.1", 80))  # the guard is live
    no_network.clear()
    detector = TextDetector()
    detector.load()
    text = "See https://portal.mercyhealth.org/p/1 or mail k.okafor@northshore.org today."
    kinds = {f.kind for f in detector.analyze(text)}
    assert {FindingKind.URL, FindingKind.EMAIL_ADDRESS} <= kinds
    assert no_network == []


def test_detectors_load_without_torch_or_transformers() -> None:
    """Loading all three detectors imports neither torch nor transformers (nor silero_vad)."""
    script = textwrap.dedent("""
        import json, sys
        from appliance.detectors import get_registry
        registry = get_registry()
        registry.warm()
        registry.text().analyze("Dr. Okafor saw the patient on 03/04/2021.")
        heavy = [m for m in ("torch", "transformers", "silero_vad") if m in sys.modules]
        print(json.dumps(heavy))
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Call (312) 555-0148; records were faxed to (312) 555-0199.",
            {"(312) 555-0148": "phone_number", "(312) 555-0199": "fax_number"},
        ),
        (
            "Fax: (312) 555-0199, phone (312) 555-0148.",
            {"(312) 555-0199": "fax_number", "(312) 555-0148": "phone_number"},
        ),
        ("A 90-year-old man and his 89-year-old wife.", {"90": "age_over_89"}),
        ("Appendectomy in 2015; admitted March 3, 2021.", {"March 3, 2021": "date"}),
        ("Vehicle VIN 1HGCM82633A004352 recorded.", {"1HGCM82633A004352": "vehicle_id"}),
    ],
)
def test_kind_boundaries(text_detector: TextDetector, text: str, expected: dict[str, str]) -> None:
    """Fax versus phone, 90 versus 89 years, a year alone versus a full date, a VIN."""
    assert _kinds(text_detector, text) == expected


def test_long_text_is_chunked_with_true_offsets(text_detector: TextDetector) -> None:
    """Text longer than one chunk is analysed whole and spans point into the original."""
    filler = "Lungs clear to auscultation bilaterally. " * (CHUNK_CHARS // 40 + 10)
    text = filler + "Seen today with her daughter Amara Okafor, MRN 77120934."
    found = _kinds(text_detector, text)
    assert found == {"Amara Okafor": "person_name", "77120934": "medical_record_number"}


def test_detect_text_report(text_detector: TextDetector, registry, encoder_settings) -> None:
    """detect() returns findings and inventory facts for text, str or UTF-8 bytes."""
    note = "Patient John Carter, DOB 04/12/1951, lives at 12 Maple Ave, Evanston, IL 60201."
    report = detect("text", note.encode("utf-8"), settings=encoder_settings, registry=registry)
    assert report.modality is Modality.TEXT
    assert report.facts == {"chars": len(note), "lines": 1, "words": 10, "language": "en"}
    assert {
        FindingKind.PERSON_NAME,
        FindingKind.DATE,
        FindingKind.ADDRESS,
        FindingKind.ZIP_CODE,
    } <= report.kinds
    assert detect(Modality.TEXT, "   ", settings=encoder_settings, registry=registry).findings == ()
    with pytest.raises(InvalidInputError, match="UTF-8"):
        detect("text", b"\xff\xfe\xfa", settings=encoder_settings, registry=registry)


def test_language_guess() -> None:
    """English prose reads as en, other languages as not-en, fragments as unknown."""
    assert text_facts("The patient was seen in the clinic with her son.")["language"] == "en"
    assert text_facts("Der Patient wurde heute in der Klinik gesehen.")["language"] == "not-en"
    assert text_facts("BP 120/80")["language"] == "unknown"


def test_own_patterns_report_the_value_span_not_the_keyword() -> None:
    """Keyword-anchored patterns (MRN:, Member ID) report only the identifier's span."""
    by_name = {p.name: p for p in PATTERNS}
    text = "MRN: 00482913 and Insurance: Aetna, ID W123456789"
    assert [text[s:e] for s, e, _ in by_name["mrn"].finditer(text)] == ["00482913"]
    assert [text[s:e] for s, e, _ in by_name["health_plan"].finditer(text)] == ["W123456789"]
    assert list(by_name["vehicle_keyed"].finditer("platelets 215,000")) == []
