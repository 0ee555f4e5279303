"""Screening the fields that travel with an input: its metadata and the client's item id.

They are inputs like the content: every metadata key and value (strings and numbers, at
any depth) and the item id go through the text detector, in one document per item so
each value is read beside its key (``mrn: 88442211`` is an MRN where ``88442211`` alone
is just a number). Their findings join the content's in the item's one decision, and
that decision's obligations apply to them as to the content: a de-identification
obligation redacts them (and withholds an id that carries an identifier), a deny or a
missing consent refuses the whole item.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from appliance.domain.findings import Finding
from appliance.domain.types import Modality
from appliance.errors import InvalidInputError
from appliance.policy.decisions import Decision, RequireDeidentification
from appliance.services.admission import redact_text
from appliance.services.items import MAX_ITEM_ID_CHARS

MAX_SCREENED_CHARS = 64 * 1024
MAX_DEPTH = 16

TextDetector = Callable[[str], Sequence[Finding]]
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class _Span:
    """Where one screened piece of text sits in the document, and what it is."""

    kind: str  # "key", "value" or "id"
    path: Path
    start: int
    end: int


@dataclass(frozen=True)
class FieldScreen:
    """What the detector found in an item's metadata and id."""

    findings: tuple[Finding, ...] = ()
    """Every finding, for the decision (document coordinates)."""
    located: dict[tuple[str, Path], tuple[Finding, ...]] = field(default_factory=dict)
    """Findings by (kind, path), located within that key, value or id."""

    def found_in(self, kind: str, path: Path = ()) -> tuple[Finding, ...]:
        """Findings inside one key (``"key"``), value (``"value"``) or the id (``"id"``)."""
        return self.located.get((kind, path), ())


@dataclass(frozen=True)
class FieldAdmission:
    """The metadata to keep and whether the client's id may be kept and shown."""

    metadata: dict[str, Any]
    reveal_id: bool = True
    notes: dict[str, Any] = field(default_factory=dict)


def screen_fields(
    metadata: Mapping[str, Any] | None, item_id: str | None, detect_text: TextDetector
) -> FieldScreen:
    """Run the text detector over ``metadata`` and ``item_id``; nothing is kept."""
    if item_id is not None and (
        not isinstance(item_id, str) or not 1 <= len(item_id) <= MAX_ITEM_ID_CHARS
    ):
        raise InvalidInputError(f"item id must be 1-{MAX_ITEM_ID_CHARS} characters")
    lines: list[str] = []
    spans: list[_Span] = []
    cursor = 0

    def emit(kind: str, path: Path, prefix: str, text: str) -> None:
        nonlocal cursor
        start = cursor + len(prefix)
        lines.append(prefix + text)
        spans.append(_Span(kind, path, start, start + len(text)))
        cursor += len(prefix) + len(text) + 1
        if cursor > MAX_SCREENED_CHARS:
            raise InvalidInputError(
                f"metadata and id hold more than {MAX_SCREENED_CHARS} characters to screen",
                remedy="keep metadata to short descriptive fields",
            )

    def walk(value: Any, path: Path, label: str) -> None:
        if len(path) > MAX_DEPTH:
            raise InvalidInputError(f"metadata is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if str(key).strip():
                    emit("key", (*path, str(key)), "", str(key))
                walk(inner, (*path, str(key)), str(key))
        elif isinstance(value, list | tuple):
            for position, inner in enumerate(value):
                walk(inner, (*path, position), label)
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value)
            if text.strip():
                emit("value", path, f"{_one_line(label)}: ", _one_line(text))

    walk(metadata or {}, (), "value")
    if item_id is not None:
        emit("id", (), "id: ", _one_line(item_id))
    if not spans:
        return FieldScreen()
    found = tuple(detect_text("\n".join(lines)))
    located: dict[tuple[str, Path], list[Finding]] = {}
    kept: list[Finding] = []
    for finding in found:
        start, end = _bounds(finding)
        hit = False
        for span in spans:
            if start < span.end and end > span.start:
                hit = True
                located.setdefault((span.kind, span.path), []).append(
                    Finding(
                        finding.kind,
                        finding.detector,
                        Modality.TEXT,
                        finding.score,
                        {
                            "start": max(start, span.start) - span.start,
                            "end": min(end, span.end) - span.start,
                        },
                    )
                )
        if hit:
            kept.append(finding)
    return FieldScreen(tuple(kept), {k: tuple(v) for k, v in located.items()})


def admit_fields(
    decision: Decision, metadata: Mapping[str, Any] | None, screen: FieldScreen
) -> FieldAdmission:
    """Apply the item's decision to its metadata and id: redact under de-identification,
    and withhold an id in which an identifier was found."""
    original = dict(metadata or {})
    if not any(isinstance(o, RequireDeidentification) for o in decision.obligations):
        return FieldAdmission(original)
    notes: dict[str, Any] = {}
    cleaned = _redact(original, (), screen)
    if cleaned != original:
        notes["metadata_deidentified"] = True
    reveal = not screen.found_in("id")
    if not reveal:
        notes["id_withheld"] = True
    return FieldAdmission(cleaned, reveal, notes)


def _redact(value: Any, path: Path, screen: FieldScreen) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            name = str(key)
            key_findings = screen.found_in("key", (*path, name))
            label = redact_text(_one_line(name), key_findings) if key_findings else name
            unique, suffix = label, 2
            while unique in out:
                unique, suffix = f"{label}#{suffix}", suffix + 1
            out[unique] = _redact(inner, (*path, name), screen)
        return out
    if isinstance(value, list | tuple):
        return [_redact(inner, (*path, n), screen) for n, inner in enumerate(value)]
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        found = screen.found_in("value", path)
        if found:
            return redact_text(_one_line(str(value)), found)
    return value


def _one_line(text: str) -> str:
    """Line breaks become spaces (same length), so each piece stays on its own line."""
    return text.replace("\r", " ").replace("\n", " ")


def _bounds(finding: Finding) -> tuple[int, int]:
    location = finding.location
    if "start" in location and "end" in location:
        return int(location["start"]), int(location["end"])
    return 0, 1 << 62  # an unlocated text finding covers everything
