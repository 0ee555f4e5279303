"""The conditional (GRU) inversion decoder: trained on public notes about a roster, it
writes held-out canary notes back from their vectors well enough to name the person."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from appliance.bench.risk_conditional import conditional_rows
from appliance.risk.conditional_decoder import evaluate_conditional, train_conditional_decoder
from appliance.risk.inversion import token_bag
from appliance.risk.notes import canary_notes, public_text, roster


def _projected_bags(texts: list[str]) -> np.ndarray:
    """A cheap stand-in text embedding: a fixed random projection of each text's bag of
    MiniLM word pieces (a function of the text, like any encoder's)."""
    rng = np.random.default_rng(0)
    projection = rng.normal(size=(30522, 64)).astype(np.float32)
    vectors = np.stack([projection[sorted(token_bag(t))].sum(0) for t in texts])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.slow
def test_conditional_decoder_names_canaries_from_vectors_and_not_from_wrong_ones() -> None:
    """On 16 held-out canary notes (roster of 8): closed-set naming from their own vectors
    well above chance and open recovery from the generated text; from each other's vectors
    (rolled by one) much lower; token F1 too."""
    torch.set_num_threads(1)
    notes = canary_notes(16, seed=1, pool=8)
    train_texts = public_text(160, seed=1, candidates=roster(notes))
    vectors = _projected_bags(train_texts + [n.text for n in notes])
    decoder = train_conditional_decoder(vectors[:160], train_texts, epochs=30, hidden=128)
    clean = evaluate_conditional(decoder, vectors[160:], notes)
    wrong = evaluate_conditional(decoder, np.roll(vectors[160:], 1, axis=0), notes)
    assert clean["name_closed_chance"] == 1 / 8
    assert clean["name_closed_top1"] >= 0.5, clean
    assert clean["name_recovered"] >= 0.3, clean
    assert wrong["name_closed_top1"] <= clean["name_closed_top1"] - 0.3, (clean, wrong)
    assert wrong["name_recovered"] <= clean["name_recovered"] - 0.3, (clean, wrong)
    assert clean["f1"] > wrong["f1"], (clean, wrong)


def test_bench_rows_attack_only_the_chosen_levels() -> None:
    """``bench risk --conditional-epochs`` rows: one per chosen level, in the sweep's order,
    each with the inversion figures (a 1-epoch decoder: wiring, not strength)."""
    torch.set_num_threads(1)
    notes = canary_notes(6, seed=2, pool=3)
    train_texts = public_text(24, seed=2, candidates=roster(notes))
    vectors = _projected_bags(train_texts + [n.text for n in notes])
    levels = (("none", "-"), ("rotation", "key unknown"))
    result = conditional_rows((vectors[:24], train_texts), (vectors[24:], notes), 1,
                              levels=levels, hidden=16)  # fmt: skip
    assert [(r["defence"], r["level"]) for r in result["rows"]] == list(levels)
    for row in result["rows"]:
        assert 0.0 <= row["f1"] <= 1.0 and 0.0 <= row["name_closed_top1"] <= 1.0
        assert row["name_closed_chance"] == 1 / 3
    assert result["epochs"] == 1 and result["vocabulary"] > 10
