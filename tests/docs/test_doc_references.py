"""Every test a doc page names exists: `tests/x.py` as a file, `tests/x.py::name` as a test
function in it (compliance mapping, threat model, operator guide, every page)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?")
MUST_CITE = ("compliance.md", "threat-model.md")


def references() -> list[tuple[str, str, str | None]]:
    """(page, file, test name or None) for every test reference in docs/*.md."""
    found = []
    for page in sorted((REPO / "docs").glob("*.md")):
        for match in REFERENCE.finditer(page.read_text(encoding="utf-8")):
            found.append((page.name, match.group(1), match.group(2)))
    return found


def test_every_referenced_test_exists() -> None:
    """Each named file exists and each named test is defined in it."""
    broken = []
    for page, file, name in references():
        path = REPO / file
        if not path.is_file():
            broken.append(f"{page}: {file} (no such file)")
        elif name and not re.search(
            rf"^(async )?def {name}\(", path.read_text(encoding="utf-8"), re.MULTILINE
        ):
            broken.append(f"{page}: {file}::{name} (no such test)")
    assert not broken, "docs name tests that do not exist:\n  " + "\n  ".join(broken)


def test_compliance_and_threat_model_cite_tests() -> None:
    """The compliance mapping and the threat model back their claims with named tests."""
    cited = {page for page, _, name in references() if name}
    assert set(MUST_CITE) <= cited
