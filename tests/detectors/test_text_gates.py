"""The keyword gates of the text patterns (``TextPattern.needs``) only skip work: a gated
pattern finds exactly what its regex finds, on the corpus and on case tricks."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.bench.phi import read_corpus
from appliance.detectors.text_patterns import PATTERNS

CORPUS = Path(__file__).parent / "phi_corpus"
# Keywords in other letter cases and in characters that IGNORECASE folds onto letters
# (the long s and the Kelvin sign), which a plain lower() test would skip.
TRICKS = [
    "SſN 123-45-6789 on file",
    "MRN: 00482913, ACCT 7712345, Fax: 617-555-0100",
    "PAGER #41267, EXT 4567, Pgr 2-4417",
    "Lives at 14 Winter St, Zip 02139, P.O. Box 12",
    "Pt turned 100 on Christmas; she is ninety-one; a 93 F.",
    "device serial SN-99812, ref # 8812045, \u212aIT 5512",
]


@pytest.mark.parametrize("text", TRICKS)
def test_gated_patterns_find_what_their_regex_finds_on_case_tricks(text: str) -> None:
    """No keyword gate hides a match the ungated regex makes, in any letter case."""
    low = text.casefold()
    for pattern in PATTERNS:
        assert list(pattern.finditer(text, low)) == list(pattern.finditer(text, gate=False)), (
            pattern.name
        )


def test_gated_patterns_find_what_their_regex_finds_on_the_corpus() -> None:
    """On every dev and i2b2 note the gated and ungated patterns agree exactly, and the
    gates skip the regex for some patterns (they do work)."""
    skipped = 0
    for name in ("dev.jsonl", "i2b2_sample.jsonl"):
        for document in read_corpus(CORPUS / name):
            low = document.text.casefold()
            for pattern in PATTERNS:
                gated = list(pattern.finditer(document.text, low))
                assert gated == list(pattern.finditer(document.text, gate=False)), pattern.name
                skipped += bool(pattern.needs) and not any(w in low for w in pattern.needs)
    assert skipped > 0
