"""Dates of clinical events: a month/day after ``s/p`` and a procedure (``s/p ex lap
12-9``, ``S/P CABG X3 9/7``) or after an event word (``extubated 5/22``, ``procedure
7-22``, ``mvc 10/30``) or a weekday (``Mon 3/4``), in slash or dash form and any letter case.

Also a month/day before a clock time (``labs sent 4/5 @ 0400``) and two days of one month
(``4/5-4/7``).

A bare month/day of fraction shape is read as a fraction or a strength elsewhere; after
an event the same shape is a date, unless a unit or a setting follows (``s/p 1-2 l ns``,
``arrest 5-10 min``) or the pair is a small fraction (``1/2``, ``3/4``, ``4/5``).
"""

from __future__ import annotations

import re

from appliance.detectors.text_regex import (
    NOT_DATE_AFTER,
    NOT_DATE_BEFORE,
    NOT_DATE_CONTEXT,
    TextPattern,
    c,
    month_day,
)
from appliance.domain.findings import FindingKind as K

_EVENTS = (
    "procedure|surgery|op|extubated|intubated|reintubated|extubation|intubation|cabg|cath"
    "|egd|ercp|mri|echo|colonoscopy|bronch|bronchoscopy|arrest|mvc|fall|fell|cva|stemi"
    "|nstemi|tips|crani|craniotomy|whipple|pci|ptca|stent|stented|thoracentesis|tap|peg"
    "|trach|tracheostomy|paracentesis|biopsy|bx|ex lap|laparotomy|amputation|orif|thr|tkr"
    "|lobectomy|repair|resection|transplant|ablation|cardioversion|dccv|pacer|icd|aicd"
    # weekdays ("Admitted Mon 3/4"; not "sat", "sun")
    "|mon|monday|tue|tues|tuesday|wed|wednesday|thu|thur|thurs|thursday|fri|friday"
    "|saturday|sunday"
)
# The value is matched first (digits are rare) and the event looked for before it.
_EVENT_BEFORE = re.compile(
    r"(?i:(?:\bs/p|\bstatus post)(?:[ \t]+[a-z][\w'\-]{0,19}){0,3}[ \t]+(?:on[ \t]+)?$"
    rf"|\b(?:{_EVENTS})[ \t]*:?[ \t]+(?:on[ \t]+)?$)"
)
_NOT_EVENT_DATE_AFTER = re.compile(
    r"(?i:^\s*(?:min|mins|minutes?|secs?|seconds?|times|beats|bpm|mm ?hg|cc|l\b|liters?"
    r"|mcg|meq|kg|lbs?|ft|feet|stairs|steps|levels?|vessels?|grafts?|stents?))"
)

_WEEKDAY_BEFORE = re.compile(
    r"(?i:\b(?:mon|tues?|wed|thu|thurs?|fri)(?:day|nesday|rsday|urday)?\.?,?[ \t]+$"
    r"|\b(?:satur|sun)day,?[ \t]+$)"
)


def event_month_day(text: str, start: int, end: int) -> bool:
    """A month/day after an event: not a small fraction, no unit or setting after it."""
    if not month_day(text, start, end) or not _EVENT_BEFORE.search(
        text[max(0, start - 72) : start]
    ):
        return False
    parts = re.split(r"\D", text[start:end])
    month, day = int(parts[0]), int(parts[1])
    if not 1 <= day <= 31:
        return False
    padded = parts[1].startswith("0")
    weekday = _WEEKDAY_BEFORE.search(text[max(0, start - 12) : start])
    if len(parts) == 2 and not (padded or weekday) and (month < day <= 4 or month == day <= 2):
        return False  # 1/2, 3/4, 1-2: a fraction or a range
    after = text[end : end + 12]
    return not (NOT_DATE_AFTER.match(after) or _NOT_EVENT_DATE_AFTER.match(after))


def timed_month_day(text: str, start: int, end: int) -> bool:
    """A month/day before a clock time (``labs sent 4/5 @ 0400``), not a score or a
    setting (``pain 4/10 at 0400``, ``psv 10/5 at 2200``)."""
    if not month_day(text, start, end) or text[start:end].endswith("/10"):
        return False
    before = text[max(0, start - 40) : start]
    return not (NOT_DATE_BEFORE.search(before[-24:]) or NOT_DATE_CONTEXT.search(before))


def same_month_range(text: str, start: int, end: int) -> bool:
    """Two days of one month (``4/5-4/7``): the second day later, no setting before."""
    first, second = re.split(r"\s*(?:-|to|thru|through)\s*", text[start:end].lower())
    (m1, d1), (m2, d2) = (map(int, first.split("/")), map(int, second.split("/")))
    before = text[max(0, start - 24) : start]
    if m1 != m2 or not d1 < d2 <= 31 or (m1 == 1 and d2 <= 4):  # "1/2-1/3 of tray"
        return False
    return not (NOT_DATE_BEFORE.search(before) or NOT_DATE_AFTER.match(text[end : end + 12]))


EVENT_DATES: tuple[TextPattern, ...] = (
    TextPattern(
        "date_after_event",
        K.DATE,
        c(
            r"(?<![\w/.\-+=:])(?P<v>(?:0?[1-9]|1[0-2])[/\-]\d{1,2}(?:[/\-](?:\d{4}|\d{2}))?)"
            r"\b(?![/\-.]\d)"
        ),
        0.65,
        event_month_day,
    ),
    TextPattern(
        "date_before_time",
        K.DATE,
        c(
            r"(?<![\w/.\-+=:])(?P<v>(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))"
            r"[ \t]{0,2}(?:@|at)[ \t]{0,2}(?:[01]\d|2[0-3])[0-5]\d\b"
        ),
        0.6,
        timed_month_day,
    ),
    TextPattern(
        "date_same_month_range",
        K.DATE,
        c(
            r"(?<![\w/.\-+=:])(?P<v>(?P<m>0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])"
            r"[ \t]{0,2}(?i:-|to|thru|through)[ \t]{0,2}(?P=m)/(?:0?[1-9]|[12]\d|3[01]))"
            r"(?![\w/]|\.\d)"
        ),
        0.6,
        same_month_range,
    ),
)
