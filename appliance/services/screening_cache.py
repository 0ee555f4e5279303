"""Detection results remembered per input, so a repeated input is not screened twice.

Detection (the PHI detectors) is the costly half of screening; the decision over its
findings is cheap and depends on the request (context, consents, time), so only the
detection result is remembered and the policy decides again on every call.

Privacy: the cache holds no plaintext. An entry's key is HMAC-SHA256 under a random
per-process key (never stored, never logged) of the modality and the input bytes, so a
copy of the process memory's keys cannot be tested against a dictionary of guessed inputs
without that key; its value is the ``Classification`` without a decision: finding kinds
and locations (character spans, boxes; never the content, see ``domain.findings``),
format, size and the detectors' facts. It is bounded (least recently used first out) and
emptied whenever the policy in force changes (its hash differs from the one the entries
were made under).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

from appliance.domain.types import Modality
from appliance.policy.classify import Classification


@dataclass(frozen=True)
class CacheStats:
    """Counters of one cache (for benchmarks and tests)."""

    items: int
    capacity: int
    hits: int
    misses: int
    invalidations: int


class DetectionCache:
    """A bounded, thread-safe LRU of detection results keyed by a keyed hash of the input."""

    def __init__(self, capacity: int, *, key: bytes | None = None) -> None:
        self.capacity = max(0, int(capacity))
        self._key = key or os.urandom(32)
        self._entries: OrderedDict[bytes, Classification] = OrderedDict()
        self._lock = threading.Lock()
        self._policy_hash: str | None = None
        self._hits = self._misses = self._invalidations = 0

    def key_of(self, modality: Modality, data: bytes) -> bytes:
        """HMAC-SHA256(process key, modality NUL input bytes): 32 bytes, no plaintext."""
        mac = hmac.new(self._key, modality.value.encode("ascii") + b"\x00", hashlib.sha256)
        mac.update(data)
        return mac.digest()

    def get(self, key: bytes, policy_hash: str) -> Classification | None:
        """The remembered detection for ``key`` under this policy, or None."""
        with self._lock:
            self._check_policy(policy_hash)
            found = self._entries.get(key)
            if found is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
        return replace(found, facts=dict(found.facts))

    def put(self, key: bytes, found: Classification, policy_hash: str) -> None:
        """Remember ``found`` (its decision is dropped) under ``key``; evict the oldest."""
        if self.capacity == 0:
            return
        entry = replace(found, decision=None, facts=dict(found.facts))
        with self._lock:
            self._check_policy(policy_hash)
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def stats(self) -> CacheStats:
        """Entries, capacity, hits, misses and policy invalidations so far."""
        with self._lock:
            return CacheStats(
                len(self._entries), self.capacity, self._hits, self._misses, self._invalidations
            )

    def _check_policy(self, policy_hash: str) -> None:
        if policy_hash != self._policy_hash:
            if self._policy_hash is not None:
                self._invalidations += 1
            self._entries.clear()
            self._policy_hash = policy_hash
