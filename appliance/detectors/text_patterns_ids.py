"""Identifier and place patterns of the text PHI detector: SSN, the keyword-free formats,
URLs, IPv6, keyword-introduced record, plan, account, licence, vehicle, device and other
numbers, and geography smaller than a state (streets, routes, PO boxes, ``City, ST``, ZIP).

Split from ``text_patterns`` (names, dates, ages, phones); same conventions: a pattern
reports its named group ``v``; fragments live in ``text_regex``.
"""

from __future__ import annotations

from appliance.detectors.text_formats import FORMATS
from appliance.detectors.text_regex import (
    ADDRESS_ENDS,
    CITY_AFTER,
    ICASE,
    STATE_NAMES,
    STATES,
    STREET_SUFFIX,
    TextPattern,
    c,
    is_ip,
    keyed,
    street_words,
    vin,
)
from appliance.domain.findings import FindingKind as K

IDENTIFIERS: tuple[TextPattern, ...] = (
    TextPattern(
        "ssn_keyed",
        K.SSN,
        keyed(
            r"ssn|ss\#|social security(?: number| no\.?)?|soc\.? sec\.?",
            r"ss",
            value=r"\d{3}[\s\-.]?\d{2}[\s\-.]?\d{4}",
        ),
        0.9,
    ),
    *FORMATS,
    TextPattern(
        "url_scheme",
        K.URL,
        c(r"\b(?P<v>(?:https?|ftp)://[^\s<>\"'()]+[^\s<>\"'().,;:])", ICASE),
        0.7,
    ),
    TextPattern(
        "url_www",
        K.URL,
        c(
            r"\b(?P<v>www\d?\.[a-z0-9\-]+(?:\.[a-z0-9\-]+)+"
            r"(?:/[^\s<>\"'()]*[^\s<>\"'().,;:])?)",
            ICASE,
        ),
        0.6,
    ),
    TextPattern(
        "ipv6",
        K.IP_ADDRESS,
        c(
            r"(?<![\w:.])(?P<v>(?=[0-9A-Fa-f:.]{0,40}::|(?:[0-9A-Fa-f]{1,4}:){7})"
            r"[0-9A-Fa-f:.]{2,44}[0-9A-Fa-f])(?![\w:])"
        ),
        0.8,
        is_ip,
    ),
    # --- record, plan, account, licence, vehicle, device and other numbers -------------
    TextPattern(
        "mrn",
        K.MEDICAL_RECORD_NUMBER,
        keyed(
            r"mrn|mr\s*\#|mr:|med(?:ical)?\.?\s*rec(?:ord)?s?\.?|medical record|chart\s*\#"
            r"|patient id|pt\.? id|hospital (?:number|no\.?)|unit (?:number|no\.?)|emr|ehr",
            r"chart|patient|hospital|record",
        ),
        0.9,
    ),
    TextPattern(
        "mrn_loose",
        K.MEDICAL_RECORD_NUMBER,
        c(
            r"(?i:\b(?:mrn|medical record (?:number|no\.?)|unit (?:number|no\.?))\b)"
            r"(?:[\s:#,]{1,5}[A-Za-z]{1,20}){0,3}?"
            r"[\s:#,]{1,5}(?P<v>[A-Za-z]{0,2}\d{5,10})\b"
        ),
        0.8,
    ),
    TextPattern(
        "health_plan",
        K.HEALTH_PLAN_ID,
        keyed(
            r"health ?plan(?: beneficiary)?|insurance id|member(?:ship)? id|subscriber|policy"
            r"|beneficiary|medicare|medicaid|hicn|mbi|payer id|group\s*(?:\#|no\.?|number)",
            r"insurance|member(?:ship)?|plan|coverage|group|payer|insured|hmo|ppo",
        ),
        0.85,
    ),
    TextPattern(
        "account",
        K.ACCOUNT_NUMBER,
        keyed(
            r"account|acct|a/c|bank account|checking|savings|credit card|debit card|iban"
            r"|invoice|guarantor",
            r"billing|card|routing|bank|hospital account|har",
        ),
        0.85,
    ),
    TextPattern(
        "license",
        K.LICENSE_NUMBER,
        keyed(
            r"driver'?s?\s+licen[cs]e|drivers?\s+lic\.?|(?-i:DL)|licen[cs]e(?!\s+plate)"
            r"|lic\.?|certificate|cert\.?|dea|npi|permit|passport|state id|id card",
            r"badge|registration|board",
        ),
        0.85,
    ),
    TextPattern(
        "vehicle_keyed",
        K.VEHICLE_ID,
        keyed(
            r"vin|vehicle identification|licen[cs]e plate|plate",
            r"vehicle|car|truck|motorcycle|tag|registration plate",
            r"[A-HJ-NPR-Z0-9]{17}"
            r"|(?=[A-Za-z0-9\- ]*\d)[A-Za-z0-9]{1,8}(?:[\- ][A-Za-z0-9]{1,8}){0,2}",
        ),
        0.8,
    ),
    TextPattern("vin", K.VEHICLE_ID, c(r"\b(?P<v>[A-HJ-NPR-Z0-9]{17})\b", ICASE), 0.6, vin),
    TextPattern(
        "device_keyed",
        K.DEVICE_ID,
        keyed(
            r"serial|s/n|sn|udi|imei|device id|device identifier|device serial|asset tag",
            r"device|implant|pacemaker|defibrillator|icd|pump|stimulator|hearing aid|monitor"
            r"|sensor|transmitter|cochlear implant|glucometer|cgm|lvad|generator|lead",
        ),
        0.8,
    ),
    TextPattern(
        "udi_gs1", K.DEVICE_ID, c(r"(?P<v>\(01\)\d{14}(?:\(\d{2,4}\)[A-Za-z0-9\-]+)*)"), 0.9
    ),
    TextPattern(
        "udi_hibcc",
        K.DEVICE_ID,
        c(
            r"(?<!\w)(?P<v>\+[A-Z]\d{3}[A-Z0-9]{2,18}"
            r"(?:/[A-Z0-9$+%]{2,20})?)"
        ),
        0.7,
    ),
    TextPattern(
        "mac", K.DEVICE_ID, c(r"\b(?P<v>(?:[0-9A-F]{2}[:\-]){5}[0-9A-F]{2})\b", ICASE), 0.7
    ),
    TextPattern(
        "other_id",
        K.OTHER_ID,
        keyed(
            r"encounter|claim|specimen|accession|acc\#|requisition|biometric|fingerprint"
            r"|voiceprint|retina(?:l)? scan|iris scan|employee id|student id|tracking|donor id"
            r"|unos|itin|ein|tax id|prior auth(?:orization)?|referral|voucher|wristband|csn|fin"
            r"|ref|reference|ref\s*\#|confirmation|auth|authorization",
            r"visit|case|order|study|subject|participant|research|enrollment|template|ticket"
            r"|reference|confirmation|transplant|prescription|rx|authorization|auth|barcode"
            r"|bracelet|employee|student|donor|tax|lab|sample|kit|record locator",
        ),
        0.75,
    ),
    # --- geography smaller than a state ------------------------------------------------
    TextPattern(
        "street",
        K.ADDRESS,
        c(
            r"\b(?P<v>\d{1,6}[A-Z]?(?:-\d{1,4})?\s+(?:[NSEW]\.?\s+|(?:North|South|East|West)\s+)?"
            r"(?:[A-Z][a-zA-Z'\-]+|\d{1,3}(?:st|nd|rd|th))(?:\s+[A-Z][a-zA-Z'\-]+){0,3}\s+"
            rf"{STREET_SUFFIX}(?:,?\s+(?:Apt|Apartment|Unit|Suite|Ste|Room|Rm|Fl|Floor|\#)\.?"
            rf"\s*\#?\s*[A-Za-z0-9\-]+)?{CITY_AFTER})"
        ),
        0.8,
    ),
    TextPattern(
        "street_any_case",
        K.ADDRESS,
        c(
            r"(?i:\b(?:lives|living|resides|residing|address|located|home)\b(?:\s+(?:alone"
            r"|at|on|in)){0,2}(?:\s*:)?\s+)(?P<v>\d{1,5}[A-Za-z]?\s+(?:[A-Za-z][A-Za-z'\-]*\s+){1,3}"
            rf"(?i:{STREET_SUFFIX}))(?![A-Za-z0-9])"
        ),
        0.8,
        street_words,
    ),
    TextPattern(
        "street_lives_on",
        K.ADDRESS,
        c(
            r"(?i:\b(?:lives|living|resides|residing|located)\s+on\s+(?:the\s+)?)"
            r"(?P<v>[A-Za-z][A-Za-z'\-]{2,}(?:[ \t]+[A-Za-z][A-Za-z'\-]{2,}){0,2}[ \t]+"
            r"(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|terrace|parkway|pkwy"
            r"|highway|hwy|drive|dr|circle|court|ct|place|way))\.?(?![A-Za-z0-9])"
        ),
        0.75,
        street_words,
    ),
    TextPattern(
        "street_bare",
        K.ADDRESS,
        c(
            r"(?<![\w/.\-])(?P<v>\d{1,5}[ \t]+(?:[A-Za-z][A-Za-z'\-]{2,}[ \t]+){1,3}"
            r"(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|terrace|parkway|pkwy"
            r"|highway|hwy|drive|circle|court|place))\.?(?![A-Za-z0-9])"
        ),
        0.7,
        street_words,
    ),
    TextPattern(
        "route",
        K.ADDRESS,
        c(r"(?i:\b(?P<v>(?:route|rte|interstate|highway|hwy)\.?[ \t]?\d{1,3}[A-Za-z]?)\b)"),
        0.7,
    ),
    TextPattern(
        "interstate",
        K.ADDRESS,
        c(r"(?i:\b(?:on|off|via|from|near|onto|take|took|taking|along)[ \t]+(?P<v>i-?\d{2,3})\b)"),
        0.7,
    ),
    TextPattern(
        "po_box", K.ADDRESS, c(rf"\b(?P<v>(?i:p\.?\s?o\.?\s*box)\s+\d+{CITY_AFTER})"), 0.85
    ),
    TextPattern(
        "city_state",
        K.ADDRESS,
        c(
            rf"\b(?P<v>[A-Z][a-z]+(?:[ \-][A-Z][a-z]+){{0,2}}),\s+(?:{STATES}|{STATE_NAMES})\b"
            rf"{ADDRESS_ENDS}"
        ),
        0.7,
    ),
    TextPattern(
        "zip_state",
        K.ZIP_CODE,
        c(rf"\b(?:{STATES}|{STATE_NAMES})\.?,?\s+(?P<v>\d{{5}}(?:-\d{{4}})?)\b"),
        0.8,
    ),
    TextPattern(
        "zip_keyed",
        K.ZIP_CODE,
        keyed(r"zip|zip code|zipcode|postal code|postcode", value=r"\d{5}(?:-\d{4})?"),
        0.9,
    ),
)
