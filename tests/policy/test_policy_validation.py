"""Policy files are validated at load: each kind of problem stops the start with file:line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from appliance.domain.findings import FindingKind
from appliance.errors import ConfigError
from appliance.policy import PolicyEngine, PolicyError, load_policy_set
from tests.policy.conftest import MINI_REGIME, MINI_SITE, REPO_POLICIES, write_policies


def _problems(directory: Path) -> list[str]:
    with pytest.raises(PolicyError) as info:
        load_policy_set(directory)
    return info.value.problems


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + "\n" + text)


def test_shipped_policies_load_with_every_regime_and_citations() -> None:
    """The shipped files load: three regimes plus site, 18 HIPAA identifiers, all cited."""
    policy = load_policy_set(REPO_POLICIES)
    assert set(policy.enabled) == {"hipaa", "bipa", "ccpa", "site"}
    hipaa = [c for c in policy.categories if c.regime == "hipaa"]
    cited = {c.citation for c in hipaa if "164.514(b)(2)(i)(" in c.citation}
    assert len(cited) == 18
    assert {"bipa.face_geometry", "bipa.voiceprint"} <= {c.id for c in policy.categories}
    assert all(c.citation and r.citation for c in policy.categories for r in policy.rules)
    assert any("1798.105" in c.citation for c in policy.categories if c.regime == "ccpa")
    assert re.fullmatch(r"[0-9a-f]{64}", policy.policy_hash)


def test_policy_error_is_a_config_error_that_stops_the_start(shipped_copy: Path) -> None:
    """A bad file raises a ConfigError subclass (exit status 2) carrying every problem."""
    _append(shipped_copy / "bipa.toml", "[[rules]]\nid = 1\n")
    with pytest.raises(ConfigError) as info:
        PolicyEngine.load(shipped_copy)
    assert info.value.exit_status == 2 and isinstance(info.value, PolicyError)
    assert "bipa.toml:" in info.value.message


def test_unknown_finding_kind_names_file_and_line(shipped_copy: Path) -> None:
    """An evidence kind outside FindingKind is refused at its line, with a suggestion."""
    path = shipped_copy / "bipa.toml"
    path.write_text(path.read_text().replace('evidence = ["speech"]', 'evidence = ["speach"]'))
    line = _line_of(path, '"speach"')
    problems = _problems(shipped_copy)
    assert problems == [
        f"{path}:{line}: category 'bipa.voiceprint': unknown finding kind 'speach'; "
        "did you mean speech?"
    ]


def test_unknown_category_in_a_rule_names_file_and_line(shipped_copy: Path) -> None:
    """A rule naming a category no file defines is refused at that condition's line."""
    path = shipped_copy / "site.toml"
    _append(
        path,
        '[[rules]]\nid = "site.retina"\ntitle = "t"\ncitation = "c"\n'
        'when.categories = ["bipa.retina_scan"]\nobligations = []\n',
    )
    line = _line_of(path, "bipa.retina_scan")
    assert _problems(shipped_copy) == [
        f"{path}:{line}: rule 'site.retina': unknown category 'bipa.retina_scan'"
    ]


def test_missing_citation_names_file_and_line(shipped_copy: Path) -> None:
    """A rule or category without a citation is refused at its table's header line."""
    path = shipped_copy / "ccpa.toml"
    text = path.read_text()
    cut = text.replace('citation = "Cal. Civ. Code 1798.146(a)(1)"\n', "")
    assert cut != text
    path.write_text(cut)
    header = _line_of(path, 'id = "ccpa.patient-exemption"') - 1
    assert _problems(shipped_copy) == [
        f"{path}:{header}: rule 'ccpa.patient-exemption': missing citation"
    ]


@pytest.mark.parametrize(
    ("condition", "needle", "expected"),
    [
        ('when.roles = ["doctor"]', "doctor", "can never match subject role 'doctor'"),
        ('when.purposes = ["marketing"]', "marketing", "can never match purpose 'marketing'"),
        ("when.roles = []", "when.roles = []", "can never fire: when.roles is empty"),
        (
            'when.no_categories = true\nwhen.categories = ["t.names"]',
            'when.categories = ["t.names"]',
            "can never fire: when.no_categories = true contradicts when.categories",
        ),
        (
            'when.categories = ["t.faces"]\nwhen.modalities = ["audio"]',
            "when.modalities",
            "can never fire: its categories are evidenced only in image, not in audio",
        ),
    ],
)
def test_rules_that_can_never_fire_are_refused(
    tmp_path: Path, condition: str, needle: str, expected: str
) -> None:
    """Unknown roles/purposes, empty lists and contradictory conditions stop the load."""
    rule = f'[[rules]]\nid = "t.r"\ntitle = "t"\ncitation = "c"\n{condition}\nobligations = []\n'
    directory = write_policies(
        tmp_path / "p", {"t.toml": MINI_REGIME.format(regime="t") + rule, "site.toml": MINI_SITE}
    )
    line = _line_of(directory / "t.toml", needle)
    problems = _problems(directory)
    assert f"{directory / 't.toml'}:{line}: rule 't.r': {expected}" in problems[0]


def test_rule_on_a_disabled_regime_can_never_fire(shipped_copy: Path) -> None:
    """A site rule that depends only on a regime the site turned off is refused."""
    site = shipped_copy / "site.toml"
    site.write_text(site.read_text().replace('"bipa", "ccpa"]', '"bipa"]'))
    problems = _problems(shipped_copy)
    line = _line_of(site, 'when.categories = ["ccpa.*"]')
    assert problems == [
        f"{site}:{line}: rule 'site.non-patient-retention': can never fire: its categories "
        "belong to regimes the site has not enabled"
    ]


def test_bad_obligations_and_toml_syntax_are_located(tmp_path: Path) -> None:
    """Unknown obligation types, bad parameters, duplicates and TOML errors carry lines."""
    rules = (
        '[[rules]]\nid = "t.r"\ntitle = "t"\ncitation = "c"\nwhen.categories = ["t.names"]\n'
        "obligations = [\n"
        '  { type = "fly" },\n'
        '  { type = "retention", days = 0 },\n'
        '  { type = "restrict_visibility", roles = ["janitor"] },\n'
        "]\n"
        '[[rules]]\nid = "t.r"\ntitle = "t"\ncitation = "c"\nobligations = []\n'
    )
    directory = write_policies(
        tmp_path / "p",
        {
            "t.toml": MINI_REGIME.format(regime="t") + rules,
            "u.toml": '[regime]\nid = "u"\ntitle = "u"\ncitation = "u"\n\nid2 = = 3\n',
            "site.toml": MINI_SITE,
        },
    )
    t = directory / "t.toml"
    problems = _problems(directory)
    assert f"{t}:{_line_of(t, 'fly')}: rule 't.r': obligation 'fly' is not one of" in "\n".join(
        problems
    )
    assert f"{t}:{_line_of(t, 'days = 0')}: rule 't.r': retention: days must be" in "\n".join(
        problems
    )
    assert f"{t}:{_line_of(t, 'janitor')}: rule 't.r': restrict_visibility: unknown role" in (
        "\n".join(problems)
    )
    assert any(p.startswith(f"{directory / 'u.toml'}:6: invalid TOML") for p in problems)
    assert any("duplicate rule id 't.r'" in p for p in problems)


def test_category_without_evidence_and_unknown_keys_are_refused(tmp_path: Path) -> None:
    """A category no finding can hit, and a misspelt key, are both reported."""
    text = MINI_REGIME.format(regime="t") + (
        '\n[[categories]]\nid = "t.empty"\ntitle = "e"\ncitation = "c"\nevidence = []\n'
        'evidense = ["face"]\n'
    )
    directory = write_policies(tmp_path / "p", {"t.toml": text, "site.toml": MINI_SITE})
    t = directory / "t.toml"
    problems = _problems(directory)
    assert f"{t}:{_line_of(t, 'evidence = []')}: category 't.empty': evidence must list" in (
        problems[1] if "evidense" in problems[0] else problems[0]
    )
    assert any(
        f"{t}:{_line_of(t, 'evidense')}: category 't.empty': unknown key" in p for p in problems
    )


def test_policy_hash_follows_the_file_content(shipped_copy: Path) -> None:
    """The hash is stable for the same files and changes with any edit, even a comment."""
    first = load_policy_set(shipped_copy).policy_hash
    assert load_policy_set(REPO_POLICIES).policy_hash == first
    _append(shipped_copy / "site.toml", "# reviewed\n")
    assert load_policy_set(shipped_copy).policy_hash != first


def test_every_finding_kind_maps_to_some_category() -> None:
    """Each kind a detector can report is evidence for at least one shipped category."""
    policy = load_policy_set(REPO_POLICIES)
    covered = {k for c in policy.categories for k in c.evidence}
    assert covered == set(FindingKind)


def test_empty_directory_is_refused(tmp_path: Path) -> None:
    """No policy file at all is a start-stopping error, not an allow-all."""
    (tmp_path / "empty").mkdir()
    assert "no policy files" in _problems(tmp_path / "empty")[0]
