"""The pattern recognisers of the text PHI detector, one per Safe Harbor format.

A pattern reports the span of its named group ``v`` (the identifier, not the keyword that
introduced it), or the whole match when it has no such group. Keyword-introduced
identifiers score high; bare formats score lower. The fragments live in ``text_regex``.
"""

from __future__ import annotations

import re

from appliance.detectors.text_formats import FORMATS
from appliance.detectors.text_regex import (
    ADDRESS_ENDS,
    AGE,
    CITY_AFTER,
    DAY,
    ICASE,
    MONTH,
    NAME,
    PHONE,
    STATE_NAMES,
    STATES,
    STREET_SUFFIX,
    YEAR,
    TextPattern,
    bare_month_day,
    c,
    context_month_day,
    digits_between,
    has_name_word,
    is_ip,
    keyed,
    not_ratio,
    street_words,
    vin,
)
from appliance.domain.findings import FindingKind as K

PATTERNS: tuple[TextPattern, ...] = (
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
            r"(?P=sep)(?:\d{4}|\d{2}))\b(?![/\-.]\d)"
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
            r"|date of birth|date of service|d\.o\.b\.?)\s*:?)\s*(?P<v>\d{1,2}[/\-.]\d{1,2}"
            r"(?:[/\-.]\d{2,4})?|\d{8})\b(?![/\-.]\d)"
        ),
        0.7,
        context_month_day,
    ),
    TextPattern(
        "date_bare_month_day",
        K.DATE,
        c(r"(?<![\w/.\-+=:])(?P<v>(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))(?![\w/]|\.\d)"),
        0.45,
        bare_month_day,
    ),
    TextPattern(
        "date_holiday",
        K.DATE,
        c(
            r"(?i:\b(?P<v>christmas(?: eve| day)?|xmas|thanksgiving|easter"
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
            r"(?i:(?:^|(?<=\n)|(?<=:)\s*|\b(?:pt|patient)\s+(?:is\s+)?(?:an?\s+)?"
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
            r"(?i:\b(?:pager|pgr|beeper|bpr|page|paged|beep|ext|extension)\b\.?\s*(?:\#|no\.?"
            r"|number|:)?\s*:?\s*)(?P<v>\d{4,6})\b(?![/.\-]\d)"
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
    TextPattern("phone_us", K.PHONE_NUMBER, c(rf"(?<![\w\-./])(?P<v>{PHONE})(?![\w\-])"), 0.5),
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
            r"(?:[\s:#,]{1,5}[a-z]{1,20}){0,3}?"
            r"[\s:#,]{1,5}(?P<v>\d{5,10})\b"
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
