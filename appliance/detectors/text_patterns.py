"""The pattern recognisers of the text PHI detector, one per Safe Harbor format.

A pattern reports the span of its named group ``v`` (the identifier, not the keyword that
introduced it), or the whole match when it has no such group. Keyword-introduced
identifiers score high; bare formats score lower. The fragments live in ``text_regex``.
"""

from __future__ import annotations

import re
from dataclasses import replace

from appliance.detectors.text_patterns_events import EVENT_DATES
from appliance.detectors.text_patterns_ids import IDENTIFIERS
from appliance.detectors.text_regex import (
    AGE,
    DAY,
    MONTH,
    NAME,
    PHONE,
    YEAR,
    TextPattern,
    bare_month_day,
    c,
    context_month_day,
    date_range,
    digits_between,
    has_name_word,
    keyed,
    not_ratio,
    trim_name_words,
    year_not_time,
)
from appliance.domain.findings import FindingKind as K

_PATTERNS: tuple[TextPattern, ...] = (
    # --- names: titles, credentials, relationship and label context ---------------------
    TextPattern(
        "name_label",
        K.PERSON_NAME,
        c(
            r"(?i:\b(?:patient|pt|name|patient name|signed by|electronically signed by|attending"
            r"|resident|pcp|referred by|seen by|cc|emergency contact|contact|next of kin|nok"
            r"|guardian|caregiver|accompanied by|son|daughter|wife|husband|spouse|partner|mother"
            r"|father|brother|sister|grandson|granddaughter|niece|nephew|friend|neighbor"
            r"|discussed with|reviewed with|spoke with|met with|called|contacted|informed|notified"
            r"|per|note by|written by|dictated by|entered by|authored by|transcribed by|verified by"
            r"|approved by|reviewed by|cosigned by|request of|on behalf of|care of|c/o|attn:?"
            r"|attention))"
            rf"(?:\s*(?:,|:|-|is|named))?\s+(?P<v>{NAME},\s+{NAME}|[A-Z]\.\s?{NAME}|{NAME}(?:\s+[A-Z]\.)?"
            rf"(?:\s+{NAME}){{1,2}}|[A-Z]{{2,}}(?:[ '\-][A-Z]{{2,}}){{0,2}},\s+[A-Z]{{2,}})"
        ),
        0.6,
        has_name_word,
    ),
    TextPattern(
        "name_last_first",
        K.PERSON_NAME,
        c(
            rf"(?:^|(?<=[.;:\n])[ \t]{{0,3}}|(?<=\bof )|(?<=\bby )|(?<=\bfor )|(?<=\bwith )"
            rf"|(?<=\bto ))"
            rf"(?P<v>{NAME},\s+{NAME}|[A-Z]{{2,}}(?:['\-][A-Z]{{2,}})?,\s+[A-Z]{{2,}}"
            rf"|(?:{NAME}\s+)?[A-Z]\.\s+{NAME})"
            r"(?=\s+(?:was|is|has|had|reports|denies|presents|states|returns|came|will|did)\b"
            r"|[ \t]{0,3}[.;]|[ \t]{0,3}$)",
            re.MULTILINE,
        ),
        0.6,
        has_name_word,
    ),
    # --- dates more specific than a year, ages over 89 ---------------------------------
    TextPattern(
        "date_numeric",
        K.DATE,
        c(
            r"\b(?P<v>(?:0?[1-9]|1[0-2]|[12]\d|3[01])(?P<sep>[/\-.])(?:0?[1-9]|[12]\d|3[01])"
            r"(?P=sep)(?:\d{4}|\d{2}))\b(?![/.]\d|-\d{1,2}(?![/\d]))"
        ),
        0.7,
    ),
    TextPattern(
        "date_iso",
        K.DATE,
        c(
            r"\b(?P<v>(?:1[89]|2[01])\d\d[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"
            r"(?:[T ]\d\d:\d\d(?::\d\d)?)?)\b"
        ),
        0.8,
    ),
    TextPattern(
        "date_month_name",
        K.DATE,
        c(
            rf"(?i:\b(?P<v>{MONTH}\s+{DAY}(?:,?\s+{YEAR})?|{DAY}\s+(?:of\s+)?{MONTH},?"
            rf"(?:\s+{YEAR})?|{MONTH},?\s+{YEAR}|{DAY}[\-\s]?{MONTH}[\-\s]?(?:{YEAR}|\d\d))"
            r"(?![\w/]))"
        ),
        0.75,
    ),
    TextPattern(
        "date_month_short_year",
        K.DATE,
        c(r"(?<![\w/.\-+=:])(?P<v>(?:0?[1-9]|1[0-2])/(?:3[2-9]|[4-9]\d))(?![\w/]|\.\d)"),
        0.6,
        not_ratio,
    ),
    TextPattern(
        "date_month_year",
        K.DATE,
        c(rf"(?<![\d/])\b(?P<v>(?:0?[1-9]|1[0-2])[/\-]{YEAR})\b(?![/\-]\d)"),
        0.6,
    ),
    TextPattern(
        "date_context_short",
        K.DATE,
        c(
            r"(?i:\b(?:on|since|from|until|through|dated|dos|dob|admitted|discharged|seen|born"
            r"|scheduled for|due|by|before|after|returns?|return on|expected|began|started"
            r"|date of birth|date of service|d\.o\.b\.?|visit|visiting|appt|appointment|f/u"
            r"|follow[- ]?up|as of|starting|planned|transferred|arrived|died|expired|readmitted"
            r"|placed|performed|dx'?d|diagnosed)\s*:?)\s*(?P<v>\d{1,2}[/\-.]\d{1,2}"
            r"(?:[/\-.]\d{2,4})?|\d{8})\b(?![/\-.]\d)"
        ),
        0.7,
        context_month_day,
    ),
    *EVENT_DATES,
    TextPattern(
        "date_bare_month_day",
        K.DATE,
        c(r"(?<![\w/.\-+=:])(?P<v>(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))(?![\w/]|\.\d)"),
        0.45,
        bare_month_day,
    ),
    TextPattern(
        "date_range_end",
        K.DATE,
        c(
            r"(?:\b(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])(?:/(?:\d{4}|\d{2}))?|\[DATE\])"
            r"[ \t]{0,2}(?i:-|to|thru|through|until|till|and|&|,|or)[ \t]{0,2}"
            r"(?P<v>(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])(?:/(?:\d{4}|\d{2}))?)\b(?![/.\-]\d)"
        ),
        0.5,
        date_range,
    ),
    TextPattern(
        "date_year_context",
        K.DATE,
        c(
            r"(?i:\b(?:in|since|dx'?d?|diagnosed(?:\s+in)?|year|circa|until|during|back\s+in"
            r"|spring|summer|fall|autumn|winter|early|late|mid|born|class\s+of)[\s\-]+(?:of\s+)?)"
            r"(?P<v>(?:19|20)\d\d|'\d\d)\b(?![/.\-:]\d)"
        ),
        0.6,
        year_not_time,
    ),
    TextPattern(
        "date_year_bare",
        K.DATE,
        c(r"(?<=[A-Za-z][ \t])(?P<v>19[6-9]\d|20[6-9]\d)\b(?![/.\-:]\d)"),
        0.5,
        year_not_time,
    ),
    TextPattern(
        "date_ordinal_day",
        K.DATE,
        c(
            r"(?i:\b(?:on|since|until|till|by|before|after|through|from|of)\s+the\s+"
            r"(?P<v>(?:[12]?\d|3[01])(?:st|nd|rd|th))\b(?!\s*(?:time|times|day|days|dose|doses"
            r"|attempt|attempts|floor|fl|degree|rib|ribs|ics|intercostal|finger|toe|trimester"
            r"|percentile|cycle|round|line|week|weeks|hour|hours|grade|generation|try|level|of)\b))"
        ),
        0.6,
    ),
    TextPattern(
        "date_holiday",
        K.DATE,
        c(
            r"(?i:\b(?P<v>christmas(?: eve| day)?|x-?mas|thanksgiving|easter"
            r"|new year'?s?(?: eve| day)?"
            r"|memorial day|labor day|independence day|july 4th|fourth of july|halloween"
            r"|hanukkah|chanukah|passover|ramadan|yom kippur|rosh hashanah|valentine'?s day"
            r"|st\.? patrick'?s day|mother'?s day|father'?s day|veterans day|columbus day"
            r"|presidents'? day|martin luther king day|mlk day)\b)"
        ),
        0.6,
    ),
    TextPattern(
        "date_month_alone",
        K.DATE,
        c(
            r"(?i:\b(?:in|since|during|early|late|mid|until|before|after|through|last|next"
            r"|this past))[\s\-]+(?P<v>(?i:January|February|March|April|June|July|August"
            r"|September|October|November|December)|May|MAY)\b"
        ),
        0.5,
    ),
    TextPattern(
        "age_years",
        K.AGE_OVER_89,
        c(rf"(?i:\b{AGE}(?:\s*|-)(?:years?|yrs?|y\.\s?o\.|y\.?o\b|y/o|yo)(?!\w))"),
        0.85,
    ),
    TextPattern(
        "age_sex",
        K.AGE_OVER_89,
        c(
            r"(?i:(?:^|(?<=\n)|(?<=:)\s*|(?<=[.;(]\s)|(?<=[.;(])|\b(?:pt|patient)\s+(?:is\s+)?(?:an?\s+)?"
            r"|\b(?:is|was)\s+an?\s+"
            r"|\ban?\s+)(?P<v>9\d|1[01]\d)\s*(?:m|f|male|female|man|woman|gentleman|lady"
            r"|gentlemen|y|yr|yrs)\b(?![./]\d))",
            re.MULTILINE,
        ),
        0.8,
    ),
    TextPattern(
        "age_is",
        K.AGE_OVER_89,
        c(
            r"(?i:\b(?:pt|patient|she|he)\s+is\s+(?:now\s+)?(?P<v>9\d|1[01]\d)\b"
            r"(?!\s*(?:[%/\d]|\.\d|(?:mg|kg|lbs?|cc|ml|bpm|beats|degrees?|[fcl]|cm|mm"
            r"|units?|percent|on|ra|nc|sat|sats|over|x)\b)))"
        ),
        0.75,
    ),
    TextPattern(
        "age_turns",
        K.AGE_OVER_89,
        c(
            r"(?i:\b(?:turned|turns|turning|will\s+be|celebrat\w{0,5}(?:\s+(?:his|her))?)\s+)"
            r"(?P<v>9\d|1[01]\d)\b(?i:(?!\s*(?:[%/\-\d]|\.\d|(?:mg|kg|lbs?|cc|ml|bpm|degrees?|[fcl]"
            r"|cm|mm|units?|percent|mmhg|over|x|minutes?|mins?|seconds?|sec|%)\b)))"
        ),
        0.75,
    ),
    TextPattern(
        "age_words",
        K.AGE_OVER_89,
        c(
            r"(?i:(?:\b(?:is|aged?|age\s+of|turned|turns)\s+)(?P<v>(?:ninety|one\s+hundred)"
            r"(?:[\s\-](?:one|two|three|four|five|six|seven|eight|nine))?)\b(?!\s*(?:percent|%)))"
        ),
        0.75,
    ),
    TextPattern(
        "age_words_years",
        K.AGE_OVER_89,
        c(
            r"(?i:\b(?P<v>(?:ninety|one\s+hundred)(?:[\s\-](?:one|two|three|four|five|six|seven"
            r"|eight|nine))?)[\s\-]+(?:years?|yrs?|y/?o)\b)"
        ),
        0.8,
    ),
    TextPattern(
        "age_apposition",
        K.AGE_OVER_89,
        c(r"(?i:\b(?:pt|patient|she|he|mr\.?|mrs\.?|ms\.?)\s*,\s*)(?P<v>9\d|1[01]\d)\s*,"),
        0.75,
    ),
    TextPattern(
        "age_label", K.AGE_OVER_89, c(rf"(?i:\bage[ds]?\s*(?:of\s*|:|=|is|was)?\s*{AGE}\b)"), 0.85
    ),
    TextPattern(
        "age_decade",
        K.AGE_OVER_89,
        c(
            r"(?i:\bin\s+(?:his|her|their)\s+"
            r"(?P<v>(?:mid-|late |early )?(?:9\d|1[01]\d)'?s|nineties)"
            r"|\b(?:nonagenarian|centenarian|supercentenarian)\b)"
        ),
        0.8,
    ),
    # --- contact: fax (phones have their own patterns) --------------
    TextPattern("fax", K.FAX_NUMBER, keyed(r"fax|facsimile|telefax|fx", value=PHONE), 0.9),
    TextPattern("fax_letterhead", K.FAX_NUMBER, c(rf"(?<![\w.])F\s?:\s*(?P<v>{PHONE})"), 0.8),
    TextPattern(
        "pager",
        K.PHONE_NUMBER,
        c(
            r"(?i:\b(?:pager|pgr|beeper|bpr|page|paged|beep|ext|extension|p(?=\s?\#))\b\.?\s*"
            r"(?:\#|no\.?|number|:)?\s*:?\s*"
            # "pager # for dr adeyemi is 33790", "pgr of the fellow: 41267"
            r"(?:(?:for|of)(?:\s+[A-Za-z.'\-]{1,20}){1,3}\s*(?:is\b|:|=)?\s*)?)"
            r"(?P<v>\d{4,6}|\d-\d{4})\b(?![/.\-]\d)"
        ),
        0.75,
    ),
    TextPattern(
        "extension_internal",
        K.PHONE_NUMBER,
        c(r"(?<![\w/.\-])(?P<v>[xX]\d{1,2}-\d{4})(?![\w\-])"),
        0.7,
    ),
    TextPattern(
        "phone_intl",
        K.PHONE_NUMBER,
        c(r"(?<![\w+])(?P<v>\+\d{1,3}(?:[\s.\-]?\(?\d{1,4}\)?){2,5})(?![\w\-])"),
        0.6,
        digits_between(8, 15),
    ),
    TextPattern(
        "phone_local",
        K.PHONE_NUMBER,
        c(
            r"(?i:(?:\b(?:phone|ph|tel|telephone|cell|mobile|home|work|number|call|reach(?:ed)?"
            r"|contact)\b\.?|\#)\s*(?:\#|is|at|:)?\s*(?:is|at|:)?\s*)"
            r"(?P<v>\d{3}[\-.]\d{4}|[2-9]\d{9})(?![\w\-/]|\.\d)"
        ),
        0.6,
    ),
    TextPattern("phone_us", K.PHONE_NUMBER, c(rf"(?<![\w\-./])(?P<v>{PHONE})(?![\w\-])"), 0.5),
    *IDENTIFIERS,
)

# The keywords without one of which a pattern cannot match (``TextPattern.needs``): every
# alternative of the pattern's keyword part is covered by one of these substrings.
NEEDS: dict[str, tuple[str, ...]] = {
    "fax": ("fax", "facsimile", "fx"),
    "pager": ("page", "pgr", "beep", "bpr", "ext", "#"),
    "extension_internal": ("x",),
    "phone_intl": ("+",),
    "ssn_keyed": ("ss", "soc"),
    "ssn_bare": ("-",),
    "email": ("@",),
    "url_scheme": ("://",),
    "url_www": ("www",),
    "ipv6": (":",),
    "mac": (":", "-"),
    "mrn_loose": ("mrn", "medical record", "unit"),
    "health_plan": (
        *("health", "insur", "member", "subscriber", "policy", "beneficiary", "medicare"),
        *("medicaid", "hicn", "mbi", "payer", "group", "plan", "coverage", "hmo", "ppo"),
    ),
    "account": (
        *("account", "acct", "a/c", "checking", "savings", "card", "iban", "invoice"),
        *("guarantor", "billing", "routing", "bank", "har"),
    ),
    "license": (
        *("driver", "lic", "dl", "cert", "dea", "npi", "permit", "passport", "state id"),
        *("id card", "badge", "registration", "board"),
    ),
    "vehicle_keyed": ("vin", "vehicle", "plate", "car", "truck", "motorcycle", "tag"),
    "device_keyed": (
        *("serial", "s/n", "sn", "udi", "imei", "device", "asset", "implant", "pacemaker"),
        *("defibrillator", "icd", "pump", "stimulator", "hearing aid", "monitor", "sensor"),
        *("transmitter", "glucometer", "cgm", "lvad", "generator", "lead"),
    ),
    "udi_gs1": ("(01)",),
    "udi_hibcc": ("+",),
    "other_id": (
        *("encounter", "claim", "specimen", "accession", "acc#", "requisition", "biometric"),
        *("fingerprint", "voiceprint", "retina", "iris scan", "employee", "student"),
        *("tracking", "donor", "unos", "itin", "ein", "tax", "prior auth", "referral"),
        *("voucher", "wristband", "csn", "fin", "ref", "confirmation", "auth", "visit"),
        *("case", "order", "study", "subject", "participant", "research", "enrollment"),
        *("template", "ticket", "transplant", "prescription", "rx", "barcode", "bracelet"),
        *("lab", "sample", "kit", "record locator"),
    ),
    "zip_keyed": ("zip", "postal", "postcode"),
    "po_box": ("box",),
    "street_any_case": ("liv", "resid", "address", "located", "home"),
    "street_lives_on": ("liv", "resid", "located"),
    "route": ("route", "rte", "interstate", "highway", "hwy"),
    "date_holiday": (
        *("christmas", "xmas", "x-mas", "thanksgiving", "easter", "new year", "memorial day"),
        *("labor day", "independence day", "july 4th", "fourth of july", "halloween"),
        *("hanukkah", "chanukah", "passover", "ramadan", "yom kippur", "rosh hashanah"),
        *("valentine", "patrick", "mother", "father", "veterans day", "columbus day"),
        *("presidents", "martin luther king", "mlk day"),
    ),
    "date_month_alone": (
        *("january", "february", "march", "april", "may", "june", "july", "august"),
        *("september", "october", "november", "december"),
    ),
    "age_decade": ("his", "her", "their", "genarian", "centenarian"),
    "age_words": ("ninety", "hundred"),
    "age_words_years": ("ninety", "hundred"),
    "age_label": ("age",),
    "age_turns": ("turn", "will", "celebrat"),
}
_TRIMMED = frozenset({"name_label", "name_last_first"})
PATTERNS: tuple[TextPattern, ...] = tuple(
    replace(
        p,
        needs=NEEDS.get(p.name, p.needs),
        trim=trim_name_words if p.name in _TRIMMED else p.trim,
    )
    for p in _PATTERNS
)
