"""Errors that carry a stable machine code, a human message and a remedy.

Every failure an operator or a client can see is one of these. The CLI prints
``message`` and ``remedy``; the HTTP layer maps ``code`` to a status.
"""

from __future__ import annotations


class ApplianceError(Exception):
    """Base error: ``code`` is stable for machines, ``remedy`` tells a human what to do."""

    code: str = "appliance_error"
    exit_status: int = 1

    def __init__(self, message: str, *, remedy: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.message} ({self.remedy})" if self.remedy else self.message


class ConfigError(ApplianceError):
    """A setting is missing or invalid; the message names the key and the reason."""

    code = "config_invalid"
    exit_status = 2


class IntegrityError(ApplianceError):
    """Authenticated data failed verification: tampered, truncated, swapped or wrong key.

    One error for every integrity failure, so callers cannot treat some kinds as benign.
    """

    code = "integrity_failure"


class KeyUnavailableError(ApplianceError):
    """A key is missing: not initialised, destroyed by erasure, or its KEK version is gone."""

    code = "key_unavailable"


class AuditWriteError(ApplianceError):
    """The audit trail could not be written, so the operation was not carried out."""

    code = "audit_unavailable"


class NotFoundError(ApplianceError):
    """The named collection, item or subject does not exist."""

    code = "not_found"


class ConflictError(ApplianceError):
    """The request clashes with existing state (duplicate name, id reused)."""

    code = "conflict"


class InvalidInputError(ApplianceError):
    """Input failed validation; the message names the field and the problem."""

    code = "invalid_input"


class StorageUnavailableError(ApplianceError):
    """The disk refused a write or a read (full, read-only, I/O error): nothing was stored."""

    code = "storage_unavailable"
    exit_status = 74  # sysexits EX_IOERR


class DeadlineExceededError(ApplianceError):
    """The request's deadline passed before its work finished; unfinished work was dropped."""

    code = "deadline_exceeded"


STORAGE_ERRNOS = frozenset({5, 13, 28, 30, 122})
"""EIO, EACCES, ENOSPC, EROFS, EDQUOT: the disk, not the caller, is at fault."""


def storage_error_from(exc: BaseException) -> StorageUnavailableError | None:
    """A ``StorageUnavailableError`` for an ``OSError`` the disk caused, else ``None``."""
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
        reason = exc.strerror or "I/O error"
        error = StorageUnavailableError(
            f"storage is unavailable ({reason}); nothing was stored",
            remedy="free disk space or make the data directory writable, then retry",
        )
        error.__cause__ = exc
        return error
    return None
