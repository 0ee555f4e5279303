"""Text towers: CLIP and SigLIP text, CLAP text, and BERT-style sentence encoders (mean pooling).

Tokenisation uses the model's own ``tokenizer.json`` through the ``tokenizers`` library
(no hub, no remote code, no sentencepiece). Text over the token limit is truncated with
a ``truncated`` note, or refused, as ``encoders.text_overflow`` says.

A batch is sorted by token count and run in groups of similar length
(``length_groups``), so little padding is computed; rows come back in the callers' order.
BERT-style towers on the CPU may run on ONNX Runtime (``text_onnx``) instead of torch.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from appliance.domain.types import Modality
from appliance.encoders import offline  # noqa: F401  (flags before transformers)
from appliance.encoders.base import Prepared
from appliance.encoders.common import Runtime, TorchEncoder, load_checkpoint
from appliance.encoders.sniff import sniff
from appliance.encoders.text_onnx import MIN_PROBE_COSINE
from appliance.errors import InvalidInputError

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 1_000_000
"""Longer strings are refused outright, whatever the overflow setting (a tokenizer guard)."""
_PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}]")


def decode_text(raw: bytes | str) -> str:
    """Bytes must be UTF-8 text (not an image or audio file); the result must not be blank."""
    if isinstance(raw, bytes | bytearray | memoryview):
        data = bytes(raw)
        found = sniff(data)
        if found is not None:
            raise InvalidInputError(
                f"modality is 'text' but the bytes are a {found[1]} file",
                remedy=f"send it with modality {found[0]!r}" if found[0] != "other" else "",
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"text is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                remedy="send text encoded as UTF-8",
            ) from exc
    elif isinstance(raw, str):
        text = raw
    else:
        raise InvalidInputError(f"text input must be a string, got {type(raw).__name__}")
    if "\x00" in text:
        raise InvalidInputError("text contains NUL characters")
    if not text.strip():
        raise InvalidInputError("text is empty" if not text else "text is only whitespace")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInputError(
            f"text is {len(text)} characters, over the limit of {MAX_TEXT_CHARS}"
        )
    return text


def canonicalize_siglip(text: str) -> str:
    """SigLIP's text canonicalisation: lower case, no punctuation, single spaces."""
    return re.sub(r"\s+", " ", _PUNCTUATION.sub("", text.lower())).strip()


def _pooled(result: Any) -> torch.Tensor:
    return result if isinstance(result, torch.Tensor) else result.pooler_output


PADDING_SLACK = 0.25
"""A length group grows while its padded tokens stay within 25% of its real tokens."""
PROBES = (
    "warm-up sentence for the encoder",
    "Chest X-ray shows no acute cardiopulmonary process; follow up in two weeks.",
    "MRI",
    "The patient reports a mild headache and nausea since yesterday evening, no fever, "
    "no vomiting, and takes paracetamol as needed for the pain.",
)
"""Sentences of different lengths on which ONNX Runtime must reproduce torch."""


def length_groups(lengths: Sequence[int], min_group: int) -> list[list[int]]:
    """Positions grouped by length: sorted ascending, a new group starts when adding the
    next (longest so far) item would pad more than ``PADDING_SLACK`` of the group's real
    tokens, but never before the group has ``min_group`` items."""
    groups: list[list[int]] = []
    current: list[int] = []
    real = 0
    for position in sorted(range(len(lengths)), key=lengths.__getitem__):
        length = lengths[position]
        padded = (len(current) + 1) * length
        if len(current) >= min_group and padded > (1 + PADDING_SLACK) * (real + length):
            groups.append(current)
            current, real = [], 0
        current.append(position)
        real += length
    if current:
        groups.append(current)
    return groups


@dataclass
class TextBatch:
    """Padded groups of similar length; ``order`` lists the original positions of the
    groups' rows, in sequence."""

    groups: list[dict[str, torch.Tensor]]
    order: list[int]

    def __getitem__(self, key: str) -> torch.Tensor:
        """``input_ids`` or ``attention_mask`` of a batch that is a single group in order."""
        if len(self.groups) != 1 or self.order != sorted(self.order):
            raise KeyError(f"{key}: the batch is in {len(self.groups)} length groups")
        return self.groups[0][key]


class TextEncoder(TorchEncoder):
    """One text tower of a CLIP, SigLIP, CLAP or BERT-style checkpoint."""

    def __init__(
        self,
        model_dir: Path,
        *,
        family: str,
        name: str,
        dimension: int,
        max_tokens: int,
        runtime: Runtime,
        overflow: str = "truncate",
        semantic: bool = True,
        model_type: str = "bert",
        text_runtime: str = "torch",
        threads: int = 0,
        sort_by_length: bool = True,
        derived_dir: Path | None = None,
    ) -> None:
        """``text_runtime`` ``onnx``: BERT-style towers run on ONNX Runtime (``threads``
        intra-op threads, 0: one per core) once it reproduced torch on probe sentences; the
        graph is exported into ``derived_dir`` (default: a directory beside the model's)."""
        super().__init__(
            name=name,
            modality=Modality.TEXT,
            dimension=dimension,
            runtime=runtime,
            semantic=semantic,
        )
        from tokenizers import Tokenizer

        self.family = family
        self.max_tokens = max_tokens
        self.overflow = overflow
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.pad_id = self._pad_id()
        self.sort_by_length = sort_by_length and family != "siglip"
        self.min_group = 4 if self.device == "cpu" else 64
        self.model = self._load(model_dir, model_type)
        self.onnx: Any = None
        if text_runtime == "onnx" and family == "bert":
            self.onnx = self._onnx_session(model_dir, derived_dir, threads)
        self.runtime_name = "onnx" if self.onnx is not None else "torch"

    def _onnx_session(self, model_dir: Path, derived_dir: Path | None, threads: int) -> Any:
        """The ONNX Runtime forward, or None (torch stays) if it does not reproduce torch."""
        import os

        from appliance.encoders.text_onnx import cosines, load_onnx_forward

        count = threads or os.cpu_count() or 1
        where = derived_dir or model_dir.parent / ".derived"
        session = load_onnx_forward(self.model, model_dir, where, self.name, count)
        batch = self.collate([self.prepare(p) for p in PROBES])
        reference = np.concatenate([self._torch_group(g).numpy() for g in batch.groups])
        exported = np.concatenate([_onnx_group(session, g) for g in batch.groups])
        worst = float(cosines(reference, exported).min())
        if worst < MIN_PROBE_COSINE:
            log.error(
                "encoder %s: the ONNX graph gives cosine %.6f to torch on probes; using torch",
                self.name,
                worst,
            )
            return None
        return session

    def _pad_id(self) -> int:
        for token in ("<pad>", "[PAD]", "<|endoftext|>", "</s>"):
            found = self.tokenizer.token_to_id(token)
            if found is not None:
                return found
        return 0

    def _load(self, model_dir: Path, model_type: str) -> Any:
        import transformers as tf

        runtime = Runtime(self.device, self.dtype, self.max_batch_size)
        if self.family == "bert":
            extra = (
                {"add_pooling_layer": False}
                if model_type in {"bert", "roberta", "xlm-roberta"}
                else {}
            )
            return load_checkpoint(
                tf.AutoModel, model_dir, runtime, ignore_missing=("pooler.",), **extra
            )
        cls = {"clip": tf.CLIPModel, "siglip": tf.SiglipModel, "clap": tf.ClapModel}[self.family]
        model = load_checkpoint(cls, model_dir, runtime)
        for unused in ("vision_model", "visual_projection", "audio_model", "audio_projection"):
            if hasattr(model, unused):
                delattr(model, unused)
        return model

    def prepare(self, raw: bytes | str) -> Prepared:
        """Validate and tokenise one text; truncate (noted) or refuse past the token limit."""
        text = decode_text(raw)
        if self.family == "siglip":
            text = canonicalize_siglip(text) or text.strip()
        ids = self.tokenizer.encode(text).ids
        notes: dict[str, Any] = {
            "tokens": len(ids),
            "token_limit": self.max_tokens,
            "truncated": False,
        }
        if len(ids) > self.max_tokens:
            if self.overflow == "refuse":
                raise InvalidInputError(
                    f"text is {len(ids)} tokens, over the model's limit of {self.max_tokens}",
                    remedy="shorten the text, split it, or set encoders.text_overflow = 'truncate'",
                )
            ids = [*ids[: self.max_tokens - 1], ids[-1]]  # keep the closing special token
            notes["truncated"] = True
        return Prepared(payload=ids, notes=notes)

    def collate(self, prepared: Sequence[Prepared]) -> TextBatch:
        """Groups of similar length (``length_groups``; one group when sorting is off), each
        padded to its longest item (SigLIP: always to its fixed length, as it was trained)."""
        rows = [list(p.payload) for p in prepared]
        if self.sort_by_length:
            groups = length_groups([len(r) for r in rows], self.min_group)
        else:
            groups = [list(range(len(rows)))]
        return TextBatch(
            [self._pad([rows[i] for i in group]) for group in groups],
            [i for group in groups for i in group],
        )

    def _pad(self, rows: list[list[int]]) -> dict[str, torch.Tensor]:
        width = self.max_tokens if self.family == "siglip" else max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": mask}

    def forward(self, batch: TextBatch | dict[str, torch.Tensor]) -> torch.Tensor:
        """Run the tower on every group; returns ``(n, dimension)`` in the callers' order
        (not yet normalised)."""
        if isinstance(batch, dict):
            return self._torch_group(batch)
        if self.onnx is not None:
            parts = [torch.from_numpy(_onnx_group(self.onnx, g)) for g in batch.groups]
        else:
            parts = [self._torch_group(g) for g in batch.groups]
        joined = parts[0] if len(parts) == 1 else torch.cat(parts)
        if batch.order == sorted(batch.order):
            return joined
        inverse = torch.empty(len(batch.order), dtype=torch.long)
        inverse[torch.tensor(batch.order, dtype=torch.long)] = torch.arange(len(batch.order))
        return joined[inverse.to(joined.device)]

    def _torch_group(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        input_ids = batch["input_ids"].to(self.device, non_blocking=True)
        mask = batch["attention_mask"].to(self.device, non_blocking=True)
        with torch.inference_mode():
            if self.family == "bert":
                states = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
                return mean_pool(states, mask)
            if (
                self.family == "siglip"
            ):  # trained without an attention mask; pools the last position
                return _pooled(self.model.get_text_features(input_ids=input_ids))
            return _pooled(self.model.get_text_features(input_ids=input_ids, attention_mask=mask))


def _onnx_group(session: Any, batch: dict[str, torch.Tensor]) -> np.ndarray:
    return session.run(batch["input_ids"].numpy(), batch["attention_mask"].numpy())


def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average token states over real (unmasked) tokens, in float32."""
    weights = mask.unsqueeze(-1).to(torch.float32)
    total = (states.to(torch.float32) * weights).sum(dim=1)
    return total / weights.sum(dim=1).clamp(min=1e-9)
