"""Read and validate ``policies/*.toml``: every problem is reported as ``file:line: what``.

Refused at load (the appliance does not start): TOML syntax errors, unknown keys, a
missing citation, an unknown finding kind or category, an obligation of unknown type or
with bad parameters, duplicate ids, and rules that can never fire (an empty or unknown
role/purpose/setting/modality list, categories whose evidence cannot occur in the
rule's modalities, contradictory conditions, categories of a disabled regime).

Where policies come from: the ``policies_dir`` a caller passes, else ``/etc/appliance/
policies`` when it exists (an installed appliance), else the ``policies/`` folder of the
source checkout this package runs from.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any

from appliance.domain.findings import FindingKind
from appliance.errors import ConfigError
from appliance.policy.lines import LineIndex, PolicyFile
from appliance.policy.model import Category, PolicySet, Regime, Rule, Source
from appliance.policy.risk_limits import SECTION as RISK_SECTION
from appliance.policy.risk_limits import parse_risk_limits
from appliance.policy.rules import RuleParser

SYSTEM_POLICIES_DIR = Path("/etc/appliance/policies")
SITE_FILE = "site.toml"
SITE_REGIME = "site"
_REGIME_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_CATEGORY_KEYS = frozenset({"id", "title", "citation", "evidence", "min_score", "notes"})


class PolicyError(ConfigError):
    """Policy files are invalid; ``problems`` lists every ``file:line: message`` found."""

    code = "policy_invalid"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        head = problems[0] if len(problems) == 1 else f"{len(problems)} problems in policy files"
        super().__init__(
            head if len(problems) == 1 else head + ":\n  " + "\n  ".join(problems),
            remedy="fix the named files and lines, then start again",
        )


def default_policies_dir() -> Path:
    """``/etc/appliance/policies`` when present, else the source checkout's ``policies/``."""
    if SYSTEM_POLICIES_DIR.is_dir():
        return SYSTEM_POLICIES_DIR
    return Path(__file__).resolve().parents[2] / "policies"


def policy_hash(files: list[tuple[str, bytes]]) -> str:
    """SHA-256 over the files in name order: name, NUL, length, NUL, bytes, for each."""
    digest = hashlib.sha256()
    for name, content in sorted(files):
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def load_policy_set(directory: Path | None = None) -> PolicySet:
    """Load and validate every ``*.toml`` of ``directory``; ``PolicyError`` lists problems."""
    directory = Path(directory) if directory is not None else default_policies_dir()
    paths = sorted(directory.glob("*.toml")) if directory.is_dir() else []
    if not paths:
        raise PolicyError([f"{directory}: no policy files (*.toml) found"])
    problems: list[str] = []
    raw: list[tuple[str, bytes]] = []
    files: list[PolicyFile] = []
    for path in paths:
        display = str(path)
        content = path.read_bytes()
        raw.append((path.name, content))
        try:
            text = content.decode("utf-8")
            data = tomllib.loads(text)
        except UnicodeDecodeError:
            problems.append(f"{display}:1: not UTF-8 text")
            continue
        except tomllib.TOMLDecodeError as exc:
            found = re.search(r"line (\d+)", str(exc))
            problems.append(f"{display}:{found.group(1) if found else 1}: invalid TOML: {exc}")
            continue
        files.append(PolicyFile(display, data, LineIndex(text)))
    regimes: list[Regime] = []
    categories: list[Category] = []
    enabled: list[str] | None = None
    site: PolicyFile | None = None
    for file in files:
        regime, site_regimes = _header(file, is_site=Path(file.display).name == SITE_FILE)
        if regime is None:
            continue
        regimes.append(regime)
        if regime.id == SITE_REGIME:
            site, enabled = file, site_regimes
        categories.extend(_categories(file, regime.id))
    problems.extend(p for f in files for p in f.problems)
    for f in files:
        f.problems.clear()
    _check_unique(problems, [(c.id, c.source) for c in categories], "category")
    _check_unique(problems, [(r.id, r.source) for r in regimes], "regime")
    known_regimes = {r.id for r in regimes}
    active = set(known_regimes) if enabled is None else {*enabled, SITE_REGIME}
    if site is not None and enabled is not None:
        for name in enabled:
            if name not in known_regimes or name == SITE_REGIME:
                site.problem(
                    site.lines.key("site", None, "regimes"),
                    f"site.regimes: unknown regime {name!r} (policy files define "
                    f"{', '.join(sorted(known_regimes - {SITE_REGIME}))})",
                )
    in_force = [c for c in categories if c.regime in active]
    parser = RuleParser(categories, active)
    rules: list[Rule] = []
    for file in files:
        regime_id = _file_regime(file)
        if regime_id is None:
            continue
        parsed = parser.parse_all(file, regime_id)
        if regime_id in active:
            rules.extend(parsed)
        problems.extend(file.problems)
    _check_unique(problems, parser.seen, "rule")
    known_ids = ([c.id for c in categories], [c.id for c in in_force])
    risk_limits = parse_risk_limits(site, known_ids, rules, problems)
    if problems:
        raise PolicyError(problems)
    return PolicySet(
        directory=directory,
        files=tuple(p.name for p in paths),
        policy_hash=policy_hash(raw),
        regimes=tuple(regimes),
        enabled=tuple(sorted(active)),
        categories=tuple(in_force),
        rules=tuple(rules),
        risk_limits=risk_limits,
    )


def _file_regime(file: PolicyFile) -> str | None:
    if Path(file.display).name == SITE_FILE:
        return SITE_REGIME
    header = file.data.get("regime")
    return (
        header.get("id") if isinstance(header, dict) and isinstance(header.get("id"), str) else None
    )


def _header(file: PolicyFile, *, is_site: bool) -> tuple[Regime | None, list[str] | None]:
    name = "site" if is_site else "regime"
    allowed = {name, "categories", "rules", *([RISK_SECTION] if is_site else [])}
    for key in file.data:
        if key not in allowed:
            file.problem(
                file.lines.key(key, None, key) or file.lines.table(key) or 1,
                f"unknown top-level key {key!r} (expected {', '.join(sorted(allowed))})",
            )
    table = file.data.get(name)
    if not isinstance(table, dict):
        file.problem(1, f"missing [{name}] table")
        return None, None
    line = file.lines.table(name) or 1
    known = (
        {"title", "citation", "notes", "regimes"}
        if is_site
        else {"id", "title", "citation", "notes"}
    )
    for key in table:
        if key not in known:
            file.problem(
                file.lines.key(name, None, key),
                f"[{name}]: unknown key {key!r} (expected {', '.join(sorted(known))})",
            )
    regime_id = SITE_REGIME if is_site else file.text(table, "id", line, f"[{name}]")
    if regime_id and not _REGIME_ID.match(regime_id):
        file.problem(line, f"[regime]: id {regime_id!r} must be a short lower-case word")
    if regime_id == SITE_REGIME and not is_site:
        file.problem(line, f"[regime]: id {SITE_REGIME!r} is reserved for {SITE_FILE}")
    title = file.text(table, "title", line, f"[{name}]")
    citation = file.text(table, "citation", line, f"[{name}]")
    enabled: list[str] | None = None
    if is_site and "regimes" in table:
        value = table["regimes"]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            file.problem(
                file.lines.key(name, None, "regimes"), "site.regimes must be a list of regime ids"
            )
            value = []
        enabled = list(value)
    if not regime_id:
        return None, None
    return Regime(regime_id, title, citation, Source(file.display, line)), enabled


def _categories(file: PolicyFile, regime: str) -> list[Category]:
    entries = file.data.get("categories", [])
    if not isinstance(entries, list):
        file.problem(
            file.lines.table("categories") or 1, "categories must be [[categories]] tables"
        )
        return []
    out: list[Category] = []
    pattern = re.compile(rf"^{re.escape(regime)}\.[a-z0-9_]+$")
    for n, entry in enumerate(entries):
        line = file.lines.table("categories", n)
        if not isinstance(entry, dict):
            file.problem(line, "a category must be a table")
            continue
        cid = entry.get("id") if isinstance(entry.get("id"), str) else f"#{n + 1}"
        what = f"category {cid!r}"
        for key in entry:
            if key not in _CATEGORY_KEYS:
                file.problem(file.lines.key("categories", n, key), f"{what}: unknown key {key!r}")
        if not pattern.match(cid):
            file.problem(line, f"{what}: id must look like '{regime}.some_name'")
        title = file.text(entry, "title", line, what)
        citation = file.text(entry, "citation", line, what)
        evidence = _evidence(file, entry, n, what)
        min_score = entry.get("min_score", 0.0)
        score_line = file.lines.key("categories", n, "min_score")
        if isinstance(min_score, bool) or not isinstance(min_score, int | float):
            file.problem(score_line, f"{what}: min_score must be a number")
            min_score = 0.0
        elif not 0.0 <= min_score <= 1.0:
            file.problem(
                score_line,
                f"{what}: min_score {min_score} is outside 0..1, so no "
                "finding can ever evidence this category",
            )
        out.append(
            Category(
                cid, regime, title, citation, evidence, float(min_score), Source(file.display, line)
            )
        )
    return out


def _evidence(file: PolicyFile, entry: dict[str, Any], n: int, what: str) -> frozenset[FindingKind]:
    line = file.lines.key("categories", n, "evidence")
    value = entry.get("evidence")
    if not isinstance(value, list) or not value:
        file.problem(
            line,
            f"{what}: evidence must list at least one finding kind, or the "
            "category can never be hit",
        )
        return frozenset()
    kinds: set[FindingKind] = set()
    valid = {k.value for k in FindingKind}
    for item in value:
        if item in valid:
            kinds.add(FindingKind(item))
        else:
            close = difflib.get_close_matches(str(item), sorted(valid), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            file.problem(line, f"{what}: unknown finding kind {item!r}{hint}")
    return frozenset(kinds)


def _check_unique(problems: list[str], items: list[tuple[str, Source]], what: str) -> None:
    seen: dict[str, Source] = {}
    for ident, source in items:
        if ident in seen:
            problems.append(
                f"{source}: duplicate {what} id {ident!r} (first defined at {seen[ident]})"
            )
        else:
            seen[ident] = source
