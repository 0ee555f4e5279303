"""The modality inventory of a corpus folder: what there is, and what the detectors find.

Per modality: counts, bytes and formats; text languages and lengths; image resolutions
and formats (DICOM included); audio sample rates, channels and durations. Findings:
the share of items with PHI, faces and speech, per finding kind, per policy category
and per regime, and the decisions the policy would take under one request context.
Only aggregates leave this module: no file content, no per-file finding.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.domain.findings import FindingKind
from appliance.domain.types import Modality
from appliance.policy.classify import Classification
from appliance.policy.engine import PolicyEngine

TOP = 20
NOT_PHI = frozenset({FindingKind.FACE, FindingKind.SPEECH})

# Fact names accepted from detection reports (first present wins).
_LANGUAGE = ("language", "lang")
_CHARS = ("length_chars", "chars", "length", "characters")
_WIDTH = ("width",)
_HEIGHT = ("height",)
_RATE = ("sample_rate", "sample_rate_hz", "samplerate")
_CHANNELS = ("channels",)
_DURATION = ("duration_s", "duration_seconds", "duration")


def corpus_files(root: Path) -> list[Path]:
    """Regular files under ``root`` in name order (hidden entries and symlinks skipped)."""
    found: list[Path] = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_symlink() or not path.is_file():
            continue
        found.append(path)
    return found


def _fact(facts: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if facts.get(name) is not None:
            return facts[name]
    return None


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "mean": round(statistics.fmean(values), 3),
        "max": round(max(values), 3),
    }


def _share(count: int, total: int) -> dict[str, Any]:
    return {"items": count, "share": round(count / total, 4) if total else 0.0}


@dataclass
class _ModalityTally:
    count: int = 0
    bytes: int = 0
    formats: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    lengths: list[float] = field(default_factory=list)
    resolutions: Counter[str] = field(default_factory=Counter)
    widths: list[float] = field(default_factory=list)
    heights: list[float] = field(default_factory=list)
    dicom: int = 0
    rates: Counter[str] = field(default_factory=Counter)
    channels: Counter[str] = field(default_factory=Counter)
    durations: list[float] = field(default_factory=list)
    with_findings: int = 0


class Inventory:
    """Accumulates classifications of a corpus into aggregate counts and shares."""

    def __init__(self, engine: PolicyEngine, root: Path) -> None:
        self._engine = engine
        self._root = root
        self._files = 0
        self._modalities: dict[str, _ModalityTally] = defaultdict(_ModalityTally)
        self._skipped: Counter[str] = Counter()
        self._skipped_examples: list[dict[str, str]] = []
        self._items = 0
        self._phi = self._faces = self._speech = 0
        self._kinds: Counter[str] = Counter()
        self._kind_findings: Counter[str] = Counter()
        self._categories: Counter[str] = Counter()
        self._regimes: Counter[str] = Counter()
        self._outcomes: Counter[str] = Counter()

    def skip(self, path: Path, code: str, message: str) -> None:
        """Count a file that is of no supported kind or that a decoder refused."""
        self._files += 1
        self._skipped[code] += 1
        if len(self._skipped_examples) < TOP:
            self._skipped_examples.append(
                {"file": str(path.relative_to(self._root)), "code": code, "message": message}
            )

    def add(self, item: Classification) -> None:
        """Count one classified file."""
        self._files += 1
        self._items += 1
        tally = self._modalities[item.modality.value]
        tally.count += 1
        tally.bytes += item.size_bytes
        tally.formats[item.format] += 1
        facts = item.facts
        if item.modality is Modality.TEXT:
            tally.languages[str(_fact(facts, _LANGUAGE) or "unknown")] += 1
            chars = _fact(facts, _CHARS)
            if isinstance(chars, int | float):
                tally.lengths.append(float(chars))
        elif item.modality is Modality.IMAGE:
            width, height = _fact(facts, _WIDTH), _fact(facts, _HEIGHT)
            if isinstance(width, int) and isinstance(height, int):
                tally.resolutions[f"{width}x{height}"] += 1
                tally.widths.append(float(width))
                tally.heights.append(float(height))
            if facts.get("is_dicom") or item.format.upper() == "DICOM":
                tally.dicom += 1
        else:
            rate, channels = _fact(facts, _RATE), _fact(facts, _CHANNELS)
            if rate is not None:
                tally.rates[str(rate)] += 1
            if channels is not None:
                tally.channels[str(channels)] += 1
            duration = _fact(facts, _DURATION)
            if isinstance(duration, int | float):
                tally.durations.append(float(duration))
        kinds = {f.kind for f in item.findings}
        tally.with_findings += bool(kinds)
        self._phi += bool(kinds - NOT_PHI)
        self._faces += FindingKind.FACE in kinds
        self._speech += FindingKind.SPEECH in kinds
        self._kinds.update(k.value for k in kinds)
        self._kind_findings.update(f.kind.value for f in item.findings)
        if item.decision is not None:
            self._categories.update(item.decision.categories)
            self._regimes.update(
                {self._engine.policy.category(c).regime for c in item.decision.categories}
            )
            self._outcomes[item.decision.outcome.value] += 1

    def to_dict(self, context: Mapping[str, str]) -> dict[str, Any]:
        """The inventory as JSON-ready data."""
        n = self._items
        return {
            "root": str(self._root),
            "files": self._files,
            "items": n,
            "skipped": {
                "count": sum(self._skipped.values()),
                "by_reason": dict(self._skipped),
                "examples": self._skipped_examples,
            },
            "modalities": {m: _modality(t) for m, t in sorted(self._modalities.items())},
            "findings": {
                "phi": _share(self._phi, n),
                "faces": _share(self._faces, n),
                "speech": _share(self._speech, n),
                "kinds": {
                    k: {**_share(c, n), "findings": self._kind_findings[k]}
                    for k, c in self._kinds.most_common()
                },
                "categories": {c: _share(k, n) for c, k in self._categories.most_common()},
                "regimes": {r: _share(k, n) for r, k in self._regimes.most_common()},
            },
            "decisions": {"context": dict(context), "outcomes": dict(self._outcomes)},
            "policy_hash": self._engine.policy_hash,
        }


def _modality(t: _ModalityTally) -> dict[str, Any]:
    out: dict[str, Any] = {
        "count": t.count,
        "bytes": t.bytes,
        "formats": dict(t.formats.most_common()),
        "with_findings": _share(t.with_findings, t.count),
    }
    if t.languages:
        out["languages"] = dict(t.languages.most_common())
        out["length_chars"] = _stats(t.lengths)
    if t.widths or t.dicom or t.resolutions:
        out["resolutions"] = dict(t.resolutions.most_common(TOP))
        out["distinct_resolutions"] = len(t.resolutions)
        out["width"] = _stats(t.widths)
        out["height"] = _stats(t.heights)
        out["dicom"] = t.dicom
    if t.rates or t.channels or t.durations:
        out["sample_rates"] = dict(t.rates.most_common())
        out["channels"] = dict(t.channels.most_common())
        out["duration_s"] = _stats(t.durations)
    return out


def render_table(inventory: Mapping[str, Any]) -> Iterator[str]:
    """Readable lines of an inventory (``Inventory.to_dict`` output)."""
    yield f"corpus {inventory['root']}: {inventory['files']} files, {inventory['items']} items"
    skipped = inventory["skipped"]
    if skipped["count"]:
        reasons = ", ".join(f"{k} {v}" for k, v in skipped["by_reason"].items())
        yield f"skipped {skipped['count']} ({reasons})"
    yield ""
    yield f"{'modality':<9} {'items':>7} {'MB':>9}  formats"
    for name, m in inventory["modalities"].items():
        formats = ", ".join(f"{k} {v}" for k, v in m["formats"].items())
        yield f"{name:<9} {m['count']:>7} {m['bytes'] / 1e6:>9.2f}  {formats}"
    for name, m in inventory["modalities"].items():
        yield ""
        yield f"{name}: {m['with_findings']['share']:.1%} with findings"
        if "languages" in m:
            yield "  languages     " + ", ".join(f"{k} {v}" for k, v in m["languages"].items())
            yield "  length chars  " + _stats_text(m["length_chars"])
        if "resolutions" in m:
            top = ", ".join(f"{k} {v}" for k, v in list(m["resolutions"].items())[:5])
            yield f"  resolutions   {top} ({m['distinct_resolutions']} distinct)"
            yield f"  width / height {_stats_text(m['width'])} / {_stats_text(m['height'])}"
            yield f"  DICOM         {m['dicom']}"
        if "sample_rates" in m:
            yield "  sample rates  " + ", ".join(
                f"{k} Hz {v}" for k, v in m["sample_rates"].items()
            )
            yield "  channels      " + ", ".join(f"{k}: {v}" for k, v in m["channels"].items())
            yield "  duration s    " + _stats_text(m["duration_s"])
    f = inventory["findings"]
    yield ""
    yield (
        f"items with PHI {f['phi']['share']:.1%}, faces {f['faces']['share']:.1%}, "
        f"speech {f['speech']['share']:.1%}"
    )
    for title, key in (
        ("finding kind", "kinds"),
        ("category", "categories"),
        ("regime", "regimes"),
    ):
        if f[key]:
            yield f"  {title:<34} {'items':>7} {'share':>7}"
            for name, s in f[key].items():
                yield f"  {name:<34} {s['items']:>7} {s['share']:>7.1%}"
    d = inventory["decisions"]
    context = ", ".join(f"{k} {v}" for k, v in d["context"].items())
    outcomes = ", ".join(f"{k} {v}" for k, v in d["outcomes"].items()) or "none"
    yield ""
    yield f"decisions ({context}; policy {inventory['policy_hash'][:16]}): {outcomes}"


def _stats_text(stats: Mapping[str, float] | None) -> str:
    if not stats:
        return "n/a"
    return f"min {stats['min']:g}, median {stats['median']:g}, max {stats['max']:g}"
