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

from collections.abc import Iterator

from appliance.detectors.text_lexicon import CLINICAL, STOP, Lexicon
from appliance.detectors.text_places import PlaceRules
from appliance.detectors.text_tokens import Span, Token, token_key, tokenize
from appliance.detectors.text_vocabulary import (
    AFTER_TITLE,
    BY_VERBS,
    CREDENTIALS,
    EMPLOYED,
    FACILITY,
    LABELS,
    MOTION,
    MOVED,
    NICKNAMES,
    RELATIONS,
    RESIDENT,
    ROLES,
    SERVICES,
    STRONG_LABELS,
    SURE_TITLES,
    TITLES,
)
from appliance.domain.findings import FindingKind

__all__ = ["ContextScanner", "Span"]

_AMBULANCE = frozenset({"ambulance", "amb", "ems", "rescue", "medflight"})
_LOWER_CREDENTIALS = frozenset({"rn", "md", "np", "lpn", "cna", "msw", "lcsw"})


class ContextScanner:
    """Finds person names and places in one text (see the module docstring)."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lex = lexicon
        # First words of the listed facility phrases: most tokens need no phrase look-up.
        self.facility_starts = frozenset(token_key(p.split()[0]) for p in lexicon.facilities)

    def scan(self, text: str) -> list[Span]:
        return list(_Scan(self.lex, text, tokenize(text), self.facility_starts).run())


class _Scan(PlaceRules):
    """The rules, in order, over one text's tokens."""

    def _relation_name(self, cand: Token) -> bool:
        """A word after a relation word that names the relative: a first name, a lexicon
        name, or a word in no vocabulary (capitalised where the text is mixed case)."""
        if cand.low in STOP or cand.low in RELATIONS:
            return False
        if cand.low in self.lex.first or self.lexical_name(cand):
            return True
        if cand.low in NICKNAMES:  # "son art from", "WIFE PEG CALLED", "dtr art."
            after = self.text[cand.end : cand.end + 16].lstrip(" \t")
            word = after.split(maxsplit=1)[0].lower().strip(".,;:") if after else ""
            return not after or not after[0].isalpha() or word in STOP  # "wife art teacher"
        if not (self.unknown(cand) and self.name_shaped(cand) and len(cand.low) >= 3):
            return False
        if self.lex.misspelt(cand.low):
            return False  # "wife vistied", "son aksed"
        return not self.mixed or self.titled(cand) or cand.text.isupper()

    def _after_report(self, i: int) -> bool:
        """Token ``i`` (``to``/``from``) follows ``report`` (``report given to``, ``REPORT
        CALLED TO``, ``report from``): a nurse's name comes next."""
        before = [t.low for t in self.tokens[max(0, i - 2) : i]]
        return "report" in before

    def _credential(self, k: int) -> bool:
        """Token ``k`` is a credential written as one: ``MD``, ``RN``, ``PhD``; in a
        lower-case note also ``rn``, ``md``, ``np`` (not ``do``, ``pa``)."""
        t = self.tokens[k]
        if t.low not in CREDENTIALS:
            return False
        lower_note = self.case_tells and not self.mixed
        return t.text.isupper() or t.low == "phd" or (lower_note and t.low in _LOWER_CREDENTIALS)

    def _dotted_md(self, k: int) -> bool:
        """Tokens ``k`` and ``k + 1`` spell ``M.D.`` (or ``R.N.``)."""
        if k + 1 >= len(self.tokens) or self.gap(k) != ".":
            return False
        pair = self.tokens[k].text + self.tokens[k + 1].text
        return pair.upper() in {"MD", "RN", "NP", "PA", "DO"} and (
            self.text[self.tokens[k + 1].end : self.tokens[k + 1].end + 1] == "."
        )

    def _title_name(self, i: int) -> bool:
        """Token ``i`` is a title and the next word a name: ``dr. nguyen``, ``DR LONG``,
        ``Dr. Street``; not ``per dr order``, ``ms intact``, ``mr 2+``."""
        nxt = self.tokens[i + 1]
        if not self.follows(i, allow=".") or nxt.low in STOP or nxt.low in TITLES:
            return False
        if nxt.low.isdigit() or (nxt.low in AFTER_TITLE and self.lex.is_english(nxt.low)):
            return False
        if nxt.low not in self.lex.english or self.lex.is_name(nxt.low):
            return True
        sure = self.tokens[i].low in SURE_TITLES or self.gap(i).strip() == "."
        return (
            sure
            and nxt.low not in AFTER_TITLE
            and nxt.low not in CLINICAL
            and not nxt.low.endswith(("ed", "ing", "ly", "s"))  # "dr believes", "dr agreed"
        )

    def run(self) -> Iterator[Span]:
        tokens, n = self.tokens, len(self.tokens)
        i = 0
        while i < n:
            t = tokens[i]
            nxt = tokens[i + 1] if i + 1 < n else None
            # title + name: "dr. nguyen", "MR SMITH", "Dr. Helen Tran"
            if t.low in TITLES and nxt is not None and self._title_name(i):
                last = self.extend(i + 1, i + 1)
                yield self.span(FindingKind.PERSON_NAME, i + 1, last, 0.9, "title")
                # a second surname after a slash: "DRS MARCHETTI/OYELARAN"
                if last + 1 < n and self.gap(last) == "/" and self.name_part(tokens[last + 1]):
                    last += 1
                    yield self.span(FindingKind.PERSON_NAME, last, last, 0.8, "title")
                i = last + 1
                continue
            # relation + first name: "daughter kathy", "WIFE MARTHA", "son, Michael",
            # "daughter in law joy", "sons kieran and finbar"
            if t.low in RELATIONS and nxt is not None:
                j = i + 1
                if nxt.low in {"is", "named"} and j + 1 < n:
                    j += 1
                elif nxt.low == "in" and j + 2 < n and tokens[j + 1].low == "law":
                    j += 2
                # "husband \"gus\"": a quoted name
                if self.follows(j - 1, allow=',:(-"') and self._relation_name(tokens[j]):
                    last = self.extend(j, j)
                    yield self.span(FindingKind.PERSON_NAME, j, last, 0.85, "relation")
                    # "... and finbar": a second name joined to the first
                    while (
                        last + 2 < n
                        and tokens[last + 1].low in {"and", "&"}
                        and self.joined(last)
                        and self.joined(last + 1)
                        and self._relation_name(tokens[last + 2])
                    ):
                        j = last + 2
                        last = self.extend(j, j)
                        yield self.span(FindingKind.PERSON_NAME, j, last, 0.8, "relation")
                    i = last + 1
                    continue
            # relation and first name joined by a hyphen: "wife-lorna", "DTR-GWEN"
            head, _, tail = t.low.partition("-")
            if tail and head in RELATIONS and "-" not in tail and self.hyphen_name(tail):
                yield Span(FindingKind.PERSON_NAME, t.end - len(tail), t.end, 0.8, "relation")
                i += 1
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
                and self.follows(i, allow=".")
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
            # an ambulance service after "by": "BROUGHT IN BY CATARACT AMBULANCE"
            if t.low == "by" and nxt is not None and self.follows(i, allow=""):
                last = self._named_facility(i + 1)
                if last is not None and tokens[last].low in _AMBULANCE:
                    yield self.span(FindingKind.ADDRESS, i + 1, last, 0.75, "place")
                    i = last + 1
                    continue
            # motion word + known place: "from milford", "lives in Quincy"
            resident_of = t.low == "of" and i > 0 and tokens[i - 1].low in RESIDENT
            if (t.low in MOTION or resident_of) and nxt is not None and self.follows(i, allow=""):
                strong = (
                    resident_of
                    or (t.low == "via" and not self.lex.is_english(nxt.low))
                    or (i > 0 and tokens[i - 1].low in MOVED)
                    or (t.low in {"from", "in"} and i - 1 in {self.last_name, self.last_place})
                    or (t.low == "in" and self._street_end(i - 1))
                )
                ward = self._ward(i + 1) if t.low != "in" else None
                if ward is not None:
                    yield ward
                    i += 2
                    continue
                place = (
                    self._named_facility(i + 1)
                    or self._known_facility(i + 1)
                    or self._place(i + 1, strong)
                )
                if place is not None and not self.signed(place):  # "to Hope, RN"
                    yield self.span(FindingKind.ADDRESS, i + 1, place, 0.75, "place")
                    i = place + 1
                    continue
            # employer: "works at market basket", "EMPLOYED BY RAYTHEON"
            if (
                t.low in {"at", "for", "by"}
                and i > 0
                and tokens[i - 1].low in EMPLOYED
                and nxt is not None
                and self.follows(i, allow="")
            ):
                last = self._employer(i + 1)
                if last is not None:
                    yield self.span(FindingKind.ADDRESS, i + 1, last, 0.7, "employer")
                    i = last + 1
                    continue
            # town after a street: "12 elm st, fall river"
            if self._street_end(i) and nxt is not None and self.follows(i, allow=","):
                place = self._place(i + 1, strong=True)
                if place is not None:
                    yield self.span(FindingKind.ADDRESS, i + 1, place, 0.75, "place")
                    i = place + 1
                    continue
            # known town before a state code: "worcester, ma", "NASHUA NH", "Albany, NY"
            if t.low in self.lex.places and nxt is not None:
                town = self._town_before_state(i)
                if town is not None:
                    yield self.span(FindingKind.ADDRESS, i, town, 0.75, "town_state")
                    i = town + 1
                    continue
            # role + name: "MD NGUYEN AWARE", "rn kathy", "np o'brien"
            if (
                t.low in ROLES
                and nxt is not None
                and self.follows(i, allow=":-")
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
            # role or service, then a name in brackets: "sw (hollis)", "NUTRITION (DEIRDRE)"
            if (
                (t.low in ROLES or t.low in SERVICES)
                and nxt is not None
                and self.gap(i).strip() == "("
                and self.gap(i + 1).strip().startswith(")")
                and nxt.low not in STOP
                and nxt.low not in CLINICAL
                and self.name_shaped(nxt)
                and (nxt.low in self.lex.first or nxt.low in self.lex.last or self.unknown(nxt))
            ):
                yield self.span(FindingKind.PERSON_NAME, i + 1, i + 1, 0.75, "role")
                i += 2
                continue
            # label + name: "dictated by: Samuel Ortiz", "PCP: Dr ..."
            if t.low in LABELS and nxt is not None and self.follows(i, allow=":-,"):
                strong = (
                    t.low in STRONG_LABELS
                    and (t.low != "by" or (i > 0 and tokens[i - 1].low in BY_VERBS))
                ) or (t.low in {"to", "from"} and self._after_report(i))
                if (
                    nxt.low not in STOP
                    and nxt.low not in CLINICAL
                    and self.name_shaped(nxt)
                    and (
                        self.lexical_name(nxt)
                        or (strong and (self.unknown(nxt) or nxt.low in self.lex.first))
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
            # name (relation): "GRACE (DAUGHTER)", "kathy (wife)"
            if (
                nxt is not None
                and nxt.low in RELATIONS
                and self.gap(i).strip() == "("
                and t.low not in STOP
                and self.name_shaped(t)
                and (t.low in self.lex.first or self.lexical_name(t) or self.unknown(t))
            ):
                first = (
                    i - 1 if i > 0 and self.joined(i - 1) and self.name_part(tokens[i - 1]) else i
                )
                yield self.span(FindingKind.PERSON_NAME, first, i, 0.8, "relation_after")
                i += 2
                continue
            # name, credential: "Jenna, RN", "Samuel Ortiz, MD", "FILBERT BRIGHT, M.D."
            if (
                nxt is not None
                and (self._credential(i + 1) or self._dotted_md(i + 1))
                and self.gap(i).strip() in {",", ""}
                and t.low not in STOP
                and (
                    self.unknown(t)
                    or self.lex.is_name(t.low)
                    or (  # a surname that is also a word, after a first name
                        i > 0
                        and self.joined(i - 1)
                        and self.name_shaped(t)
                        and t.low not in CLINICAL
                        and tokens[i - 1].low in self.lex.first
                        and tokens[i - 1].low not in STOP
                    )
                )
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
            # a lexicon name with no context: "KATHY", "michael"; a short one after a
            # contact verb: "called jen", "SPOKE WITH LIZ", "per liz rn"
            if (
                self.lexical_name(t) or self.shaped_name(i) or self.contacted(i)
            ) and not self.eponym(i):
                last = self.extend(i, i)
                if last + 1 < n and tokens[last + 1].low in FACILITY and self.joined(last):
                    yield self.span(FindingKind.ADDRESS, i, last + 1, 0.8, "facility")
                    i = last + 2
                    continue
                yield self.span(FindingKind.PERSON_NAME, i, last, 0.6, "lexicon")
                i = last + 1
                continue
            i += 1
