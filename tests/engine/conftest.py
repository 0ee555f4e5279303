"""A small real-torch encoder that follows the Encoder contract, with test hooks.

Text in, bytes of UTF-8 text in; "bad:" inputs fail in prepare, "boom:" inputs make the
whole forward pass fail. ``gate`` (cleared) holds every forward pass until it is set,
so tests can pile requests up without relying on timing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest
import torch

from appliance.domain.types import Modality
from appliance.encoders.base import Prepared
from appliance.engine import EncoderEngine
from appliance.errors import InvalidInputError
from appliance.settings import EncoderSettings


class ToyTextEncoder:
    """Byte embeddings, masked mean pool, linear head; L2-normalised float32 output."""

    name = "toy-text"
    modality = Modality.TEXT
    dimension = 16
    device = "cpu"
    semantic = False

    def __init__(self, max_batch_size: int = 32, delay_s: float = 0.0) -> None:
        torch.manual_seed(0)
        self.max_batch_size = max_batch_size
        self.model = torch.nn.Sequential(torch.nn.Embedding(256, 32), torch.nn.Identity())
        self.head = torch.nn.Linear(32, self.dimension)
        self.model.eval()
        self.head.eval()
        self.delay_s = delay_s
        self.gate = threading.Event()
        self.gate.set()
        self.forward_sizes: list[int] = []
        self.entered = threading.Semaphore(0)
        """Released each time a forward pass starts (before the gate)."""

    def warmup_input(self) -> str:
        return "warm-up sentence"

    def prepare(self, raw: bytes | str) -> Prepared:
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInputError("text is not UTF-8", remedy="send UTF-8") from exc
        if not isinstance(raw, str) or not raw:
            raise InvalidInputError("empty text", remedy="send some text")
        if raw.startswith("bad:"):
            raise InvalidInputError("refused by the toy encoder", remedy="drop the bad: prefix")
        if raw.startswith("crash:"):
            raise ValueError("decoder blew up")
        ids = torch.tensor([b for b in raw.encode("utf-8")][:64], dtype=torch.long)
        return Prepared(payload=ids, notes={"truncated": len(raw) > 64} if len(raw) > 64 else {})

    def collate(self, prepared: Sequence[Prepared]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(p.payload.shape[0] for p in prepared)
        ids = torch.zeros((len(prepared), width), dtype=torch.long)
        mask = torch.zeros((len(prepared), width), dtype=torch.float32)
        for row, item in enumerate(prepared):
            ids[row, : item.payload.shape[0]] = item.payload
            mask[row, : item.payload.shape[0]] = 1.0
        return ids, mask

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        ids, mask = batch
        self.forward_sizes.append(int(ids.shape[0]))
        self.entered.release()
        self.gate.wait()
        if self.delay_s:
            time.sleep(self.delay_s)
        marker = torch.tensor(list(b"boom:"))
        if ids.shape[1] >= 5 and bool((ids[:, :5] == marker).all(dim=1).any()):
            raise RuntimeError("simulated device failure")
        with torch.inference_mode():
            hidden = self.model(ids)
            pooled = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
            return self.head(pooled)

    def finish(self, output: torch.Tensor) -> np.ndarray:
        vectors = torch.nn.functional.normalize(output.float(), dim=-1)
        return vectors.cpu().numpy().astype(np.float32)


def _settings(**overrides: Any) -> EncoderSettings:
    values: dict[str, Any] = {"max_batch_size": 8, "max_wait_ms": 20.0, "queue_size": 64}
    values.update(overrides)
    return EncoderSettings(**values)


def _wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.002)


@pytest.fixture
def toy_settings() -> Callable[..., EncoderSettings]:
    """Engine settings for tests: max batch 8, max wait 20 ms, queue 64, unless overridden."""
    return _settings


@pytest.fixture
def wait_until() -> Callable[..., None]:
    """Poll a predicate until true; fail the test after a timeout (default 10 s)."""
    return _wait_until


@pytest.fixture
def toy_encoder_factory() -> Callable[..., ToyTextEncoder]:
    """Make more toy encoders (for groups of engines)."""
    return ToyTextEncoder


@pytest.fixture
def encoder() -> ToyTextEncoder:
    """A fresh toy encoder (gate open)."""
    return ToyTextEncoder()


@pytest.fixture
def make_engine(encoder: ToyTextEncoder) -> Iterator[Callable[..., EncoderEngine]]:
    """Build (and start, unless start=False) engines over ``encoder``; all closed afterwards."""
    engines: list[EncoderEngine] = []

    def make(
        *, start: bool = True, prepare_workers: int = 2, on_batch: Any = None, **overrides: Any
    ) -> EncoderEngine:
        engine = EncoderEngine(
            encoder, _settings(**overrides), prepare_workers=prepare_workers, on_batch=on_batch
        )
        engines.append(engine)
        if start:
            engine.start()
            encoder.entered = threading.Semaphore(0)  # forget the warm-up passes
        return engine

    yield make
    encoder.gate.set()
    for engine in engines:
        engine.close()


@pytest.fixture
def engine(make_engine: Callable[..., EncoderEngine]) -> EncoderEngine:
    """A started engine over the toy encoder with the test settings."""
    return make_engine()
