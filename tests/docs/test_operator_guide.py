"""The operator guide lists every error code with a remedy and every /metrics metric."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "operator-guide.md"
CODE = re.compile(r"""\bcode\s*=\s*["']([a-z_]+)["']""")
METRIC = re.compile(r"""["'](appliance_[a-z_]+)["']""")


def _section(title: str) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(title)
    following = text.find("\n## ", start + 1)
    return text[start : following if following != -1 else len(text)]


def error_codes() -> set[str]:
    """Every stable code the package raises or answers with (errors.py, every error class,
    every `code="..."`, and the API's status table)."""
    codes: set[str] = set()
    for path in (REPO / "appliance").rglob("*.py"):
        codes.update(CODE.findall(path.read_text(encoding="utf-8")))
    from appliance.api import errors as api_errors

    codes.update(getattr(api_errors, "STATUS_BY_CODE", {}))
    return codes


def test_every_error_code_has_a_row_with_a_remedy() -> None:
    """Each code has a troubleshooting row whose last cell (the remedy) is not empty."""
    table = _section("## 12. Troubleshooting by error code")
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `([a-z_]+)` \|(.*)\|\s*$", table, re.MULTILINE)
    }
    missing = sorted(error_codes() - set(rows))
    assert not missing, f"docs/operator-guide.md section 12 lacks error codes: {missing}"
    no_remedy = sorted(code for code, cells in rows.items() if not cells.split("|")[-1].strip())
    assert not no_remedy, f"rows without a remedy: {no_remedy}"


def test_every_metric_is_explained() -> None:
    """Each metric family the API exports is in the monitoring table."""
    source = (REPO / "appliance" / "api" / "metrics.py").read_text(encoding="utf-8")
    table = _section("## 11. Monitoring")
    missing = sorted(
        name for name in set(METRIC.findall(source)) if not re.search(rf"`{name}(_total)?\b", table)
    )
    assert not missing, f"docs/operator-guide.md section 11 lacks metrics: {missing}"
