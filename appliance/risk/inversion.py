"""Inversion of text embeddings: a bag-of-tokens decoder trained on public text only.

The attacker holds text embeddings (what the appliance stores or hands out) and the public
model. He embeds public, non-PHI text himself and trains a decoder from an embedding to the
set of MiniLM word pieces of its text (multi-label, binary cross-entropy, positives
weighted). The decoder standardises its input (the attacker's training vectors' mean and
spread), then an MLP whose output layer is tied to MiniLM's own (public) input token
embeddings: a token's score is the dot product of the decoded vector with that token's
embedding plus a learnt per-token bias, so the decoder can score word pieces it never saw
in training (the canary names are never in the decoder's training text unless the
attacker holds a roster, ``notes.public_text(candidates=...)``). The output vocabulary is
MiniLM's word pieces whichever text model produced the vectors.

Figures (``evaluate``):

* token precision / recall / F1 on held-out notes: the predicted bag is every word piece
  whose sigmoid score is above 0.5, against the note's true bag of word pieces;
* canary recovery, two definitions:
  - ``open``: a canary (a name, or an MRN) is recovered when *every* word piece of it is
    among the decoder's top-k word pieces for the note, k being the number of distinct word
    pieces of the note itself (the attacker's best guess of the note, as long as the note);
  - ``closed``: the attacker holds a candidate list (the evaluation set's canary names or
    MRNs, 50 by default) and ranks the candidates by the mean log-sigmoid score of their
    word pieces; recovered when the true one ranks first. Chance is 1 / candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from appliance.risk.notes import Note

SPECIAL = ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]")


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    from tokenizers import Tokenizer

    from appliance.encoders.tokenizer_files import minilm_dir

    tokenizer = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@lru_cache(maxsize=1)
def token_table() -> np.ndarray:
    """MiniLM's public input token embeddings (vocabulary x 384)."""
    from safetensors import safe_open

    from appliance.encoders.tokenizer_files import minilm_dir

    with safe_open(str(minilm_dir() / "model.safetensors"), "np") as handle:
        return np.asarray(handle.get_tensor("embeddings.word_embeddings.weight"), np.float32)


def token_bag(text: str) -> frozenset[int]:
    """The distinct MiniLM word-piece ids of ``text`` (special tokens left out)."""
    tokenizer = _tokenizer()
    encoding = tokenizer.encode(text)
    return frozenset(
        i for i, t in zip(encoding.ids, encoding.tokens, strict=True) if t not in SPECIAL
    )


def canary_bag(value: str) -> frozenset[int]:
    """The word pieces of a canary as they appear inside a note (its own tokenisation)."""
    return token_bag(value)


def embed_texts(texts: Sequence[str], progress: Callable[[int], None] = lambda _: None) -> Any:
    """MiniLM vectors of ``texts`` (the appliance's own encoder code, CPU), in order."""
    from appliance.encoders.base import encode_now
    from appliance.encoders.factory import load_encoder
    from appliance.encoders.tokenizer_files import minilm_dir
    from appliance.settings import EncoderSettings

    encoder = load_encoder(minilm_dir(), settings=EncoderSettings(device="cpu", warmup=False))
    parts = []
    for start in range(0, len(texts), 64):
        batch = list(texts[start : start + 64])
        parts.append(encode_now(encoder, batch))
        progress(len(batch))
    return np.vstack(parts).astype(np.float32)


class BagOfTokensDecoder(torch.nn.Module):
    """Embedding -> MLP -> a vector in token-embedding space -> one logit per word piece."""

    def __init__(self, dimension: int, table: np.ndarray, hidden: int = 1024) -> None:
        super().__init__()
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(dimension, hidden),
            torch.nn.GELU(),
            torch.nn.Linear(hidden, table.shape[1]),
        )
        self.register_buffer("table", torch.as_tensor(table))
        self.register_buffer("mean", torch.zeros(dimension))
        self.register_buffer("spread", torch.ones(dimension))
        self.scale = torch.nn.Parameter(torch.tensor(1.0))
        self.bias = torch.nn.Parameter(torch.full((table.shape[0],), -5.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, vocabulary)."""
        h = self.mlp((x - self.mean) / self.spread)
        return self.scale * (h @ self.table.T) + self.bias


def _multi_hot(bags: Sequence[frozenset[int]], vocabulary: int) -> torch.Tensor:
    target = torch.zeros(len(bags), vocabulary)
    for row, bag in enumerate(bags):
        target[row, list(bag)] = 1.0
    return target


@dataclass
class TrainedDecoder:
    """The attacker's decoder and how its training went."""

    model: BagOfTokensDecoder
    texts: int
    epochs: int
    final_loss: float

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """Logits (n, vocabulary) for embeddings (n, d)."""
        x = torch.as_tensor(np.asarray(vectors, np.float32))
        with torch.no_grad():
            return torch.cat([self.model(x[i : i + 256]) for i in range(0, len(x), 256)]).numpy()


def train_decoder(
    vectors: np.ndarray,
    texts: Sequence[str],
    *,
    epochs: int = 20,
    hidden: int = 1024,
    lr: float = 1e-3,
    batch_size: int = 64,
    positive_weight: float = 20.0,
    seed: int = 0,
    progress: Callable[[int], None] = lambda _: None,
) -> TrainedDecoder:
    """Train the decoder on (embedding, text) pairs of public text (binary cross-entropy
    with each present word piece weighted ``positive_weight``: a note has ~30 of 30,522)."""
    torch.manual_seed(seed)
    table = token_table()
    model = BagOfTokensDecoder(vectors.shape[1], table, hidden)
    target = _multi_hot([token_bag(t) for t in texts], table.shape[0])
    x = torch.as_tensor(np.asarray(vectors, np.float32))
    # the embeddings of similar texts crowd one direction: standardise what tells them apart
    model.mean.copy_(x.mean(0))
    model.spread.copy_(x.std(0).clamp(min=1e-6))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    weight = torch.tensor(positive_weight)
    loss_value = float("nan")
    for _ in range(epochs):
        model.train()
        total, count = 0.0, 0
        for idx in torch.randperm(len(x)).split(batch_size):
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                model(x[idx]), target[idx], pos_weight=weight
            )
            loss.backward()
            optimizer.step()
            total, count = total + float(loss.detach()) * len(idx), count + len(idx)
        loss_value = total / max(count, 1)
        progress(1)
    model.eval()
    return TrainedDecoder(model, len(texts), epochs, loss_value)


def token_f1(scores: np.ndarray, bags: Sequence[frozenset[int]]) -> dict[str, float]:
    """Micro precision / recall / F1 of the bags predicted at sigmoid > 0.5 (logit > 0)."""
    hits = predicted = actual = 0
    for row, bag in zip(scores, bags, strict=True):
        guess = set(np.flatnonzero(row > 0.0).tolist())
        hits += len(guess & bag)
        predicted += len(guess)
        actual += len(bag)
    precision = hits / predicted if predicted else 0.0
    recall = hits / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _open_recovery(scores: np.ndarray, notes: Sequence[Note], field: str) -> tuple[float, float]:
    """(share of canaries with every word piece in the note-length top-k, share of canary
    word pieces in it)."""
    recovered, pieces_found, pieces = 0, 0, 0
    for row, item in zip(scores, notes, strict=True):
        k = len(token_bag(item.text))
        top = set(np.argpartition(-row, k)[:k].tolist())
        bag = canary_bag(getattr(item, field))
        found = len(bag & top)
        recovered += found == len(bag)
        pieces_found, pieces = pieces_found + found, pieces + len(bag)
    return recovered / len(notes), pieces_found / max(pieces, 1)


def _closed_recovery(scores: np.ndarray, notes: Sequence[Note], field: str) -> tuple[float, int]:
    """(share of notes whose canary ranks first among the candidates, candidates)."""
    candidates = sorted({getattr(n, field) for n in notes})
    bags = [sorted(canary_bag(c)) for c in candidates]
    log_p = -np.logaddexp(0.0, -scores)  # log sigmoid
    table = np.stack([log_p[:, bag].mean(axis=1) for bag in bags], axis=1)
    truth = np.array([candidates.index(getattr(n, field)) for n in notes])
    return float((table.argmax(axis=1) == truth).mean()), len(candidates)


def evaluate(decoder: TrainedDecoder, vectors: np.ndarray, notes: Sequence[Note]) -> dict[str, Any]:
    """Token F1 and canary recovery (open and closed) of the decoder on ``vectors``, the
    (possibly defended) embeddings of ``notes``."""
    scores = decoder.scores(vectors)
    result: dict[str, Any] = token_f1(scores, [token_bag(n.text) for n in notes])
    for field in ("name", "mrn"):
        rate, pieces = _open_recovery(scores, notes, field)
        closed, candidates = _closed_recovery(scores, notes, field)
        result[f"{field}_recovered"] = rate
        result[f"{field}_pieces_found"] = pieces
        result[f"{field}_closed_top1"] = closed
        result[f"{field}_closed_chance"] = 1.0 / candidates
    return result
