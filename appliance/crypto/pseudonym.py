"""Keyed pseudonyms: of raw subject ids (never stored) and of client item ids (stored as
``it_`` references, so an id such as ``MRN88442211-note`` never sits in the clear)."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

from appliance.domain.types import Pseudonym
from appliance.errors import InvalidInputError

MAX_SUBJECT_ID_CHARS = 256


class Pseudonymizer:
    """Maps raw subject ids to stable ``ps_`` pseudonyms under a secret key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, subject_id: str) -> Pseudonym:
        """The pseudonym of ``subject_id`` (NFC-normalised, surrounding spaces removed)."""
        if not isinstance(subject_id, str):
            raise InvalidInputError("subject_id must be a string")
        normalised = unicodedata.normalize("NFC", subject_id.strip())
        if not normalised:
            raise InvalidInputError("subject_id is empty", remedy="send the subject's identifier")
        if len(normalised) > MAX_SUBJECT_ID_CHARS:
            raise InvalidInputError(f"subject_id is longer than {MAX_SUBJECT_ID_CHARS} characters")
        digest = hmac.new(self._key, b"subject:" + normalised.encode(), hashlib.sha256)
        return Pseudonym("ps_" + digest.hexdigest()[:32])

    def item_reference(self, collection: str, item_id: str) -> str:
        """The stored reference of a client's item id in ``collection``: ``it_`` + a keyed
        HMAC. Deterministic, so a re-sent id finds its item (and a duplicate conflicts)."""
        if not isinstance(item_id, str) or not item_id:
            raise InvalidInputError("item id must be a non-empty string")
        message = b"item:" + collection.encode() + b"\x00" + item_id.encode()
        digest = hmac.new(self._key, message, hashlib.sha256)
        return "it_" + digest.hexdigest()[:40]
