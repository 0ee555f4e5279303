"""Names and places by lexicon and context, in any letter case.

Real notes are lower case, ALL CAPS or shorthand, so letter case is a weak cue here and
context carries the weight: a title (``dr.``, ``MR``), a relation word (``daughter``,
``wife``), a label (``dictated by``), a credential after (``, RN``), a facility word after
(``... hospital``, ``... rehab``) or a motion word before a known place (``from``,
``lives in``). Without context, a word counts as a name only when the name lexicon has it
and the vocabulary of non-names (English, clinical, drugs) does not.

One pass over word tokens and set look-ups: linear in the text's length.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from appliance.detectors.text_lexicon import CLINICAL, STOP, Lexicon
from appliance.detectors.text_vocabulary import (
    BY_VERBS,
    CREDENTIALS,
    EMPLOYED,
    EPONYM_NEXT,
    FACILITY,
    FACILITY_INNER,
    LABELS,
    MOTION,
    MOVED,
    NOT_EMPLOYER,
    PLACE_AFTER,
    PLACE_STOP,
    RELATIONS,
    ROLES,
    STREET_ENDS,
    STRONG_LABELS,
    TITLES,
)
from appliance.domain.findings import FindingKind

_WORD = re.compile(r"[A-Za-z]+(?:['’\-][A-Za-z]+)*")
# Words that introduce a name that may be in no lexicon (a label or an author line).


@dataclass(frozen=True)
class Span:
    """A context finding: kind, character span, score and the rule that made it."""

    kind: FindingKind
    start: int
    end: int
    score: float
    rule: str


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    text: str
    low: str


def _key(word: str) -> str:
    """The look-up form of a word: lower case, without a possessive ``'s``."""
    low = word.lower()
    return low[:-2] if len(low) > 3 and low[-2:] in {"'s", "’s"} else low


def _case_style(tokens: list[_Token]) -> str:
    """``upper``, ``lower`` or ``mixed``: whether letter case can tell proper nouns."""
    words = [t.text for t in tokens if len(t.text) > 1]
    if not words:
        return "mixed"
    upper = sum(w.isupper() for w in words) / len(words)
    lower = sum(w.islower() for w in words) / len(words)
    return "upper" if upper > 0.6 else "lower" if lower > 0.85 else "mixed"


class ContextScanner:
    """Finds person names and places in one text (see the module docstring)."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lex = lexicon
        # First words of the listed facility phrases: most tokens need no phrase look-up.
        self.facility_starts = frozenset(_key(p.split()[0]) for p in lexicon.facilities)

    def scan(self, text: str) -> list[Span]:
        tokens = [
            _Token(m.start(), m.end(), m.group(), _key(m.group())) for m in _WORD.finditer(text)
        ]
        return list(_Scan(self.lex, text, tokens, self.facility_starts).run())


class _Scan:
    def __init__(
        self, lex: Lexicon, text: str, tokens: list[_Token], facility_starts: frozenset[str]
    ) -> None:
        self.lex, self.text, self.tokens = lex, text, tokens
        self.facility_starts = facility_starts
        style = _case_style(tokens)
        self.mixed = style == "mixed"
        # In lower-case text a capitalised word stands out all the more ("pt's wife Jane Doe"
        # in a lower-case note, or "patient_name: Jane Doe" among lower-case field names).
        self.case_tells = style != "upper"

    # --- token tests -----------------------------------------------------------------
    def gap(self, i: int) -> str:
        """The characters between token ``i`` and token ``i + 1``."""
        return self.text[self.tokens[i].end : self.tokens[i + 1].start]

    def joined(self, i: int) -> bool:
        """Tokens ``i`` and ``i + 1`` sit in one phrase (space, or an initial's dot)."""
        gap = self.gap(i)
        return (gap.strip() == "" and "\n" not in gap) or (
            gap.strip() == "." and len(self.tokens[i].text) == 1
        )

    def titled(self, t: _Token) -> bool:
        return self.case_tells and t.text[0].isupper() and not t.text.isupper()

    def sentence_start(self, i: int) -> bool:
        if i == 0:
            return True
        gap = self.text[self.tokens[i - 1].end : self.tokens[i].start]
        return "\n" in gap or gap.strip()[-1:] in {".", ":", ";", "!", "?"}

    @staticmethod
    def name_shaped(t: _Token) -> bool:
        """Lower, UPPER or Title case (not ``miR``, ``siRNA``)."""
        text = t.text.replace("'", "").replace("-", "").replace("’", "")
        return text.isalpha() and (
            text.islower() or text.isupper() or (text[0].isupper() and text[1:].islower())
        )

    def lexical_name(self, t: _Token) -> bool:
        """A lexicon name that is no other word, shaped like a name (``Kathy``, ``KATHY``,
        ``kathy``; not ``miR``), four letters or more unless capitalised in mixed text."""
        if not self.lex.is_name(t.low) or self.lex.is_common(t.low):
            return False
        if not self.name_shaped(t):
            return False
        return len(t.low) >= 4 or (len(t.low) == 3 and self.titled(t))

    def shaped_name(self, i: int) -> bool:
        """In mixed-case text, a capitalised lexicon name in mid-sentence that is only a
        dictionary word otherwise (``Miller``, ``Rose``)."""
        t = self.tokens[i]
        return (
            self.titled(t)
            and self.lex.is_name(t.low)
            and not self.lex.is_vocabulary(t.low)
            and not self.sentence_start(i)
        )

    def eponym(self, i: int) -> bool:
        """A name that names a disease, sign or scale (``Huntington disease``)."""
        j = i + 1
        if j < len(self.tokens) and self.tokens[j].low in {"s"}:
            j += 1
        return j < len(self.tokens) and self.tokens[j].low in EPONYM_NEXT

    def unknown(self, t: _Token) -> bool:
        """Not an English or clinical word: a proper noun or a typo."""
        bare = t.low.replace("'", "").replace("’", "").replace("-", "")
        return not self.lex.is_common(t.low) and len(bare) > 1 and bare.isalpha()

    def name_part(self, t: _Token) -> bool:
        """Good enough to continue a name already started."""
        if t.low in STOP or t.low in CREDENTIALS or t.low in FACILITY:
            return False
        return (
            (
                self.lex.is_name(t.low)
                and (not self.lex.is_common(t.low) or self.titled(t) or t.text.isupper())
            )
            or self.unknown(t)
            or (self.titled(t) and not self.lex.is_common(t.low))
        )

    # --- spans -------------------------------------------------------------------------
    def extend(self, first: int, last: int, limit: int = 3) -> int:
        """Index of the last token of the name that starts at ``first``..``last``."""
        while last + 1 < len(self.tokens) and last - first + 1 < limit and self.joined(last):
            nxt = self.tokens[last + 1]
            if len(nxt.text) == 1 and nxt.text.isalpha() and self.gap(last).strip() == "":
                last += 1  # a middle initial
                continue
            if not self.name_part(nxt):
                break
            last += 1
        return last

    def span(self, kind: FindingKind, first: int, last: int, score: float, rule: str) -> Span:
        if kind is FindingKind.PERSON_NAME and self.signed(last):
            score = max(score, 0.85)
        return Span(kind, self.tokens[first].start, self.tokens[last].end, score, rule)

    def signed(self, last: int) -> bool:
        """A credential follows: ``Samuel Ortiz, MD`` (not Maryland)."""
        if last + 1 >= len(self.tokens):
            return False
        after = self.tokens[last + 1]
        return (
            after.low in CREDENTIALS
            and after.text.isupper()
            and self.gap(last).strip() in {",", ""}
        )

    def run(self) -> Iterator[Span]:
        tokens, n = self.tokens, len(self.tokens)
        i = 0
        while i < n:
            t = tokens[i]
            nxt = tokens[i + 1] if i + 1 < n else None
            # title + name: "dr. nguyen", "MR SMITH", "Dr. Helen Tran"
            if (
                t.low in TITLES
                and nxt is not None
                and self._follows(i, allow=".")
                and (nxt.low not in STOP and nxt.low not in TITLES and not nxt.low.isdigit())
                and not (nxt.low in self.lex.english and not self.lex.is_name(nxt.low))
            ):
                last = self.extend(i + 1, i + 1)
                yield self.span(FindingKind.PERSON_NAME, i + 1, last, 0.9, "title")
                i = last + 1
                continue
            # relation + first name: "daughter kathy", "WIFE MARTHA", "son, Michael"
            if t.low in RELATIONS and nxt is not None:
                j = i + 1
                if nxt.low in {"is", "named"} and j + 1 < n:
                    j += 1
                cand = tokens[j]
                if (
                    self._follows(j - 1, allow=",:(-")
                    and cand.low not in STOP
                    and (
                        cand.low in self.lex.first
                        or self.lexical_name(cand)
                        or (self.titled(cand) and self.unknown(cand))
                    )
                ):
                    last = self.extend(j, j)
                    yield self.span(FindingKind.PERSON_NAME, j, last, 0.85, "relation")
                    i = last + 1
                    continue
            # a listed facility, health system or region: "mgh", "AT KINDRED", "cape cod"
            known = self._known_facility(i)
            if known is not None:
                yield self.span(FindingKind.ADDRESS, i, known, 0.8, "facility_name")
                i = known + 1
                continue
            # saint + name: "St. Agnes", "ST ELIZABETH'S"
            if (
                t.low in {"st", "saint"}
                and nxt is not None
                and self._follows(i, allow=".")
                and (nxt.low in self.lex.first or nxt.low in self.lex.last)
                and not nxt.text.isdigit()
            ):
                last = self.extend(i + 1, i + 1, limit=2)
                if last + 1 < n and tokens[last + 1].low in FACILITY and self.joined(last):
                    last += 1
                yield self.span(FindingKind.ADDRESS, i, last, 0.8, "saint")
                i = last + 1
                continue
            # facility word after proper words: "lowell general hospital", "SPAULDING REHAB"
            if t.low in FACILITY and i > 0:
                first = self._facility_start(i)
                if first is not None:
                    end = (
                        i + 1
                        if nxt is not None and nxt.low in {"center", "centre"} and self.joined(i)
                        else i
                    )
                    yield self.span(FindingKind.ADDRESS, first, end, 0.8, "facility")
                    i = end + 1
                    continue
            # motion word + known place: "from milford", "lives in Quincy"
            if t.low in MOTION and nxt is not None and self._follows(i, allow=""):
                strong = (
                    t.low == "via"
                    or (i > 0 and tokens[i - 1].low in MOVED)
                    or (t.low == "in" and self._street_end(i - 1))
                )
                place = self._known_facility(i + 1) or self._place(i + 1, strong)
                if place is not None:
                    yield self.span(FindingKind.ADDRESS, i + 1, place, 0.75, "place")
                    i = place + 1
                    continue
            # employer: "works at market basket", "EMPLOYED BY RAYTHEON"
            if (
                t.low in {"at", "for", "by"}
                and i > 0
                and tokens[i - 1].low in EMPLOYED
                and nxt is not None
                and self._follows(i, allow="")
            ):
                last = self._employer(i + 1)
                if last is not None:
                    yield self.span(FindingKind.ADDRESS, i + 1, last, 0.7, "employer")
                    i = last + 1
                    continue
            # town after a street: "12 elm st, fall river"
            if self._street_end(i) and nxt is not None and self._follows(i, allow=","):
                place = self._place(i + 1, strong=True)
                if place is not None:
                    yield self.span(FindingKind.ADDRESS, i + 1, place, 0.75, "place")
                    i = place + 1
                    continue
            # role + name: "MD NGUYEN AWARE", "rn kathy", "np o'brien"
            if (
                t.low in ROLES
                and nxt is not None
                and self._follows(i, allow=":-")
                and nxt.low not in STOP
                and nxt.low not in ROLES
                and self.name_shaped(nxt)
                and len(nxt.low) > 2
                and (self.lexical_name(nxt) or self.unknown(nxt) or nxt.low in self.lex.first)
                and not self.lex.is_vocabulary(nxt.low)
            ):
                last = self.extend(i + 1, i + 1)
                yield self.span(FindingKind.PERSON_NAME, i + 1, last, 0.75, "role")
                i = last + 1
                continue
            # label + name: "dictated by: Samuel Ortiz", "PCP: Dr ..."
            if t.low in LABELS and nxt is not None and self._follows(i, allow=":-,"):
                strong = t.low in STRONG_LABELS and (
                    t.low != "by" or (i > 0 and tokens[i - 1].low in BY_VERBS)
                )
                if (
                    nxt.low not in STOP
                    and self.name_shaped(nxt)
                    and (
                        self.lexical_name(nxt)
                        or (strong and self.unknown(nxt))
                        or (
                            self.titled(nxt)
                            and self.unknown(nxt)
                            and not self.sentence_start(i + 1)
                        )
                    )
                ):
                    last = self.extend(i + 1, i + 1)
                    yield self.span(FindingKind.PERSON_NAME, i + 1, last, 0.7, "label")
                    i = last + 1
                    continue
            # name, credential: "Jenna, RN", "Samuel Ortiz, MD"
            if (
                nxt is not None
                and nxt.low in CREDENTIALS
                and self.gap(i).strip() in {",", ""}
                and (nxt.text.isupper() or nxt.low == "phd")
                and t.low not in STOP
                and (self.unknown(t) or self.lex.is_name(t.low))
            ):
                first = i
                while (
                    first > 0
                    and i - first < 2
                    and self.joined(first - 1)
                    and self.name_part(tokens[first - 1])
                ):
                    first -= 1
                yield self.span(FindingKind.PERSON_NAME, first, i, 0.8, "credential")
                i += 2
                continue
            # a lexicon name with no context: "KATHY", "michael"
            if (self.lexical_name(t) or self.shaped_name(i)) and not self.eponym(i):
                last = self.extend(i, i)
                if last + 1 < n and tokens[last + 1].low in FACILITY and self.joined(last):
                    yield self.span(FindingKind.ADDRESS, i, last + 1, 0.8, "facility")
                    i = last + 2
                    continue
                yield self.span(FindingKind.PERSON_NAME, i, last, 0.6, "lexicon")
                i = last + 1
                continue
            i += 1

    def _follows(self, i: int, allow: str) -> bool:
        """Token ``i + 1`` follows token ``i`` on the same line, separated by spaces and at
        most one of the characters in ``allow``."""
        gap = self.gap(i)
        core = gap.strip(" \t")
        return "\n" not in gap and (core == "" or (len(core) == 1 and core in allow))

    def _facility_start(self, i: int) -> int | None:
        """First token of the proper name before the facility word at ``i``, if any."""
        first, proper = i, False
        while first > 0 and i - first < 4 and self.joined(first - 1):
            prev = self.tokens[first - 1]
            if prev.low in FACILITY_INNER:
                first -= 1
                continue
            if prev.low in STOP or prev.low in PLACE_STOP:
                break
            if prev.low in self.lex.places or self.lex.is_name(prev.low) or self.unknown(prev):
                first -= 1
                proper = True
                continue
            break
        while first < i and self.tokens[first].low in FACILITY_INNER - {
            "st",
            "saint",
            "mount",
            "mt",
        }:
            first += 1
        return first if proper and first < i else None

    def _known_facility(self, i: int) -> int | None:
        """Last token of the longest listed facility or region phrase (up to four words)
        that starts at token ``i``. A phrase of English or clinical words only (``kindred``,
        ``north shore``: in the dictionary, clinical shorthand or a broad place) counts
        after a motion word (``at``, ``from``, ``lives on``), after
        another place, or before a facility word; any other (``mgh``, ``lahey``) anywhere."""
        tokens, best, phrase = self.tokens, None, ""
        if tokens[i].low not in self.facility_starts:
            return None
        for k in range(i, min(i + 4, len(tokens))):
            if k > i and not self.joined(k - 1):
                break
            phrase = f"{phrase} {tokens[k].text.lower()}" if phrase else tokens[k].text.lower()
            if phrase in self.lex.facilities:
                best = k
        if best is None:
            return None
        if tokens[best].low in FACILITY or tokens[best].low in {"general", "memorial", "medical"}:
            return best
        if any(not self.lex.is_english(t.low) for t in tokens[i : best + 1]):
            return best
        if best + 1 < len(tokens) and tokens[best + 1].low in FACILITY and self.joined(best):
            return best + 1
        if i == 0 or not self.joined(i - 1):
            return None
        before = tokens[i - 1].low
        return best if before in MOTION or before in PLACE_AFTER or self._is_place(i - 1) else None

    def _employer(self, j: int) -> int | None:
        """Last token of an employer's name (up to three words) starting at ``j``: words
        that are no stop word, clinical shorthand or generic place (``home``, ``the``)."""
        last = None
        for k in range(j, min(j + 3, len(self.tokens))):
            low = self.tokens[k].low
            if (
                low in STOP
                or low in CLINICAL
                or low in PLACE_STOP
                or low in MOTION
                or low in NOT_EMPLOYER
            ):
                break
            last = k
            if k + 1 >= len(self.tokens) or not self.joined(k):
                break
        return last

    def _street_end(self, k: int) -> bool:
        """Token ``k`` is a street suffix that ends a house number and a street name
        (``27 maple AVE``, ``14 Winter St.``)."""
        if k < 1 or self.tokens[k].low not in STREET_ENDS:
            return False
        before = self.text[self.tokens[max(0, k - 4)].start : self.tokens[k].start]
        return any(ch.isdigit() for ch in before)

    def _is_place(self, k: int) -> bool:
        """Token ``k`` ends a listed facility or a known town: ``KINDRED NORTH SHORE``."""
        low = self.tokens[k].text.lower()
        return low in self.lex.facilities or (
            low in self.lex.places and not self.lex.is_common(low)
        )

    def _place(self, j: int, strong: bool) -> int | None:
        """Last token of a known place (up to three words) starting at ``j``."""
        tokens, best = self.tokens, None
        phrase = ""
        for k in range(j, min(j + 3, len(tokens))):
            if k > j and not self.joined(k - 1):
                break
            phrase = f"{phrase} {tokens[k].low}".strip()
            if phrase in self.lex.places and phrase not in PLACE_STOP and phrase not in STOP:
                best = k
        if best is None:
            return self._unknown_place(j) if strong or tokens[j - 1].low in {"from", "at"} else None
        low = tokens[j].low
        if best == j and (low in STOP or low in PLACE_STOP or len(low) < 4):
            return None
        shaped = self.titled(tokens[j]) or (tokens[j].text.isupper() and self.mixed)
        if best == j and self.lex.is_common(low) and not (shaped or strong):
            return None  # "in clear", "to lower": a common word in lower-case text
        while (
            best + 1 < len(tokens)
            and best - j < 3
            and self.joined(best)
            and (
                tokens[best + 1].low in self.lex.places
                and not self.lex.is_common(tokens[best + 1].low)
            )
        ):
            best += 1
        return best

    def _unknown_place(self, j: int) -> int | None:
        """After ``from``/``at`` or a move (``transferred to``), a word in no vocabulary and
        no lexicon, shaped like a proper noun: a facility or town no list has
        (``from whidden``, ``at Kindred``). Returns its last token."""
        t = self.tokens[j]
        if not (self.unknown(t) and self.name_shaped(t) and len(t.low) >= 4):
            return None
        if self.mixed and not (self.titled(t) or t.text.isupper()):
            return None
        last = j
        while last + 1 < len(self.tokens) and last - j < 2 and self.joined(last):
            nxt = self.tokens[last + 1]
            if nxt.low in FACILITY or (self.unknown(nxt) and self.name_shaped(nxt)):
                last += 1
                continue
            break
        return last
