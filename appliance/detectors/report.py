"""What ``detect`` returns: the findings plus the facts an inventory needs about the input."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from appliance.domain.findings import Finding, FindingKind
from appliance.domain.types import Modality


@dataclass(frozen=True)
class DetectionReport:
    """Findings for one input and neutral facts about it (size, format, duration...).

    ``facts`` never carries content: only shapes, formats, counts and flags, so a report
    can be logged, audited and shown to an operator.
    """

    modality: Modality
    findings: tuple[Finding, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def kinds(self) -> frozenset[FindingKind]:
        """The distinct finding kinds present."""
        return frozenset(f.kind for f in self.findings)

    def count(self, kind: FindingKind) -> int:
        """How many findings of ``kind``."""
        return sum(1 for f in self.findings if f.kind == kind)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready digest: modality, facts and the number of findings per kind."""
        counts = Counter(str(f.kind) for f in self.findings)
        return {
            "modality": str(self.modality),
            "facts": dict(self.facts),
            "findings": dict(sorted(counts.items())),
        }
