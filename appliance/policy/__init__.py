"""Policy modules: HIPAA, BIPA and CCPA rules as data (``policies/*.toml``), validated at
load, and the engine that turns detector findings plus request context into a decision.

``PolicyEngine.load(directory).decide(findings, context, consents, now) -> Decision``.
"""

from appliance.policy.decisions import (
    ApplyDefence,
    ConsentRecord,
    ConsentState,
    Decision,
    Deny,
    Obligation,
    Outcome,
    Reason,
    RequestContext,
    RequireConsent,
    RequireDeidentification,
    RestrictVisibility,
    RetentionLimit,
    obligation_to_dict,
)
from appliance.policy.engine import PolicyEngine, add_years
from appliance.policy.loader import PolicyError, default_policies_dir, load_policy_set
from appliance.policy.model import Category, Condition, PolicySet, Regime, Rule
from appliance.policy.vocabulary import PURPOSES, SETTINGS, SUBJECT_ROLES, VIEWER_ROLES

__all__ = [
    "PURPOSES",
    "SETTINGS",
    "SUBJECT_ROLES",
    "VIEWER_ROLES",
    "ApplyDefence",
    "Category",
    "Condition",
    "ConsentRecord",
    "ConsentState",
    "Decision",
    "Deny",
    "Obligation",
    "Outcome",
    "PolicyEngine",
    "PolicyError",
    "PolicySet",
    "Reason",
    "Regime",
    "RequestContext",
    "RequireConsent",
    "RequireDeidentification",
    "RestrictVisibility",
    "RetentionLimit",
    "Rule",
    "add_years",
    "default_policies_dir",
    "load_policy_set",
    "obligation_to_dict",
]
