"""Rate limits: a token bucket per API token, and a lockout of client addresses that keep
presenting bad credentials (only their further failures are refused, never a valid token)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``rate`` events per second with bursts up to ``burst``, per key; thread-safe."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._monotonic = monotonic
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str, cost: float = 1.0) -> float:
        """Spend ``cost`` for ``key``: 0.0 when allowed, else seconds until it would be."""
        now = self._monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self._max_keys:
                    self._evict(now)
                bucket = _Bucket(self._burst, now)
                self._buckets[key] = bucket
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return 0.0
            return (cost - bucket.tokens) / self._rate

    def blocked_for(self, key: str) -> float:
        """Seconds ``key`` must wait for one more event (without spending)."""
        now = self._monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return 0.0
            tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            return 0.0 if tokens >= 1 else (1 - tokens) / self._rate

    def _evict(self, now: float) -> None:
        full = [
            k
            for k, b in self._buckets.items()
            if b.tokens + (now - b.updated) * self._rate >= self._burst
        ]
        for key in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]


@dataclass
class _Failures:
    times: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    refused: int = 0


@dataclass(frozen=True)
class Lockout:
    """A lockout that has just begun: the address, the failures that caused it, its length."""

    client: str
    failures: int
    seconds: float
    refused_before: int


class FailureLockout:
    """``threshold`` authentication failures from one client within a minute lock that client
    out for ``lockout_seconds``: its further *failed* attempts are refused (429) without
    being counted again. Whether an attempt failed is known only after authentication, so a
    valid token from a locked address still works. Thread-safe, bounded in memory."""

    WINDOW_SECONDS = 60.0

    def __init__(
        self,
        threshold: int,
        lockout_seconds: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if threshold < 1 or lockout_seconds <= 0:
            raise ValueError("threshold and lockout_seconds must be positive")
        self._threshold = threshold
        self._lockout = float(lockout_seconds)
        self._monotonic = monotonic
        self._max_keys = max_keys
        self._clients: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    def locked_for(self, client: str) -> float:
        """Seconds left of ``client``'s lockout (0.0 when it is not locked out)."""
        now = self._monotonic()
        with self._lock:
            state = self._clients.get(client)
            return max(0.0, state.locked_until - now) if state else 0.0

    def refuse(self, client: str) -> float:
        """Count a failed attempt refused during a lockout; seconds the lockout has left."""
        now = self._monotonic()
        with self._lock:
            state = self._clients.get(client)
            if state is None or state.locked_until <= now:
                return 0.0
            state.refused += 1
            return state.locked_until - now

    def record_failure(self, client: str) -> Lockout | None:
        """Count one failure; the ``Lockout`` it starts, if this failure reached the limit."""
        now = self._monotonic()
        with self._lock:
            state = self._clients.get(client)
            if state is None:
                if len(self._clients) >= self._max_keys:
                    self._evict(now)
                state = self._clients[client] = _Failures()
            while state.times and state.times[0] <= now - self.WINDOW_SECONDS:
                state.times.popleft()
            state.times.append(now)
            if len(state.times) < self._threshold:
                return None
            lockout = Lockout(client, len(state.times), self._lockout, state.refused)
            state.times.clear()
            state.locked_until = now + self._lockout
            state.refused = 0
            return lockout

    def _evict(self, now: float) -> None:
        idle = [
            key
            for key, state in self._clients.items()
            if state.locked_until <= now
            and (not state.times or state.times[-1] <= now - self.WINDOW_SECONDS)
        ]
        for key in idle or list(self._clients)[: len(self._clients) // 2]:
            del self._clients[key]


def retry_after_header(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
