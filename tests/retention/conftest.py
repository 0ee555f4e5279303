"""Fixtures for retention tests: the shipped policy engine and helpers to store items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from appliance.domain.findings import Finding, FindingKind
from appliance.domain.types import Actor, Modality
from appliance.policy import ConsentState, Decision, PolicyEngine, RequestContext
from appliance.services.items import NewItem
from appliance.services.retention import stored_policy
from appliance.wiring import Appliance

REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies"
OPERATOR = Actor.operator()
SPACE = "s1"
DIMENSION = 16


@pytest.fixture(scope="session")
def engine() -> PolicyEngine:
    """The engine over the shipped policies."""
    return PolicyEngine.load(REPO_POLICIES)


def unit_vectors(count: int, seed: int) -> np.ndarray:
    """Random unit vectors (float32)."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def decide(
    app: Appliance,
    engine: PolicyEngine,
    kind: FindingKind | None,
    context: RequestContext,
    consents: ConsentState | None = None,
) -> Decision:
    """A decision on one input with at most one finding, at the appliance's clock."""
    modality = Modality.IMAGE if kind == FindingKind.FACE else Modality.TEXT
    found = [Finding(kind, "test", modality)] if kind else []
    return engine.decide(found, context, consents, app.clock.now())


def store(
    app: Appliance,
    collection: str,
    subject_id: str,
    vectors: np.ndarray,
    prefix: str,
    decision: Decision,
) -> list[str]:
    """Store one item per vector under ``decision``'s labels, obligations and deadline."""
    policy = stored_policy(decision)
    items = [
        NewItem(
            subject_id=subject_id,
            modality=Modality.IMAGE,
            vector=vector,
            metadata={"caption": f"{prefix} {n}"},
            item_id=f"{prefix}-{n}",
            **policy.item_fields(),
        )
        for n, vector in enumerate(vectors)
    ]
    return app.items.store(collection, items, actor=OPERATOR, space=SPACE)
