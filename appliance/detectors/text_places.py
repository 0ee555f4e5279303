"""Place rules of the context scanner: facilities, known towns, streets and employers.

Each rule answers the last token of a place that starts (or ends) at a given token, or
``None``; the scanner decides from context whether to ask.
"""

from __future__ import annotations

import re

from appliance.detectors.text_lexicon import CLINICAL, STOP
from appliance.detectors.text_tokens import Span, TokenView
from appliance.detectors.text_vocabulary import (
    FACILITY,
    FACILITY_GENERIC,
    FACILITY_INNER,
    MOTION,
    NOT_EMPLOYER,
    PLACE_AFTER,
    PLACE_STOP,
    STREET_ENDS,
    words,
)

# A ward or building floor after its name: "from ellison 4", "TO FARR 6" (not "5 mg").
_WARD_NUMBER = re.compile(
    r"[ \t](\d{1,2})(?![\d./%:,\-])(?![ \t]*(?:mg|mcg|g|gm|kg|cc|ml|l|u|units?|meq|mmol|%|mm"
    r"|cm|hrs?|hours?|min|mins|minutes?|days?|x|times|to|-|/|am|pm|liters?|lpm)\b)"
)


_AT_FROM = frozenset({"at", "from", "via"})
# Facility words that are everyday nouns in prose: plain words before them need "at"/"from".
_INSTITUTION = words(
    "college university school academy church parish temple synagogue mosque airport police"
    " fire library hotel motel prison jail cemetery mall"
)
STATE_CODES = words(
    "al ak az ar ca co ct de dc fl ga hi id il in ia ks ky la me md ma mi mn ms mo mt ne nv"
    " nh nj nm ny nc nd oh ok or pa ri sc sd tn tx ut vt va wa wv wi wy pr"
)
# State codes that are also clinical shorthand or English words.
_CLINICAL_CODES = words("ca co ct de hi id in la me md ma mi ms ne nm nc ok or pa sc va vt wa")
# Words that end the name of a residence or home after a motion word: "at briarwood village".
_NAMED_ENDS = frozenset(
    {"village", "estates", "gardens", "commons", "residence", "residences", "towers"}
    | {"pavilion", "lodge", "inn", "apartments", "apts"}
)
# Facility words that are adjectives on their own: "free medical service", "adults living".
_NOT_FACILITY_END = frozenset({"medical", "living", "healthcare"})
_FACILITY_AS_ADJECTIVE = frozenset(
    {"care", "staff", "note", "notes", "student", "students", "assessment", "services"}
    | {"service", "team", "plan", "time", "needs", "supervision"}
)


class PlaceRules(TokenView):
    """Finds where a place name ends, on top of the token tests."""

    def _named_facility(self, j: int) -> int | None:
        """After a motion word, up to three words ending in a facility word, one of them a
        proper name rather than a generic one (``to radius nursing``, ``at harbor health``,
        ``via pro emergency ambulance``; not ``to cardiac rehab``, ``from nursing home``).
        Returns the last token."""
        tokens, proper = self.tokens, False
        motion = tokens[j - 1].low
        for k in range(j, min(j + 4, len(tokens))):
            low = tokens[k].low
            if (
                k > j
                and proper
                and (
                    low in FACILITY
                    or low in _NAMED_ENDS
                    or (low == "health" and motion in _AT_FROM)
                )
            ):
                while k + 1 < len(tokens) and tokens[k + 1].low in FACILITY and self.joined(k):
                    k += 1
                if tokens[k].low in _NOT_FACILITY_END:
                    return None
                if (
                    tokens[k].low in _INSTITUTION
                    and motion not in _AT_FROM
                    and all(self.lex.is_english(t.low) for t in tokens[j:k])
                ):
                    return None  # "willing to fund university research"
                if k + 1 < len(tokens) and self.joined(k):
                    after = tokens[k + 1].low
                    if after in {"home", "facility", "center", "centre"}:
                        return k + 1  # "radius nursing home"
                    if after in _FACILITY_AS_ADJECTIVE:
                        return None  # "to provide nursing care"
                return k
            if k == j and low == "the" and motion == "at" and self.joined(k):
                continue  # "at the colonial inn"
            if low in STOP or low in CLINICAL or low in PLACE_STOP or low in MOTION:
                return None
            if not self.name_shaped(tokens[k]) or (k + 1 < len(tokens) and not self.joined(k)):
                return None
            if self.mixed and not (self.titled(tokens[k]) or tokens[k].text.isupper()):
                return None  # in mixed-case text a name is capitalised: "in human health"
            proper = proper or not (
                low in FACILITY_INNER or low in FACILITY_GENERIC or low in FACILITY
            )
        return None

    def _town_before_state(self, i: int) -> int | None:
        """Last token of a known town (one or two words) at ``i`` that a state code follows
        in the note's letter case (``worcester, ma``, ``NASHUA NH``); codes that are also
        clinical shorthand (``ca``, ``ct``, ``md``, ``pa``, ``mi``, ``vt``) need a comma and
        a capitalised town."""
        tokens = self.tokens
        for last in (i + 1, i):
            if last + 1 >= len(tokens) or not self.follows(last, allow=","):
                continue
            phrase = " ".join(t.low for t in tokens[i : last + 1])
            if phrase not in self.lex.places or any(
                t.low in CLINICAL or t.low in STOP for t in tokens[i : last + 1]
            ):
                continue
            if last > i and not self.joined(i):
                continue
            common = any(self.lex.is_common(t.low) for t in tokens[i : last + 1])
            if common and not (self.titled(tokens[i]) or "," in self.gap(last)):
                continue  # "normal FL", "reading ma": a word, not a town
            code = tokens[last + 1]
            if len(code.text) != 2 or code.low not in STATE_CODES:
                continue
            if self.mixed and not code.text.isupper():
                continue
            if code.low in _CLINICAL_CODES and not (
                "," in self.gap(last) and (self.titled(tokens[i]) or tokens[i].text.isupper())
            ):
                continue
            return last
        return None

    def _ward(self, j: int) -> Span | None:
        """After a motion word, a ward or building and its floor: ``from ellison 4``,
        ``TO FARR 6``: a proper word in no vocabulary, then a one- or two-digit number."""
        t = self.tokens[j]
        if len(t.low) < 4 or not self.name_shaped(t) or self.lex.is_vocabulary(t.low):
            return None
        if not (self.lex.is_name(t.low) or self.unknown(t) or t.low in self.lex.places):
            return None
        number = _WARD_NUMBER.match(self.text, t.end)
        if number is None:
            return None
        return self.span_chars(t.start, number.end(1), 0.75, "ward")

    def _facility_start(self, i: int) -> int | None:
        """First token of the proper name before the facility word at ``i``, if any."""
        first, proper = i, False
        while first > 0 and i - first < 4 and self.joined(first - 1):
            prev = self.tokens[first - 1]
            if prev.low in FACILITY_INNER:
                first -= 1
                continue
            if prev.low in STOP or prev.low in PLACE_STOP or prev.low in MOTION:
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
        if not proper or first >= i:
            return None
        if self.tokens[i].low in _INSTITUTION and all(
            self.lex.is_english(t.low) and not self.titled(t) and t.low not in self.lex.places
            for t in self.tokens[first:i]
        ):
            return None  # "to fund university research": plain words before an everyday noun
        return first

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
            if (
                phrase in self.lex.places
                and phrase not in PLACE_STOP
                and phrase not in STOP
                and phrase not in self.lex.broad
            ):
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
