"""The shipped rule that redacts direct identifiers before text is encoded: it adds the
defence everywhere text carries them and loosens nothing; bad parameters fail at load."""

from __future__ import annotations

import itertools
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from appliance.errors import ApplianceError
from appliance.policy import (
    ApplyDefence,
    ConsentRecord,
    ConsentState,
    PolicyEngine,
    RequestContext,
)
from appliance.policy.vocabulary import PURPOSES, SETTINGS, SUBJECT_ROLES
from tests.policy.conftest import NOW, REPO_POLICIES, findings

RULE = "site.text-identifiers-redacted-before-encoding"
DIRECT = ("person_name", "medical_record_number", "ssn", "phone_number", "other_id", "zip_code")
DIRECT += ("address", "email_address")
KINDS = (*DIRECT, "date", "age_over_89", "zip_code", "address", "email_address")


def _without_rule(tmp_path: Path) -> PolicyEngine:
    """The shipped policy minus the redaction rule (and the limit that requires it)."""
    target = tmp_path / "before"
    shutil.copytree(REPO_POLICIES, target)
    site = (target / "site.toml").read_text()
    start = site.index('[[rules]]\nid = "' + RULE)
    end = site.index("[[rules]]", start + 1)
    site = site[:start] + site[end:]
    site = re.sub(r'defence = \{ name = "redact_before_encode".*?\] \} \}\n', "", site, flags=re.S)
    (target / "site.toml").write_text(site)
    return PolicyEngine.load(target)


def _contexts() -> list[tuple[RequestContext, ConsentState]]:
    out = []
    for role, purpose, setting in itertools.product(SUBJECT_ROLES, PURPOSES, SETTINGS):
        context = RequestContext(role, purpose, setting)
        for valid in (False, True):
            records = (ConsentRecord(1, purpose, "*", NOW - timedelta(days=1), None),)
            consents = ConsentState(purpose, records if valid else (), NOW)
            out.append((context, consents))
    return out


def test_redaction_rule_adds_the_defence_and_loosens_nothing(tmp_path: Path) -> None:
    """Every context x identifier: same outcome as without the rule; allowed text with a
    direct identifier gets redact_before_encode, text with only a date does not."""
    shipped, before = PolicyEngine.load(REPO_POLICIES), _without_rule(tmp_path)
    compared = 0
    combos = [(k,) for k in KINDS] + [("person_name", "medical_record_number", "date")]
    for (context, consents), kinds in itertools.product(_contexts(), combos):
        found = findings(*kinds)
        now_ = shipped.decide(found, context, consents, NOW)
        then = before.decide(found, context, consents, NOW)
        assert now_.outcome == then.outcome, (context, kinds)
        added = [o for o in now_.obligations if o not in then.obligations]
        redacts = [o for o in now_.obligations if isinstance(o, ApplyDefence)]
        if now_.allowed and set(kinds) & set(DIRECT):
            assert [o.name for o in added] == ["redact_before_encode"], (context, kinds)
            assert any(o.name == "redact_before_encode" for o in redacts)
        else:
            assert added == [], (context, kinds)
        compared += 1
    assert compared == len(_contexts()) * len(combos)


def test_shipped_canary_limit_requires_the_redaction(engine: PolicyEngine) -> None:
    """site.risk.canary_names names redact_before_encode with the rule's kinds."""
    [limit] = [lim for lim in engine.policy.risk_limits if lim.id == "site.risk.canary_names"]
    assert limit.defence is not None and limit.defence[0] == "redact_before_encode"
    assert {"person_name", "medical_record_number"} <= set(limit.defence[1]["kinds"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ('{ kinds = ["person_nam"] }', "unknown finding kind 'person_nam'"),
        ("{ kinds = [] }", "kinds must be a non-empty list"),
        ('{ kinds = "person_name" }', "kinds must be a non-empty list"),
    ],
)
def test_bad_redaction_kinds_fail_at_load(tmp_path: Path, params: str, message: str) -> None:
    """A misspelt or malformed kinds list of redact_before_encode refuses the policy."""
    target = tmp_path / "p"
    shutil.copytree(REPO_POLICIES, target)
    site = (target / "site.toml").read_text()
    site += (
        '\n[[rules]]\nid = "site.extra"\ntitle = "x"\ncitation = "x"\n'
        'when.categories = ["hipaa.names"]\nwhen.modalities = ["text"]\n'
        f'obligations = [{{ type = "apply_defence", name = "redact_before_encode", '
        f"params = {params} }}]\n"
    )
    (target / "site.toml").write_text(site)
    with pytest.raises(ApplianceError, match=re.escape(message)):
        PolicyEngine.load(target)
