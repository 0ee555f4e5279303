"""Names that spaCy's small model tags as proper nouns but labels as an organisation,
a facility or a place (``with Banerjee, Sofia present`` -> ORG): runs of capitalised
proper nouns in mid-sentence, minus abbreviations, organisations and eponymous scales.
"""

from __future__ import annotations

import re
from typing import Any

SCORE = 0.5
_ORG_TEXT = (
    "cross shield hospital clinic health healthcare center centre medical university college"
    " insurance care ppo hmo inc llc corp bank pharmacy services service department dept"
    " unit ward group partners association foundation institute labs laboratory network"
    " county state city street avenue road school church medicare medicaid tricare aetna"
    " humana cigna kaiser scale score syndrome disease criteria classification test sign"
    " protocol trial study"
)
_ORG_WORDS = frozenset(_ORG_TEXT.split())
_NOT_NAME_TOKENS = frozenset({"ID", "MRN", "DOB", "SSN", "MD", "RN", "NP", "PA", "DO"})


def _name_like(token: Any) -> bool:
    text = token.text
    if token.pos_ != "PROPN" or any(ch.isdigit() for ch in text) or text in _NOT_NAME_TOKENS:
        return False
    if re.fullmatch(r"[A-Z]\.", text):  # an initial
        return True
    return len(text) > 1 and (token.is_title or (token.is_upper and len(text) > 4))


def _sentence_start(doc: Any, index: int) -> bool:
    if index == 0:
        return True
    previous = doc[index - 1].text
    return previous in {".", ":", ";", "!", "?", "\n"} or previous.isspace()


def _caps_neighbour(doc: Any, index: int) -> bool:
    """A shouted name stands among lower-case words, not inside an all-caps heading."""
    return 0 <= index < len(doc) and doc[index].is_alpha and doc[index].is_upper


def propn_name_spans(doc: Any) -> list[tuple[int, int]]:
    """Character spans of 2-3 token proper-noun runs that look like people's names."""
    spans: list[tuple[int, int]] = []
    index, size = 0, len(doc)
    while index < size:
        if not _name_like(doc[index]):
            index += 1
            continue
        end = index
        while end + 1 < size and (
            _name_like(doc[end + 1])
            or (
                doc[end + 1].text == ","
                and end == index
                and end + 2 < size
                and _name_like(doc[end + 2])
            )
        ):
            end += 1
        tokens = [t for t in doc[index : end + 1] if t.text != ","]
        shouted = any(t.is_upper and len(t.text) > 2 for t in tokens)
        if shouted and (_caps_neighbour(doc, index - 1) or _caps_neighbour(doc, end + 1)):
            index = end + 1
            continue
        if (
            2 <= len(tokens) <= 3
            and not _sentence_start(doc, index)
            and not any(t.text.lower() in _ORG_WORDS for t in tokens)
            and not (index and doc[index - 1].like_num)
        ):
            spans.append((doc[index].idx, doc[end].idx + len(doc[end].text)))
        index = end + 1
    return spans
