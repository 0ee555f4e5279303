"""The audit trail export (auditor)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, ClassVar, TextIO

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency

from appliance.api.auth import current_actor
from appliance.api.contract import AUTHENTICATED, error_responses
from appliance.audit import AuditTrail
from appliance.domain.roles import Permission


class AuditController(Controller):
    """Read access to the audit trail, itself audited."""

    path = "/v1/audit"
    tags: ClassVar[list[str]] = ["audit"]

    @get(
        "/export",
        opt={"permission": Permission.READ_AUDIT},
        sync_to_thread=True,
        media_type="application/x-ndjson",
        responses=error_responses(AUTHENTICATED),
    )
    def audit_export(
        self,
        audit: NamedDependency[AuditTrail],
        export_audit: NamedDependency[Callable[[TextIO], int]],
        request: Request[Any, Any, Any],
    ) -> Response[bytes]:
        """The audit trail as JSON lines (auditor); the export itself is audited."""
        audit.append(actor=current_actor(request), action="audit.export", outcome="ok")
        buffer = io.StringIO()
        export_audit(buffer)
        return Response(buffer.getvalue().encode(), media_type="application/x-ndjson")
