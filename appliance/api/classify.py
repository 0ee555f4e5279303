"""Classify (dry run): findings and the decision for one input; nothing is stored."""

from __future__ import annotations

from typing import Any, ClassVar

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from appliance.api.auth import current_actor
from appliance.api.contract import AUTHENTICATED, WITH_BODY, error_responses, to_struct
from appliance.api.dependencies import Available
from appliance.api.payloads import check_text_sizes, decode_input, parse_modality
from appliance.api.schemas import Classified, ClassifyBody
from appliance.audit import AuditTrail
from appliance.domain.roles import Permission
from appliance.policy.decisions import RequestContext
from appliance.services.ingest import Screening
from appliance.settings import LimitSettings


class ClassifyController(Controller):
    """The policy's view of an input, without storing it."""

    path = "/v1/classify"
    tags: ClassVar[list[str]] = ["classify"]

    @post(
        opt={"permission": Permission.CLASSIFY},
        sync_to_thread=True,
        status_code=200,
        responses=error_responses(AUTHENTICATED, WITH_BODY, (504,)),
    )
    def classify_input(
        self,
        data: JSONBody[ClassifyBody],
        screening: NamedDependency[Available[Screening]],
        audit: NamedDependency[AuditTrail],
        limits: NamedDependency[LimitSettings],
        request: Request[Any, Any, Any],
    ) -> Classified:
        """Dry run: findings and the decision for one input; nothing is stored."""
        screener = screening.get()
        modality = parse_modality(data.modality)
        if modality.value == "text":
            check_text_sizes([("data", data.data)], limits)
        payload = decode_input(modality, data.data)
        context = RequestContext.from_mapping(data.context, modality=modality)
        screened = screener.screen(modality, payload, context)
        decision = screened.classification.decision
        audit.append(
            actor=current_actor(request),
            action="classify",
            outcome=decision.outcome.value if decision else "none",
            decision=decision.audit_record() if decision else None,
        )
        result = screened.classification.to_dict()
        result["admitted"] = screened.admission.allowed
        return to_struct(result, Classified)
