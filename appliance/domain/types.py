"""Core value types shared by every layer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NewType

from appliance.errors import InvalidInputError


class Modality(StrEnum):
    """The kinds of input the appliance embeds into its shared space."""

    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"


_PSEUDONYM_PATTERN = re.compile(r"^ps_[0-9a-f]{32}$")
Pseudonym = NewType("Pseudonym", str)
"""A keyed HMAC of a raw subject id (``ps_`` + 32 hex). The raw id is never stored or logged."""


def is_pseudonym(value: object) -> bool:
    """True when ``value`` has the shape of a pseudonym (and so is safe to log and audit)."""
    return isinstance(value, str) and bool(_PSEUDONYM_PATTERN.match(value))


def require_pseudonym(value: str) -> Pseudonym:
    """Return ``value`` as a ``Pseudonym`` or raise if it looks like anything else."""
    if not is_pseudonym(value):
        raise InvalidInputError(
            "subject reference is not a pseudonym", remedy="pseudonymise raw subject ids first"
        )
    return Pseudonym(value)


_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def validate_collection_name(name: str) -> str:
    """Collection names: 1-63 chars of lower-case letters, digits, ``_`` and ``-``."""
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise InvalidInputError(
            f"invalid collection name {name!r}",
            remedy="use 1-63 lower-case letters, digits, '_' or '-'; start with a letter or digit",
        )
    return name


@dataclass(frozen=True)
class Actor:
    """Who asked: a token id and its role, or the local operator for CLI commands."""

    token_id: str
    role: str

    @classmethod
    def operator(cls) -> Actor:
        """The operator at the console (CLI)."""
        return cls(token_id="local-operator", role="admin")  # noqa: S106 - an id, not a secret


@dataclass(frozen=True)
class StoredItem:
    """An item as the store returns it, decrypted."""

    row_id: int
    item_id: str
    collection: str
    subject: Pseudonym
    modality: Modality
    metadata: dict[str, Any]
    policy_labels: tuple[str, ...] = ()
    obligations: tuple[str, ...] = ()
    retention_deadline: datetime | None = None
    created_at: datetime | None = None
    space_version: str = ""
    vector: Any = field(default=None, repr=False)


@dataclass(frozen=True)
class SearchHit:
    """One search result: the item's ids, score and decrypted metadata."""

    item_id: str
    row_id: int
    score: float
    modality: Modality
    metadata: dict[str, Any]
