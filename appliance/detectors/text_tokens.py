"""Word tokens of a text and the tests the context rules ask of them.

A token is a run of letters (with inner apostrophes or hyphens); its look-up form is lower
case without a possessive ``'s``. The text's letter-case style (``upper``, ``lower`` or
``mixed``) decides whether capitals can tell proper nouns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.detectors.text_lexicon import STOP, Lexicon
from appliance.detectors.text_vocabulary import (
    CREDENTIALS,
    EPONYM_NEXT,
    EPONYMS,
    FACILITY,
    NICKNAMES,
)
from appliance.domain.findings import FindingKind

_CONTACT = frozenset({"called", "call", "per", "paged", "page", "notified", "told", "asked"})
_SPOKE = frozenset({"spoke", "talked", "spoken", "met", "discussed", "speak", "talk"})

WORD = re.compile(r"[A-Za-z]+(?:['’\-][A-Za-z]+)*")


@dataclass(frozen=True)
class Span:
    """A context finding: kind, character span, score and the rule that made it."""

    kind: FindingKind
    start: int
    end: int
    score: float
    rule: str


@dataclass(frozen=True)
class Token:
    """One word: its character span, its text and its look-up form."""

    start: int
    end: int
    text: str
    low: str


def tokenize(text: str) -> list[Token]:
    """The word tokens of ``text``, in order."""
    return [Token(m.start(), m.end(), m.group(), token_key(m.group())) for m in WORD.finditer(text)]


def token_key(word: str) -> str:
    """The look-up form of a word: lower case, without a possessive ``'s``."""
    low = word.lower()
    return low[:-2] if len(low) > 3 and low[-2:] in {"'s", "’s"} else low


def case_style(tokens: list[Token]) -> str:
    """``upper``, ``lower`` or ``mixed``: whether letter case can tell proper nouns."""
    words = [t.text for t in tokens if len(t.text) > 1]
    if not words:
        return "mixed"
    upper = sum(w.isupper() for w in words) / len(words)
    lower = sum(w.islower() for w in words) / len(words)
    return "upper" if upper > 0.6 else "lower" if lower > 0.85 else "mixed"


class TokenView:
    """One text's tokens and the questions rules ask of them (no rule of its own)."""

    def __init__(
        self, lex: Lexicon, text: str, tokens: list[Token], facility_starts: frozenset[str]
    ) -> None:
        self.lex, self.text, self.tokens = lex, text, tokens
        self.facility_starts = facility_starts
        style = case_style(tokens)
        self.mixed = style == "mixed"
        # In lower-case text a capitalised word stands out all the more ("pt's wife Jane Doe"
        # in a lower-case note, or "patient_name: Jane Doe" among lower-case field names).
        self.case_tells = style != "upper"
        self.last_name = self.last_place = -1
        """Last tokens of the latest person name and place found ("son art FROM ...",
        "the colonial inn IN concord")."""

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

    def titled(self, t: Token) -> bool:
        return self.case_tells and t.text[0].isupper() and not t.text.isupper()

    def sentence_start(self, i: int) -> bool:
        if i == 0:
            return True
        gap = self.text[self.tokens[i - 1].end : self.tokens[i].start]
        return "\n" in gap or gap.strip()[-1:] in {".", ":", ";", "!", "?"}

    @staticmethod
    def name_shaped(t: Token) -> bool:
        """Lower, UPPER or Title case (not ``miR``, ``siRNA``)."""
        text = t.text.replace("'", "").replace("-", "").replace("’", "")
        return text.isalpha() and (
            text.islower() or text.isupper() or (text[0].isupper() and text[1:].islower())
        )

    @staticmethod
    def possessive_eponym(t: Token) -> bool:
        """A disease named by a surname: ``parkinson's``, ``BELL'S``."""
        return t.low in EPONYMS and t.text[-2:].lower() in {"'s", "’s"}

    def lexical_name(self, t: Token) -> bool:
        """A lexicon name that is no other word, shaped like a name (``Kathy``, ``KATHY``,
        ``kathy``; not ``miR``), four letters or more unless capitalised in mixed text."""
        if not self.lex.is_name(t.low) or self.lex.is_common(t.low) or self.possessive_eponym(t):
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
            and not self.possessive_eponym(t)
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

    def unknown(self, t: Token) -> bool:
        """Not an English or clinical word: a proper noun or a typo."""
        bare = t.low.replace("'", "").replace("’", "").replace("-", "")
        return not self.lex.is_common(t.low) and len(bare) > 1 and bare.isalpha()

    def name_part(self, t: Token) -> bool:
        """Good enough to continue a name already started."""
        if t.low in STOP or t.low in CREDENTIALS or t.low in FACILITY or self.possessive_eponym(t):
            return False
        return (
            (
                self.lex.is_name(t.low)
                and (not self.lex.is_common(t.low) or self.titled(t) or t.text.isupper())
            )
            or self.unknown(t)
            or (self.titled(t) and not self.lex.is_common(t.low))
        )

    def hyphen_name(self, word: str) -> bool:
        """The part after ``wife-``: a listed first name or nickname, not a word."""
        return (word in self.lex.first or word in NICKNAMES) and not self.lex.is_vocabulary(word)

    def contacted(self, i: int) -> bool:
        """Token ``i`` is a three-letter first name in no vocabulary right after a verb
        of contact: ``called jen``, ``SPOKE WITH LIZ``, ``per liz``."""
        t = self.tokens[i]
        if i == 0 or len(t.low) != 3 or not self.name_shaped(t) or not self.follows(i - 1, ""):
            return False
        if t.low not in self.lex.first or self.lex.is_english(t.low):
            return False
        before = self.tokens[i - 1].low
        if before in {"with", "to"}:
            return i > 1 and self.tokens[i - 2].low in _SPOKE
        return before in _CONTACT

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
        if kind is FindingKind.ADDRESS:
            self.last_place = last
        if kind is FindingKind.PERSON_NAME:
            self.last_name = last
            if self.signed(last):
                score = max(score, 0.85)
        return Span(kind, self.tokens[first].start, self.tokens[last].end, score, rule)

    def span_chars(self, start: int, end: int, score: float, rule: str) -> Span:
        """An address span by character offsets (a ward and its floor number)."""
        return Span(FindingKind.ADDRESS, start, end, score, rule)

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

    def follows(self, i: int, allow: str) -> bool:
        """Token ``i + 1`` follows token ``i`` on the same line, separated by spaces and at
        most one of the characters in ``allow``."""
        gap = self.gap(i)
        core = gap.strip(" \t")
        return "\n" not in gap and (core == "" or (len(core) == 1 and core in allow))
