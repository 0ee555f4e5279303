"""A conditional decoder for the inversion attack: a GRU language model over MiniLM word
pieces, conditioned on the embedding, that writes the note back word piece by word piece.

Same attacker as ``inversion``: trained on public (non-PHI) text only, the same texts as
the bag-of-tokens decoder, embedded by the public model. The embedding is standardised
(the training vectors' mean and spread), mapped to the GRU's initial state and fed again
at every step; the GRU reads MiniLM's own (public) input embeddings of the previous word
piece and scores the next one (teacher forcing, cross-entropy). Its output vocabulary is
the word pieces of its training text (a full 30,522-way softmax per step is too slow for
a small CPU): it can only write pieces it has seen, unlike the bag-of-tokens decoder
whose output is tied to MiniLM's whole token table, so without a roster in its training
text it cannot name a canary at all.

Generation is greedy, up to ``max_tokens`` pieces or ``[SEP]``. Figures, scored like
``inversion.evaluate``:

* token precision / recall / F1 of the bag of word pieces of the generated text;
* ``open`` recovery: every word piece of the canary is in the generated text;
* ``closed`` recovery: each candidate is scored by the mean over its word pieces of the
  piece's highest log-probability at any step of the generation (pieces outside the
  vocabulary count as log 1e-9); recovered when the true one ranks first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from appliance.risk.inversion import _closed_recovery, _tokenizer, canary_bag, token_bag
from appliance.risk.notes import Note

FLOOR = float(np.log(1e-9))


def _pieces(text: str) -> list[int]:
    """MiniLM word-piece ids of ``text`` with [CLS] ... [SEP]."""
    return list(_tokenizer().encode(text).ids)


class ConditionalDecoder(torch.nn.Module):
    """Embedding -> GRU initial state; previous piece (MiniLM input embedding) + embedding
    -> GRU -> next piece over the training vocabulary."""

    def __init__(self, dimension: int, vocabulary: np.ndarray, hidden: int = 256) -> None:
        from appliance.risk.inversion import token_table

        super().__init__()
        table = token_table()[vocabulary]
        self.register_buffer("vocabulary", torch.as_tensor(vocabulary, dtype=torch.long))
        self.register_buffer("mean", torch.zeros(dimension))
        self.register_buffer("spread", torch.ones(dimension))
        self.pieces = torch.nn.Embedding.from_pretrained(torch.as_tensor(table), freeze=True)
        self.start = torch.nn.Linear(dimension, hidden)
        self.condition = torch.nn.Linear(dimension, 64)
        self.gru = torch.nn.GRU(table.shape[1] + 64, hidden, batch_first=True)
        self.out = torch.nn.Linear(hidden, len(vocabulary))

    def _state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = (x - self.mean) / self.spread
        return torch.tanh(self.start(z)).unsqueeze(0), torch.tanh(self.condition(z))

    def forward(self, x: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """Logits (batch, steps, vocabulary) of each next piece given the previous ones
        (indices into the vocabulary)."""
        state, condition = self._state(x)
        steps = previous.shape[1]
        inputs = torch.cat(
            [self.pieces(previous), condition.unsqueeze(1).expand(-1, steps, -1)], dim=2
        )
        output, _ = self.gru(inputs, state)
        return self.out(output)

    @torch.no_grad()
    def generate(self, x: torch.Tensor, start: int, stop: int, max_tokens: int) -> Any:
        """Greedy: (pieces (batch, steps) as vocabulary indices, log-probabilities (batch,
        steps, vocabulary)); generation of a row ends at ``stop``."""
        state, condition = self._state(x)
        token = torch.full((len(x),), start, dtype=torch.long)
        chosen, log_probs = [], []
        for _ in range(max_tokens):
            step = torch.cat([self.pieces(token), condition], dim=1).unsqueeze(1)
            output, state = self.gru(step, state)
            log_p = torch.log_softmax(self.out(output[:, 0]), dim=1)
            token = log_p.argmax(dim=1)
            chosen.append(token)
            log_probs.append(log_p)
            if bool((token == stop).all()):
                break
        return torch.stack(chosen, dim=1), torch.stack(log_probs, dim=1)


@dataclass
class TrainedConditionalDecoder:
    """The attacker's conditional decoder and how its training went."""

    model: ConditionalDecoder
    texts: int
    epochs: int
    final_loss: float
    max_tokens: int

    def decode(self, vectors: np.ndarray) -> tuple[list[list[int]], np.ndarray]:
        """(generated MiniLM piece ids per row, up to [SEP]; per-row max log-probability
        of every MiniLM piece over the steps, FLOOR for pieces outside the vocabulary)."""
        from appliance.risk.inversion import token_table

        vocabulary = self.model.vocabulary.numpy()
        index = {int(p): i for i, p in enumerate(vocabulary)}
        start, stop = index[_cls()], index[_sep()]
        texts: list[list[int]] = []
        best = np.full((len(vectors), token_table().shape[0]), FLOOR, np.float32)
        x = torch.as_tensor(np.asarray(vectors, np.float32))
        for lo in range(0, len(x), 128):
            chosen, log_p = self.model.generate(x[lo : lo + 128], start, stop, self.max_tokens)
            best[lo : lo + len(chosen), vocabulary] = log_p.max(dim=1).values.numpy()
            for row in chosen.tolist():
                ids = [int(vocabulary[i]) for i in row]
                texts.append(ids[: ids.index(_sep())] if _sep() in ids else ids)
        return texts, best


def _cls() -> int:
    return int(_tokenizer().token_to_id("[CLS]"))


def _sep() -> int:
    return int(_tokenizer().token_to_id("[SEP]"))


def train_conditional_decoder(
    vectors: np.ndarray,
    texts: Sequence[str],
    *,
    epochs: int = 8,
    hidden: int = 256,
    lr: float = 2e-3,
    batch_size: int = 64,
    max_tokens: int = 48,
    seed: int = 0,
    progress: Callable[[int], None] = lambda _: None,
) -> TrainedConditionalDecoder:
    """Teacher-forced cross-entropy on (embedding, text) pairs of public text."""
    torch.manual_seed(seed)
    sequences = [_pieces(t)[: max_tokens + 1] for t in texts]
    vocabulary = np.array(sorted({p for s in sequences for p in s} | {_cls(), _sep()}))
    index = {int(p): i for i, p in enumerate(vocabulary)}
    width = max(len(s) for s in sequences)
    padded = torch.full((len(sequences), width), -1, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = torch.as_tensor([index[p] for p in sequence])
    model = ConditionalDecoder(vectors.shape[1], vocabulary, hidden)
    x = torch.as_tensor(np.asarray(vectors, np.float32))
    model.mean.copy_(x.mean(0))
    model.spread.copy_(x.std(0).clamp(min=1e-6))
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    loss_value = float("nan")
    for _ in range(epochs):
        model.train()
        total, count = 0.0, 0
        for idx in torch.randperm(len(x)).split(batch_size):
            batch = padded[idx]
            previous, following = batch[:, :-1].clamp(min=0), batch[:, 1:]
            optimizer.zero_grad(set_to_none=True)
            logits = model(x[idx], previous)
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), following.reshape(-1), ignore_index=-1
            )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            total, count = total + float(loss.detach()) * len(idx), count + len(idx)
        loss_value = total / max(count, 1)
        progress(1)
    model.eval()
    return TrainedConditionalDecoder(model, len(texts), epochs, loss_value, max_tokens)


def evaluate_conditional(
    decoder: TrainedConditionalDecoder, vectors: np.ndarray, notes: Sequence[Note]
) -> dict[str, Any]:
    """Token F1 of the generated text and canary recovery (open: in the generated text;
    closed: best candidate by per-piece step-maximum log-probability)."""
    generated, best = decoder.decode(vectors)
    hits = predicted = actual = 0
    bags = []
    for ids, item in zip(generated, notes, strict=True):
        guess = set(ids) - {_cls(), _sep()}
        bags.append(guess)
        truth = token_bag(item.text)
        hits, predicted, actual = (
            hits + len(guess & truth),
            predicted + len(guess),
            actual + len(truth),
        )
    precision = hits / predicted if predicted else 0.0
    recall = hits / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    result: dict[str, Any] = {"precision": precision, "recall": recall, "f1": f1}
    # _closed_recovery reads scores as logits (log-sigmoid); pass log(p / (1 - p)) so that
    # its log-sigmoid is the step-maximum log-probability itself
    p = np.exp(best.astype(np.float64))
    logits = np.log(np.maximum(p, 1e-12)) - np.log(np.maximum(1.0 - p, 1e-12))
    for field in ("name", "mrn"):
        pieces = [canary_bag(getattr(n, field)) for n in notes]
        found = [len(bag & guess) for bag, guess in zip(pieces, bags, strict=True)]
        result[f"{field}_recovered"] = float(
            np.mean([f == len(bag) for f, bag in zip(found, pieces, strict=True)])
        )
        result[f"{field}_pieces_found"] = sum(found) / max(sum(len(b) for b in pieces), 1)
        closed, candidates = _closed_recovery(logits, notes, field)
        result[f"{field}_closed_top1"] = closed
        result[f"{field}_closed_chance"] = 1.0 / candidates
    return result
