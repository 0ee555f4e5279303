"""Identifier formats that need no keyword: SSN, e-mail, bare domains, IPv4, payment
cards (Luhn), IBAN (mod 97) and Medicare MBI. Every pattern has bounded repetition or
one start per run, so each runs in linear time (``text_growth``)."""

from __future__ import annotations

from appliance.detectors.text_regex import ICASE, TextPattern, c, iban, is_ip, luhn
from appliance.domain.findings import FindingKind as K

FORMATS: tuple[TextPattern, ...] = (
    TextPattern(
        "ssn_bare",
        K.SSN,
        c(r"(?<![\w\-/])(?P<v>(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4})(?![\w\-/])"),
        0.6,
    ),
    TextPattern(
        "email",
        K.EMAIL_ADDRESS,
        c(
            r"(?<![\w.+\-])(?P<v>[\w.+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}"
            r"\.[A-Za-z]{2,24})(?![\w\-])"
        ),
        0.9,
    ),
    TextPattern(
        "url_domain",
        K.URL,
        c(
            r"(?<![\w.@\-/])(?P<v>[a-z0-9\-]{1,63}(?:\.[a-z0-9\-]{1,63}){0,5}\.(?:com|org|net|edu"
            r"|gov|mil|info|biz|io|us|uk|ca|de|fr|health|care|me|co)\b"
            r"(?:/[^\s<>\"'()]{0,200}[^\s<>\"'().,;:])?)(?![\w@\-])",
            ICASE,
        ),
        0.6,
    ),
    TextPattern(
        "ipv4",
        K.IP_ADDRESS,
        c(r"(?<![\w.])(?P<v>(?:\d{1,3}\.){3}\d{1,3})(?!\w|\.\d)"),
        0.6,
        is_ip,
    ),
    TextPattern(
        "card",
        K.ACCOUNT_NUMBER,
        c(r"(?<![\w\-])(?P<v>\d{4}(?:[ \-]?\d{4}){2}[ \-]?\d{1,7})(?![\w\-])"),
        0.7,
        luhn,
    ),
    TextPattern(
        "iban",
        K.ACCOUNT_NUMBER,
        c(r"\b(?P<v>[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)\b"),
        0.8,
        iban,
    ),
    TextPattern(
        "mbi",
        K.HEALTH_PLAN_ID,
        c(
            r"\b(?P<v>[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d-?[AC-HJKMNP-RT-Y]"
            r"[AC-HJKMNP-RT-Y0-9]\d-?[AC-HJKMNP-RT-Y]{2}\d{2})\b"
        ),
        0.7,
    ),
)
