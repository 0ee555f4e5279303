"""Identifier values in varied real-world formats for the synthetic notes (all invented)."""

from __future__ import annotations

import random
from collections.abc import Callable

from tests.detectors.synthetic import synthetic_data as data

Part = tuple[str, str, str]  # (prefix, labelled value, suffix)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(n))


def _alnum(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(n))


def _name(rng: random.Random) -> Part:
    first, last = rng.choice(data.FIRST_NAMES), rng.choice(data.LAST_NAMES)
    shapes: list[Part] = [
        ("", f"{first} {last}", ""),
        ("", f"{last}, {first}", ""),
        ("", f"{first} {rng.choice('ABCDEFGHJKLMNPRSTW')}. {last}", ""),
        ("", f"{rng.choice(data.TITLES)} {last}", ""),
        ("", f"{rng.choice(data.TITLES)} {first} {last}", ""),
        ("", f"{first} {last}, {rng.choice(data.CREDENTIALS)}", ""),
        ("", f"{first[0]}. {last}", ""),
        ("", f"{last.upper()}, {first.upper()}", ""),
    ]
    return rng.choice(shapes)


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _date(rng: random.Random) -> Part:
    y, m, d = rng.randint(1930, 2025), rng.randint(1, 12), rng.randint(1, 28)
    month = _MONTHS[m - 1]
    shapes = (
        f"{m:02d}/{d:02d}/{y}",
        f"{m}/{d}/{y % 100:02d}",
        f"{y}-{m:02d}-{d:02d}",
        f"{month} {d}, {y}",
        f"{d} {month} {y}",
        f"{month[:3]} {d}",
        f"{d:02d}-{month[:3]}-{y}",
        f"{m:02d}-{d:02d}-{y}",
        f"{month} {y}",
        f"{month[:3]}. {d}, {y}",
        f"{d}.{m}.{y}",
        f"the {d}th of {month}",
        f"{m}/{d}",
    )
    return ("", rng.choice(shapes), "")


def _age(rng: random.Random) -> Part:
    age = rng.choice((90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 101, 103, 104))
    sex = rng.choice(("woman", "man", "female", "male", "patient"))
    return rng.choice(
        (
            ("", f"{age}-year-old", f" {sex}"),
            ("", f"{age} y/o", f" {sex}"),
            ("", f"{age} yo", f" {sex}"),
            ("", f"{age} year old", f" {sex}"),
            ("", f"aged {age}", ""),
            ("", f"age {age}", ""),
            ("", f"{age} years of age", ""),
            ("", f"{age}yo", f" {sex}"),
            ("", f"{age} y.o.", f" {sex}"),
        )
    )


def _phone(rng: random.Random) -> str:
    a, b, c = rng.randint(201, 989), rng.randint(200, 989), _digits(rng, 4)
    return rng.choice(
        (
            f"({a}) {b}-{c}",
            f"{a}-{b}-{c}",
            f"{a}.{b}.{c}",
            f"+1 {a} {b} {c}",
            f"1-{a}-{b}-{c}",
            f"{a} {b} {c}",
            f"({a}){b}-{c}",
            f"{a}-{b}-{c} ext. {rng.randint(10, 999)}",
        )
    )


def _ssn(rng: random.Random) -> str:
    area, group, serial = rng.randint(1, 665), rng.randint(1, 99), rng.randint(1, 9999)
    return rng.choice(
        (
            f"{area:03d}-{group:02d}-{serial:04d}",
            f"{area:03d} {group:02d} {serial:04d}",
            f"{area:03d}{group:02d}{serial:04d}",
        )
    )


def _vin(rng: random.Random) -> str:
    return rng.choice("123456789JKLMSTWYZ") + _alnum(rng, 10) + _digits(rng, 6)


def value_for(kind: str, rng: random.Random) -> Part:
    """A value of ``kind`` in one of its formats, as (prefix, labelled part, suffix)."""
    first, last = rng.choice(data.FIRST_NAMES), rng.choice(data.LAST_NAMES)
    simple: dict[str, Callable[[], str]] = {
        "PHONE_NUMBER": lambda: _phone(rng),
        "FAX_NUMBER": lambda: _phone(rng),
        "EMAIL_ADDRESS": lambda: rng.choice(
            (
                f"{first.lower()}.{last.lower().replace(chr(39), '')}"
                f"@{rng.choice(data.EMAIL_DOMAINS)}",
                f"{first[0].lower()}{last.lower()[:6]}{rng.randint(1, 99)}@mail.com",
                f"{first.upper()}_{rng.randint(1950, 2005)}@{rng.choice(data.EMAIL_DOMAINS)}",
            )
        ),
        "SSN": lambda: _ssn(rng),
        "MEDICAL_RECORD_NUMBER": lambda: rng.choice(
            (
                _digits(rng, 8),
                f"{_digits(rng, 4)}-{_digits(rng, 4)}",
                f"A{_digits(rng, 7)}",
                f"{_digits(rng, 2)}-{_digits(rng, 2)}-{_digits(rng, 5)}",
                _digits(rng, 6),
            )
        ),
        "HEALTH_PLAN_ID": lambda: rng.choice(
            (
                f"{_letters(rng, 3)}{_digits(rng, 9)}",
                f"{rng.randint(1, 9)}{_letters(rng, 2)}{rng.randint(1, 9)}-{_alnum(rng, 3)}-"
                f"{_alnum(rng, 4)}",
                f"{_digits(rng, 8)}{_letters(rng, 1)}",
                f"W{_digits(rng, 9)}",
                f"{_letters(rng, 3)}-{_digits(rng, 4)}-{_digits(rng, 4)}",
            )
        ),
        "ACCOUNT_NUMBER": lambda: rng.choice(
            (
                _digits(rng, 8),
                f"{_digits(rng, 4)}-{_digits(rng, 2)}-{_digits(rng, 3)}",
                f"HAR{_digits(rng, 9)}",
                _digits(rng, 12),
            )
        ),
        "LICENSE_NUMBER": lambda: rng.choice(
            (
                f"{_letters(rng, 1)}{_digits(rng, 3)}-{_digits(rng, 4)}-{_digits(rng, 4)}",
                f"RN{_digits(rng, 6)}",
                f"{_digits(rng, 3)}-{_digits(rng, 4)}-{_digits(rng, 6)}",
                _digits(rng, 9),
                f"{_letters(rng, 2)}{_digits(rng, 7)}",
            )
        ),
        "VEHICLE_ID": lambda: rng.choice(
            (
                _vin(rng),
                f"{_letters(rng, 3)}-{_digits(rng, 4)}",
                f"{rng.randint(1, 9)}{_letters(rng, 3)}{_digits(rng, 3)}",
                f"{_letters(rng, 2)} {_digits(rng, 5)}",
            )
        ),
        "DEVICE_ID": lambda: rng.choice(
            (
                f"{_letters(rng, 3)}{_digits(rng, 6)}{_letters(rng, 1)}",
                f"{_digits(rng, 5)}-{_letters(rng, 2)}-{_digits(rng, 2)}",
                f"(01){_digits(rng, 14)}(17){_digits(rng, 6)}(10){_alnum(rng, 7)}",
                _digits(rng, 15),
                f"DX-{_digits(rng, 5)}-{_letters(rng, 1)}",
            )
        ),
        "URL": lambda: rng.choice(
            (
                f"https://{rng.choice(data.URL_HOSTS)}/patients/{_digits(rng, 5)}",
                f"http://{rng.choice(data.URL_HOSTS)}/{first.lower()}-{last.lower()[:5]}",
                f"www.{first.lower()}{last.lower()[:5]}story.com",
                f"facebook.com/{first.lower()}.{last.lower()[:6]}{rng.randint(1, 99)}",
            )
        ),
        "IP_ADDRESS": lambda: rng.choice(
            (
                f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
                f"{rng.randint(1, 254)}",
                f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                f"2001:db8:{rng.randint(0, 65535):x}::{rng.randint(1, 65535):x}",
            )
        ),
        "OTHER_ID": lambda: rng.choice(
            (
                f"E{_digits(rng, 7)}",
                f"S{_digits(rng, 2)}-{_digits(rng, 6)}",
                f"ACC-{rng.randint(2000, 2025)}-{_digits(rng, 5)}",
                f"PRJ-{_digits(rng, 4)}-{_digits(rng, 3)}",
                f"{_letters(rng, 2)}{_digits(rng, 8)}",
            )
        ),
        "ZIP_CODE": lambda: rng.choice((_digits(rng, 5), f"{_digits(rng, 5)}-{_digits(rng, 4)}")),
        "CITY": lambda: rng.choice(data.CITIES),
    }
    if kind == "PERSON_NAME":
        return _name(rng)
    if kind == "DATE":
        return _date(rng)
    if kind == "AGE_OVER_89":
        return _age(rng)
    if kind == "ADDRESS":
        street = (
            f"{rng.randint(1, 9999)} {rng.choice(('', 'N ', 'S ', 'West '))}"
            f"{rng.choice(data.STREETS)} {rng.choice(data.STREET_SUFFIXES)}"
        )
        unit = rng.choice(
            (
                "",
                "",
                f", Apt {rng.randint(1, 40)}{rng.choice('ABC')}",
                f" Unit {rng.randint(100, 999)}",
            )
        )
        return ("", rng.choice((street + unit, street, f"PO Box {rng.randint(10, 9999)}")), "")
    return ("", simple[kind](), "")
