"""PHI and PII in free text: our own linear-time patterns (``text_patterns``) for the
identifier formats, and lexicon + context rules (``text_context``) for names and places,
in any letter case (real clinical notes are lower case, ALL CAPS and shorthand).

Nothing here reaches for the network or loads a model: the word lists ship inside the
package (``detectors/data``). Findings carry character spans, never the text found.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from appliance.detectors.text_context import ContextScanner
from appliance.detectors.text_lexicon import lexicon
from appliance.detectors.text_patterns import PATTERNS
from appliance.domain.findings import Finding, FindingKind
from appliance.domain.types import Modality

SCORE_THRESHOLD = 0.4
CHUNK_CHARS = 50_000
_FAX_BEFORE = re.compile(r"\bfax(?:ed|ing)?\b[^.\n\d]{0,30}$", re.IGNORECASE)


@dataclass(frozen=True)
class _Hit:
    kind: FindingKind
    start: int
    end: int
    score: float
    source: str


def _chunks(text: str) -> list[tuple[int, str]]:
    """Split long text at line or word boundaries (bounds every look-behind window)."""
    pieces, offset = [], 0
    while len(text) - offset > CHUNK_CHARS:
        window = text[offset : offset + CHUNK_CHARS]
        cut = max(window.rfind("\n"), window.rfind(" "))
        cut = cut + 1 if cut > CHUNK_CHARS // 2 else CHUNK_CHARS
        pieces.append((offset, window[:cut]))
        offset += cut
    pieces.append((offset, text[offset:]))
    return pieces


_FORMAT_KINDS = frozenset(
    {
        FindingKind.DATE,
        FindingKind.PHONE_NUMBER,
        FindingKind.FAX_NUMBER,
        FindingKind.AGE_OVER_89,
        FindingKind.SSN,
        FindingKind.EMAIL_ADDRESS,
        FindingKind.URL,
    }
)


def _resolve(hits: list[_Hit], text: str) -> list[_Hit]:
    """Reclassify faxes and settle overlaps: where spans of different kinds mostly
    overlap, the surer (then the longer) one wins; spans inside a kept one of the same
    kind are dropped."""
    adjusted = []
    for hit in hits:
        window = text[max(0, hit.start - 60) : hit.start]
        if hit.kind is FindingKind.PHONE_NUMBER and _FAX_BEFORE.search(window):
            hit = _Hit(FindingKind.FAX_NUMBER, hit.start, hit.end, hit.score, hit.source)
        adjusted.append(hit)
    kept: list[_Hit] = []
    for cluster in _clusters(adjusted):
        kept.extend(_settle(cluster))
    return sorted(kept, key=lambda h: (h.start, h.end))


def _clusters(hits: list[_Hit]) -> list[list[_Hit]]:
    """Runs of transitively overlapping hits (only these can clash): keeps settling
    linear in the number of findings for ordinary text."""
    groups: list[list[_Hit]] = []
    reach = -1
    for hit in sorted(hits, key=lambda h: (h.start, h.end)):
        if groups and hit.start < reach:
            groups[-1].append(hit)
            reach = max(reach, hit.end)
        else:
            groups.append([hit])
            reach = hit.end
    return groups


def _settle(cluster: list[_Hit]) -> list[_Hit]:
    if len(cluster) == 1:
        return cluster
    kept: list[_Hit] = []
    for hit in sorted(cluster, key=lambda h: (-h.score, h.start - h.end, h.start)):
        length = hit.end - hit.start
        clash = any(
            other.kind is not hit.kind
            and min(hit.end, other.end) - max(hit.start, other.start) > length // 2
            for other in kept
        )
        same = any(
            other.kind is hit.kind and other.start <= hit.start and hit.end <= other.end
            for other in kept
        )
        if not clash and not same:
            kept.append(hit)
    return kept


class TextDetector:
    """Finds PHI in text. Build once (the word lists take about half a second) and share:
    ``analyze`` is thread-safe."""

    name = "text"

    def __init__(self, *, threshold: float = SCORE_THRESHOLD) -> None:
        self._threshold = threshold
        self._scanner: ContextScanner | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the word lists now (otherwise on first use)."""
        with self._lock:
            if self._scanner is None:
                self._scanner = ContextScanner(lexicon())

    def analyze(self, text: str) -> list[Finding]:
        """Findings (kind, score, character span) for every identifier found in ``text``."""
        self.load()
        assert self._scanner is not None
        hits: list[_Hit] = []
        for offset, piece in _chunks(text):
            if not piece.strip():
                continue
            low = piece.casefold()
            for pattern in PATTERNS:
                for start, end, score in pattern.finditer(piece, low):
                    hits.append(
                        _Hit(
                            pattern.kind,
                            offset + start,
                            offset + end,
                            score,
                            f"pattern:{pattern.name}",
                        )
                    )
            for span in self._scanner.scan(piece):
                hits.append(
                    _Hit(
                        span.kind,
                        offset + span.start,
                        offset + span.end,
                        span.score,
                        f"context:{span.rule}",
                    )
                )
        hits = [h for h in hits if h.score >= self._threshold]
        return [
            Finding(
                kind=h.kind,
                detector=f"text:{h.source}",
                modality=Modality.TEXT,
                score=round(min(h.score, 1.0), 3),
                location={"start": h.start, "end": h.end},
            )
            for h in _resolve(hits, text)
        ]


_ENGLISH_WORDS = (
    "the an and or of to on at for with is was were are be been has have had not no he she"
    " his her they their patient this that which from by as it denies reports without"
)
_OTHER_WORDS = (  # German, French, Spanish, Italian, Portuguese, Dutch function words
    "der die das und ist nicht mit von wurde le la les et est une des avec pour dans el los"
    " las y es con por para una il lo gli che non di per e o os um uma com het een van"
)
_ENGLISH = frozenset(_ENGLISH_WORDS.split())
_OTHER = frozenset(_OTHER_WORDS.split())


def text_facts(text: str) -> dict[str, Any]:
    """Neutral facts for the inventory: length, line and word counts, and a language guess
    (``en``, ``not-en`` or ``unknown``) from function words: the recognisers are English."""
    words = re.findall(r"[^\W\d_]+", text.lower())
    english = sum(1 for w in words if w in _ENGLISH)
    other = sum(1 for w in words if w in _OTHER)
    if len(words) < 3 or english == other == 0:
        language = "unknown"
    else:
        language = "en" if english > other else "not-en"
    return {
        "chars": len(text),
        "lines": text.count("\n") + 1 if text else 0,
        "words": len(words),
        "language": language,
    }
