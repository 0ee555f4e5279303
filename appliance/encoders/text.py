"""Text towers: CLIP and SigLIP text, CLAP text, and BERT-style sentence encoders (mean pooling).

Tokenisation uses the model's own ``tokenizer.json`` through the ``tokenizers`` library
(no hub, no remote code, no sentencepiece). Text over the token limit is truncated with
a ``truncated`` note, or refused, as ``encoders.text_overflow`` says.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from appliance.domain.types import Modality
from appliance.encoders import offline  # noqa: F401  (flags before transformers)
from appliance.encoders.base import Prepared
from appliance.encoders.common import Runtime, TorchEncoder, load_checkpoint
from appliance.encoders.sniff import sniff
from appliance.errors import InvalidInputError

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
    ) -> None:
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
        self.model = self._load(model_dir, model_type)

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

    def collate(self, prepared: Sequence[Prepared]) -> dict[str, torch.Tensor]:
        """Pad to the longest item (SigLIP: always to its fixed length, as it was trained)."""
        rows = [list(p.payload) for p in prepared]
        width = self.max_tokens if self.family == "siglip" else max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": mask}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Run the tower on the device; returns ``(n, dimension)`` (not yet normalised)."""
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


def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average token states over real (unmasked) tokens, in float32."""
    weights = mask.unsqueeze(-1).to(torch.float32)
    total = (states.to(torch.float32) * weights).sum(dim=1)
    return total / weights.sum(dim=1).clamp(min=1e-9)
