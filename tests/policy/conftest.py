"""Fixtures for the policy tests: the shipped policies, findings, small custom policy sets."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.domain.findings import Finding, FindingKind
from appliance.domain.types import Modality
from appliance.policy import PolicyEngine

REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies"
NOW = datetime(2026, 1, 1, tzinfo=UTC)

_MODALITY = {
    FindingKind.FACE: Modality.IMAGE,
    FindingKind.SPEECH: Modality.AUDIO,
    FindingKind.DICOM_PHI_TAG: Modality.IMAGE,
    FindingKind.BURNED_IN_ANNOTATION: Modality.IMAGE,
}


def finding(kind: str, score: float = 0.9) -> Finding:
    """A hand-built finding of ``kind`` from its natural modality."""
    k = FindingKind(kind)
    return Finding(k, "test", _MODALITY.get(k, Modality.TEXT), score=score)


def findings(*kinds: str) -> list[Finding]:
    """Hand-built findings, one per kind."""
    return [finding(k) for k in kinds]


@pytest.fixture(scope="session")
def engine() -> PolicyEngine:
    """The engine over the repository's shipped policies."""
    return PolicyEngine.load(REPO_POLICIES)


@pytest.fixture
def shipped_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped policies directory."""
    target = tmp_path / "policies"
    shutil.copytree(REPO_POLICIES, target)
    return target


MINI_REGIME = """\
[regime]
id = "{regime}"
title = "Test regime"
citation = "Test Code 1"

[[categories]]
id = "{regime}.names"
title = "Names"
citation = "Test Code 1(a)"
evidence = ["person_name"]

[[categories]]
id = "{regime}.faces"
title = "Faces"
citation = "Test Code 1(b)"
evidence = ["face"]
"""

MINI_SITE = """\
[site]
title = "Test site"
citation = "Test site policy"

[[rules]]
id = "site.clean"
title = "Nothing found"
citation = "Test site policy 1"
when.no_categories = true
obligations = []
"""


def write_policies(directory: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (name -> TOML text) into a fresh policies directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory
