"""Clinical registers: each class of issue 10 in Title case, ALL CAPS and lower case, the
clinical vocabulary that must stay text, redaction re-scanned clean, and the corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.bench.phi import Document, read_corpus, run_phi_benchmark
from appliance.detectors import TextDetector
from appliance.services.admission import redact_text
from tests.detectors.case_styles import STYLES, found_in, kinds_over

CORPUS = Path(__file__).parent / "phi_corpus"

# (sentence, the identifier it carries, expected kind); sentences in plain case.
CLASSES = [
    ("Seen today by Dr. Kowalski, plan unchanged.", "Kowalski", "person_name"),
    ("Mr. Abernathy remains on the vent overnight.", "Abernathy", "person_name"),
    ("Daughter Kathy staying overnight at the bedside.", "Kathy", "person_name"),
    ("Wife Gloria in to visit, questions answered.", "Gloria", "person_name"),
    ("Transfer from Norwood Hospital for further care.", "Norwood", "address"),
    ("Arrived via amb from Milford at 1630.", "Milford", "address"),
    ("Questions to cardiology fellow, pager #41267.", "41267", "phone_number"),
    ("Records requested, ref # 8812045 on file.", "8812045", "other_id"),
    ("Pt admitted 9/98 for same, now on tpn.", "9/98", "date"),
    ("Pt is a 93 F with dementia and urosepsis.", "93", "age_over_89"),
    ("Lives alone, pt is 94, uses a walker.", "94", "age_over_89"),
    ("Md Nguyen aware of low uop.", "Nguyen", "person_name"),
    ("Family hopes to take him home for Christmas.", "Christmas", "date"),
    ("Received from Spaulding Rehab at 1500.", "Spaulding", "address"),
]
# Clinical text that must not be flagged, in every case style.
CLINICAL = [
    "Pt is married, lives with wife, retired machinist.",
    "Levo weaned off at 1400, MAP 65-70.",
    "Strength 5/5 bilateral upper extremities, 4/5 left leg.",
    "Vent AC 24/800/40 peep 5, abg 7.38/42/98.",
    "Lungs coarse, suctioned for thick secretions noted.pt tolerating well.",
    "Tolerated 1/2 of breakfast, bipap 12/5 overnight.",
    "Sats 93% on ra, pt is 93 on 2l, HR is 95 bpm.",
    "Murmur 3/6 SEM, 3/12 lymph nodes positive, 4/12 systems reviewed.",
    "Bolus NS x 1000 given, psv 15/5, peep 5/fio2 40%.",
]


def _load(name: str) -> list[Document]:
    return read_corpus(CORPUS / name)


@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize(("sentence", "value", "kind"), CLASSES)
def test_each_class_is_found_in_every_case_style(
    text_detector: TextDetector, sentence: str, value: str, kind: str, style: str
) -> None:
    """Titles, relation words, facilities, places, pagers, ref #, m/yy dates and ages over
    89 are found with their kind whether the note is Title case, ALL CAPS or lower case."""
    found = kinds_over(text_detector, sentence, value, style)
    assert kind in found, (STYLES[style](sentence), found)


@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize("sentence", CLINICAL)
def test_clinical_vocabulary_stays_text(
    text_detector: TextDetector, sentence: str, style: str
) -> None:
    """Marital status, drug names, strengths, vent settings, blood gases and run-together
    sentences are not identifiers, in any case style."""
    assert found_in(text_detector, sentence, style) == []


@pytest.mark.parametrize(
    "split",
    ["dev.jsonl", "test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl", "i2b2_sample.jsonl"],
)
def test_redacted_notes_rescan_clean_and_keep_clinical_text(
    text_detector: TextDetector, split: str
) -> None:
    """The research policy's redaction leaves nothing the detector finds again, and removes
    little text that is not PHI (the share removed is printed)."""
    removed = kept_total = 0
    for document in _load(split):
        findings = text_detector.analyze(document.text)
        redacted = redact_text(document.text, findings)
        assert text_detector.analyze(redacted) == [], redacted
        phi = [False] * len(document.text)
        for start, end, _ in document.spans:
            phi[start:end] = [True] * (end - start)
        cut = [False] * len(document.text)
        for f in findings:
            cut[f.location["start"] : f.location["end"]] = [True] * (
                f.location["end"] - f.location["start"]
            )
        removed += sum(c and not p for c, p in zip(cut, phi, strict=True))
        kept_total += phi.count(False)
    share = removed / kept_total
    print(f"\n{split}: {share:.3%} of PHI-free characters removed by redaction")
    # third round: at most 0.92% on any split (docs/phi-detection.md)
    assert share < 0.015


@pytest.mark.parametrize("split", ["test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl"])
def test_held_out_corpus_figures(text_detector: TextDetector, split: str) -> None:
    """On the held-out splits (not used for tuning): recall, precision and PHI-free
    flagging stay at the level reported in docs/phi-detection.md."""
    result = run_phi_benchmark(_load(split), text_detector.analyze)
    print("\n" + json.dumps({k: v for k, v in result.items() if k != "throughput"}, indent=1))
    assert result["recall_any"] >= 0.94
    assert result["per_kind"]["address"]["recall_any"] >= 0.90
    assert result["per_kind"]["person_name"]["recall_any"] >= 0.96
    assert result["span_precision"] >= 0.97
    assert result["phi_free_flagged"] <= 0.1


def test_held_out_splits_together_meet_the_issue_goal(text_detector: TextDetector) -> None:
    """Over all four held-out splits (931 spans, test4 by a fresh author): span recall and
    name recall above issue 10's 0.97, precision far above 0.75."""
    splits = ("test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl")
    documents = [d for name in splits for d in _load(name)]
    result = run_phi_benchmark(documents, text_detector.analyze)
    assert result["recall_any"] >= 0.975
    assert result["per_kind"]["person_name"]["recall_any"] >= 0.99
    assert result["span_precision"] >= 0.97
    assert result["phi_free_flagged"] <= 0.1


def test_corpus_lines_are_well_formed() -> None:
    """Every corpus line parses, spans fit the text and name a finding kind."""
    from appliance.domain.findings import FindingKind

    splits = ("dev", "test", "test2", "test3", "test4", "i2b2_sample")
    for name in (f"{split}.jsonl" for split in splits):
        for document in _load(name):
            for start, end, kind in document.spans:
                assert document.text[start:end].strip() == document.text[start:end]
                FindingKind(kind)


def test_bench_phi_command_reads_the_documented_format() -> None:
    """``appliance bench phi --corpus DIR --json`` scores a folder of JSON-lines notes."""
    from click.testing import CliRunner

    from appliance.cli.bench import bench

    result = CliRunner().invoke(bench, ["phi", "--corpus", str(CORPUS / "dev.jsonl"), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["documents"] == len(_load("dev.jsonl"))
    assert {"recall_any", "span_precision", "token_precision", "phi_free_flagged"} <= set(figures)
    assert figures["throughput"]["mb_per_s_cpu"] > 0
