"""Building blocks of our own text recognisers: the pattern type, regex fragments for
identifiers, phones, dates, places and names, and the validators that patterns call.

Plain ``re``, so this module is cheap to load and to test.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from appliance.domain.findings import FindingKind

ICASE = re.IGNORECASE


@dataclass(frozen=True)
class TextPattern:
    """One recogniser pattern: what it finds, how sure a match makes us, and a validator."""

    name: str
    kind: FindingKind
    regex: re.Pattern[str]
    score: float
    validate: Callable[[str, int, int], bool] | None = None
    """Called with the whole text and the value's span; False drops the match."""
    trim: Callable[[str, int, int], tuple[int, int]] | None = None
    """Narrows the value's span before validation (drops words that are no name)."""
    needs: tuple[str, ...] = ()
    """Lower-case strings of which the text must hold one for the pattern to match at all
    (its keywords): a substring test on the case-folded text skips the regex on most texts.
    Case folding maps every character that ``re.IGNORECASE`` matches to a letter onto that
    letter (``ſ`` to ``s``, the Kelvin sign to ``k``), so the test never skips a match."""

    def finditer(
        self, text: str, low: str | None = None, *, gate: bool = True
    ) -> Iterator[tuple[int, int, float]]:
        """``(start, end, score)`` of every valid match in ``text`` (``low``: the text
        case-folded, if the caller has it; ``gate=False`` runs the regex even when no
        keyword is present, as the linear-time test does)."""
        if gate and self.needs:
            low = text.casefold() if low is None else low
            if not any(word in low for word in self.needs):
                return
        for match in self.regex.finditer(text):
            start, end = match.span("v") if "v" in self.regex.groupindex else (-1, -1)
            if start < 0:
                start, end = match.span()
            if self.trim is not None:
                start, end = self.trim(text, start, end)
            if end <= start:
                continue
            if self.validate is not None and not self.validate(text, start, end):
                continue
            yield start, end, self.score


# An identifier token: letters/digits with inner separators, at least one digit, 4+ chars.
ID = r"(?=[A-Za-z0-9\-/.]*\d)[A-Za-z0-9](?:[A-Za-z0-9]|[-./](?=[A-Za-z0-9])){3,30}"
# What sits between a keyword and its value: "#", ":", "no.", "number", "id", "is" ...
SEP = (
    r"(?i:(?:\s*(?:\#|:|=|-|\bno\b\.?|\bnos?\.|\bnumber\b|\bnum\b\.?|\bnbr\b|\bid\b|\bis\b"
    r"|\bof\b|\bon\s+file\b)){0,4})\s*"
)
ID_WORD = r"\s*(?i:id\b|identifier|number|no\b\.?|\#|num\b|nbr\b|code\b)"
PHONE = (
    r"(?:\+?1[\s.\-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.\-]?)\d{3}[\s.\-]\d{4}"
    r"(?:\s*(?:x|ext\.?|extension)\s*\d{1,5})?"
)
MONTH = (
    r"(?-i:(?!may\b))(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?"
    r"|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
YEAR = r"(?:1[89]\d\d|2[01]\d\d)"
STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|"
    "NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR"
)
STATE_NAMES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|"
    "Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|"
    "Massachusetts|Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|"
    "New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|"
    "Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|"
    "Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming|Puerto Rico"
)
STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Circle|Cir"
    r"|Way|Place|Pl|Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Trail|Trl|Square|Sq|Loop|Pike"
    r"|Plaza|Alley|Crescent|Close|Row)\b\.?"
)
NAME = r"[A-Z][a-zA-Z'\-]+"
TITLES = r"(?:Dr|Mr|Mrs|Ms|Mx|Miss|Prof|Rev)\.?"
CREDENTIALS = (
    r"(?:,?\s+(?:MD|M\.D\.|RN|PhD|DDS|DMD|MSW|LCSW|PharmD|CNM|CRNA|APRN|FNP|FACP)"
    r"|,\s+(?:DO|NP|PA-C|PA))\b"
)


def c(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def keyed(strong: str, weak: str = "", value: str = ID) -> re.Pattern[str]:
    """Keyword, separator, then the value as group ``v`` (keywords are case-insensitive).

    ``strong`` keywords introduce an identifier on their own (``MRN 123``); ``weak`` ones
    only when an id word follows (``order number 123``, not ``order 1000 mL``). Either may
    be followed by up to three words before an id word (``Medicaid recipient ID 123``,
    ``Insurance: Aetna, ID 123``).
    """
    anyword = f"{strong}|{weak}" if weak else strong
    loose = rf"(?:{anyword})(?:[\s,:;()\-]+[A-Za-z][A-Za-z'.]*){{1,3}}?[\s,:;()\-]*{ID_WORD}"
    keys = rf"{strong}|(?:{weak}){ID_WORD}|{loose}" if weak else rf"{strong}|{loose}"
    boundary = r"(?:(?<![A-Za-z])|(?![A-Za-z]))"  # the keyword ends a word
    return c(rf"(?i:\b(?:{keys})){boundary}{SEP}(?P<v>{value})(?![A-Za-z0-9])")


def vin(text: str, start: int, end: int) -> bool:
    value = text[start:end].upper()
    has_letter = any(ch.isalpha() for ch in value)
    return len(value) == 17 and has_letter and sum(ch.isdigit() for ch in value) >= 5


def is_ip(text: str, start: int, end: int) -> bool:
    try:
        ipaddress.ip_address(text[start:end])
    except ValueError:
        return False
    return True


def month_day(text: str, start: int, end: int) -> bool:
    value = text[start:end]
    parts = re.split(r"\D", value)
    return len(value) == 8 or (len(parts) >= 2 and 1 <= int(parts[0]) <= 12)


# Words around an m/d pair that make it a score, ratio or dose rather than a date.
NOT_DATE_BEFORE = re.compile(
    r"(?i:\b(?:grade|pain|strength|murmur|score|scale|ratio|hiv|dilution|titer|power|motor"
    r"|reflexes|pupils|vision|acuity|gcs|apgar|rated|x|of|by|take|taking|give|gave|bp|g|p"
    r"|gravida|para|ef|rate|level|stage|class|type|tab|dose|cpap|bipap|psv|ps|peep|vent|ac"
    r"|simv|imv|cmv|prvc|niv|nippv|settings?|ie|i:e|abg|vbg|ble|bue|lle|rle|lue|rue|le|ue)"
    r"\s*:?\s*$)"
)
NOT_DATE_AFTER = re.compile(
    r"(?i:^\s*(?:tabs?|tablets?|caps?|capsules?|strength|murmur|pain|of|dose|ns|normal|cup"
    r"|teaspoons?|tsp|tbsp|inch|in\b(?!\s+(?:the|clinic|office|am|pm)\b)|cm|mm|ml|mg|units?|scale|score|ratio|pos|neg|x\b|%"
    r"|left|right|bilat\w*|upper|lower|ble|bue|lle|rle|lue|rue|le\b|ue\b|extremit\w*|peep"
    r"|fio2|ps\b|cpap|with\s+peep|systems?|sem\b|murmur|lymph|nodes?|ln\b|ros\b|review"
    r"|positive|negative|pos\b|neg\b|cores?|months?\b|weeks?\b|days?\b|years?\b|hours?\b"
    r"|hrs?\b|/))"
)


def bare_month_day(text: str, start: int, end: int) -> bool:
    if not month_day(text, start, end) or text[start:end].endswith("/10"):
        return False  # n/10 on its own is a pain or severity score
    month, day = (int(p) for p in text[start:end].split("/"))
    padded = text[start:end].split("/")[1].startswith("0")  # "2/05": a date, not 2/5
    if not padded and ((day == 5 and month <= 5) or month < day <= 4 or month == day <= 4):
        return False  # muscle strength (4/5, 5/5) and fractions (1/2, 3/4, 2/2)
    before, after = text[max(0, start - 24) : start], text[end : end + 12]
    if NOT_DATE_BEFORE.search(before) or NOT_DATE_AFTER.match(after):
        return False
    return not NOT_DATE_CONTEXT.search(text[max(0, start - 40) : start])


# Before a context word ("on", "from"): a setting or dose being changed, not a date.
NOT_DATE_CONTEXT = re.compile(
    r"(?i:\b(?:wean(?:ed|ing)?|titrat\w*|changed|increased|decreased|cpap|bipap|psv|ps|peep"
    r"|vent|settings?|simv|ratio|dose|pain|score)\W{1,3}(?:\w+\W{1,3}){0,2}$"
    r"|\d/\d{1,2}\s*(?:to|->|-)\s*$)"
)


def context_month_day(text: str, start: int, end: int) -> bool:
    """A month/day after a date word ("on 3/5", "since 11/3"), unless a unit or setting
    word follows ("on 1/2 ns", "on 1/2 tab") or a setting change precedes ("weaned from")."""
    if not month_day(text, start, end):
        return False
    after = text[end : end + 12]
    if NOT_DATE_AFTER.match(after):
        return False
    return not NOT_DATE_CONTEXT.search(text[max(0, start - 40) : start])


def date_range(text: str, start: int, end: int) -> bool:
    """The second month/day of a range (``10/3 - 10/9``) when the first is a date: no
    setting word or setting change before it (``ps 10/5 -> 8/5`` stays text)."""
    if not month_day(text, start, end) or NOT_DATE_AFTER.match(text[end : end + 12]):
        return False
    first = _RANGE_START.search(text[max(0, start - 30) : start])
    if first is None:
        return False
    begin = start - len(first.group())
    if text[begin : begin + 6] == "[DATE]" or first.group(2):
        return True  # after a redacted date or a full date (``3/3/07-3/9/07``)
    before = text[max(0, begin - 40) : begin]
    if NOT_DATE_BEFORE.search(before[-24:]) or NOT_DATE_CONTEXT.search(before):
        return False
    # the first of the pair or list is a date itself: not a fraction ("1/2 and 3/4"),
    # unless a date word introduces it ("on 1/3 and 1/5")
    value_end = begin + len(first.group("pair"))
    return bare_month_day(text, begin, value_end) or bool(_DATE_WORD_BEFORE.search(before))


_RANGE_START = re.compile(
    r"(?:(?P<pair>\d{1,2}/\d{1,2})(/\d{2,4})?|\[DATE\])[ \t]{0,2}"
    r"(?i:-|to|thru|through|until|till|and|&|,|or)[ \t]{0,2}$"
)
_DATE_WORD_BEFORE = re.compile(
    r"(?i:\b(?:on|since|from|dated|admitted|discharged|seen|between|drawn|done)\s*:?\s*$)"
)
# Around a year-shaped number: a fluid balance, a volume or a time ("in 2000 out 1500").
_NOT_YEAR_BEFORE = re.compile(
    r"(?i:\b(?:i/o|i&o|intake|output|total|net|uop|tf|ivf|fluids?|bal(?:ance)?|ck|cks|bnp"
    r"|ldh|plt|plts|wbc|ast|alt|alk|amylase|lipase|ferritin|fibrinogen|d-?dimer|trig|chol"
    r"|weight|wt|vol|volume|kcal|cal|calories|at|@|by|until|till|since|from|starting)\W{0,3}"
    r"(?:\w+\W{1,3}){0,1}$)"
)
_NOT_YEAR_AFTER = re.compile(
    r"(?i:^\s*(?:out|cc|ml|l\b|mg|mcg|g\b|units?|kcal|cal|hrs?\b|h\b|/|-|\+|%|am\b|pm\b"
    r"|tonight|this|today|o'?clock|hours?))"
)


def year_not_time(text: str, start: int, end: int) -> bool:
    """A year, not a 24-hour time (``since 2000``, ``at 1930``) nor a volume or a lab value
    (``in 1985 out 900``, ``ck 1980``): years that could be times (minutes under 60) need
    a year word before them and no time or fluid word around."""
    value = text[start:end]
    if NOT_YEAR_AFTER_MATCH(text[end : end + 12]):
        return False
    if value.startswith("'"):
        return True
    minutes = int(value[2:])
    before = text[max(0, start - 30) : start]
    if minutes >= 60:
        return not _NOT_YEAR_BEFORE_LAB.search(before)
    return minutes % 15 != 0 and not _NOT_YEAR_BEFORE.search(before)


NOT_YEAR_AFTER_MATCH = _NOT_YEAR_AFTER.match
_NOT_YEAR_BEFORE_LAB = re.compile(
    r"(?i:\b(?:i/o|i&o|intake|output|total|net|uop|tf|ivf|fluids?|bal(?:ance)?|ck|cks|bnp"
    r"|ldh|plt|plts|wbc|ast|alt|alk|amylase|lipase|ferritin|fibrinogen|d-?dimer|trig|chol"
    r"|weight|wt|vol|volume|kcal|cal|calories)\W{0,3}$|\b(?:i/o|i&o|intake)\b)"
)


AGE = r"(?P<v>9\d|1[01]\d)"
CITY_AFTER = r"(?:,\s+[A-Z][a-z]+(?:[ \-][A-Z][a-z]+){0,2}(?![a-z]))?"
ADDRESS_ENDS = r"(?=\s*(?:\d{5}|[,.;:)\]]|\s(?:and|or|with|for|in|on|at|to)\b|$))"


# Words that never name a street: units, times and clinical words ("2 units per dr", "3 hrs
# ago ct", "5 mg po bid way" stay text).
_NOT_STREET_TEXT = (
    "hour hours hr hrs min mins minute minutes day days week weeks wk wks month months year"
    " years yr yrs time times episode episodes dose doses unit units beat beats tab tabs amp"
    " amps cm mm ml cc mg mcg kg gm liter liters l x per of and or to the with on at in by"
    " for from after before"
)
_NOT_STREET_WORDS = frozenset(_NOT_STREET_TEXT.split())


def street_words(text: str, start: int, end: int) -> bool:
    """The words between a house number and a street suffix name a street: none is a unit,
    a time or clinical shorthand (``27 maple ave``, ``14 WINTER ST``)."""
    from appliance.detectors.text_lexicon import CLINICAL

    words = re.findall(r"[A-Za-z][A-Za-z'\-]*", text[start:end])[:-1]
    return bool(words) and not any(
        w.lower() in _NOT_STREET_WORDS or w.lower() in CLINICAL for w in words
    )


def has_name_word(text: str, start: int, end: int) -> bool:
    """Some word of the value is a name or an unknown word, not all English or clinical
    (nor a disease named by a surname, ``PARKINSON'S``)."""
    from appliance.detectors.text_lexicon import lexicon
    from appliance.detectors.text_vocabulary import EPONYMS

    lex = lexicon()
    for word, possessive in re.findall(r"([A-Za-z]+)(['’][sS]\b)?", text[start:end]):
        low = word.lower()
        if len(low) < 2 or (possessive and low in EPONYMS):
            continue
        if lex.is_name(low) and not lex.is_vocabulary(low):
            return True
        if not lex.is_common(low) and not lex.misspelt(low):  # "WIFE VISTIED" is no name
            return True
    return False


_WORD_SPAN = re.compile(r"[A-Za-z][A-Za-z'’\-]*\.?")


def trim_name_words(text: str, start: int, end: int) -> tuple[int, int]:
    """The span of a name value without its leading and trailing words that are
    vocabulary (``CALLED``, ``IN TO``, ``TRANSFERRED FROM``): ALL-CAPS text gives the name
    patterns whole phrases. An initial (one letter) or a comma-joined part is kept."""
    from appliance.detectors.text_lexicon import lexicon

    lex = lexicon()
    words = [
        (m.start(), m.end(), m.group().rstrip(".")) for m in _WORD_SPAN.finditer(text, start, end)
    ]

    def plain(word: str) -> bool:
        low = word.lower()
        return len(low) > 1 and lex.is_vocabulary(low) and not lex.is_name(low)

    first, last = 0, len(words) - 1
    while first <= last and plain(words[first][2]):
        first += 1
    while last >= first and plain(words[last][2]):
        last -= 1
    if first > last:
        return start, start
    return words[first][0], (end if last == len(words) - 1 else words[last][1])


def digits_between(low: int, high: int) -> Callable[[str, int, int], bool]:
    """A validator: the value holds ``low`` to ``high`` digits."""

    def check(text: str, start: int, end: int) -> bool:
        return low <= sum(ch.isdigit() for ch in text[start:end]) <= high

    return check


def luhn(text: str, start: int, end: int) -> bool:
    """A payment-card number: 13 to 19 digits with a valid Luhn check digit."""
    digits = [int(ch) for ch in text[start:end] if ch.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def iban(text: str, start: int, end: int) -> bool:
    """An IBAN with a valid ISO 7064 mod-97 check."""
    value = text[start:end].replace(" ", "")
    if not 15 <= len(value) <= 34:
        return False
    moved = value[4:] + value[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def not_ratio(text: str, start: int, end: int) -> bool:
    """A month/two-digit-year pair, not a ratio, a setting or a blood gas."""
    before, after = text[max(0, start - 24) : start], text[end : end + 12]
    if NOT_DATE_BEFORE.search(before) or NOT_DATE_AFTER.match(after):
        return False
    return not NOT_DATE_CONTEXT.search(text[max(0, start - 40) : start])
