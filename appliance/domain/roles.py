"""Roles and what each may do (least privilege)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """The API roles."""

    ADMIN = "admin"
    INGEST = "ingest"
    QUERY = "query"
    AUDITOR = "auditor"


class Permission(StrEnum):
    """Actions a route requires."""

    MANAGE_TOKENS = "tokens.manage"
    MANAGE_COLLECTIONS = "collections.manage"
    WRITE_ITEMS = "items.write"
    SEARCH = "items.search"
    EMBED = "embeddings.create"
    ERASE = "subjects.erase"
    CLASSIFY = "classify"
    MANAGE_CONSENT = "consent.manage"
    READ_AUDIT = "audit.read"
    LIST_MODELS = "models.list"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.INGEST: frozenset({Permission.WRITE_ITEMS, Permission.CLASSIFY, Permission.LIST_MODELS}),
    Role.QUERY: frozenset(
        {Permission.SEARCH, Permission.EMBED, Permission.CLASSIFY, Permission.LIST_MODELS}
    ),
    Role.AUDITOR: frozenset({Permission.READ_AUDIT}),
}


def allows(role: str, permission: Permission) -> bool:
    """True when ``role`` holds ``permission``; unknown roles hold nothing."""
    try:
        return permission in GRANTS[Role(role)]
    except ValueError:
        return False
