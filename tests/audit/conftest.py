"""Fixtures for the audit trail tests: keys, a fixed clock, filled trails, a tamper kit."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.audit import CHECKPOINT_FILE, TRAIL_FILE, AuditTrail
from appliance.audit.entry import canonical_json, entry_hash
from appliance.clock import FixedClock
from appliance.domain.types import Actor

SUBJECT = "ps_" + "0123456789abcdef" * 2


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def audit_dir(tmp_path: Path) -> Path:
    return tmp_path / "audit"


@pytest.fixture
def subject() -> str:
    return SUBJECT


@pytest.fixture
def actor() -> Actor:
    return Actor(token_id="tok_ingest_1", role="ingest")


@pytest.fixture
def make_trail(
    audit_dir: Path, signing_key: Ed25519PrivateKey, clock: FixedClock
) -> Iterator[Callable[..., AuditTrail]]:
    opened: list[AuditTrail] = []

    def make(every: int = 4, key: Ed25519PrivateKey | None = None) -> AuditTrail:
        trail = AuditTrail(audit_dir, key or signing_key, clock=clock, checkpoint_every=every)
        opened.append(trail)
        return trail

    yield make
    for trail in opened:
        with contextlib.suppress(Exception):
            trail.close()


def append_one(trail: AuditTrail, actor: Actor, n: int) -> None:
    trail.append(
        actor=actor,
        action="items.store",
        outcome="ok",
        collection="notes",
        subject=SUBJECT,
        decision={"outcome": "allow", "reasons": ["consent_on_file"]},
        details={"n": n, "modality": "text"},
    )


@pytest.fixture
def fill(
    make_trail: Callable[..., AuditTrail], actor: Actor, clock: FixedClock
) -> Callable[..., AuditTrail]:
    """Append ``n`` entries (one second apart) to a fresh trail; close it unless told not to."""

    def fill_(n: int, every: int = 4, close: bool = True) -> AuditTrail:
        trail = make_trail(every)
        for i in range(n):
            append_one(trail, actor, i)
            clock.advance(timedelta(seconds=1))
        if close:
            trail.close()
        return trail

    return fill_


class Tamper:
    """Edits the stored files the way an attacker (or a bad disk) would."""

    def __init__(self, directory: Path) -> None:
        self.trail = directory / TRAIL_FILE
        self.checkpoints = directory / CHECKPOINT_FILE

    @staticmethod
    def lines(path: Path) -> list[bytes]:
        return path.read_bytes().splitlines()

    @staticmethod
    def write(path: Path, lines: list[bytes]) -> None:
        path.write_bytes(b"".join(line + b"\n" for line in lines))

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines(self.trail)]

    def write_entries(self, entries: list[dict[str, Any]]) -> None:
        self.write(self.trail, [canonical_json(e) for e in entries])

    def edit(self, seq: int, rehash: bool = False, **changes: Any) -> None:
        entries = self.entries()
        entries[seq].update(changes)
        if rehash:
            entries[seq]["hash"] = entry_hash(entries[seq])
        self.write_entries(entries)

    def rechain(self, entries: list[dict[str, Any]], start: int = 0) -> list[dict[str, Any]]:
        """Renumber, relink and rehash from ``start`` (an attacker who rewrites everything)."""
        for i in range(start, len(entries)):
            entries[i]["seq"] = i
            entries[i]["prev"] = entries[i - 1]["hash"] if i else "0" * 64
            entries[i]["hash"] = entry_hash(entries[i])
        return entries

    def checkpoint_dicts(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines(self.checkpoints)]

    def write_checkpoints(self, checkpoints: list[dict[str, Any]]) -> None:
        self.write(self.checkpoints, [canonical_json(c) for c in checkpoints])


@pytest.fixture
def tamper(audit_dir: Path) -> Tamper:
    return Tamper(audit_dir)
