"""Inversion of real MiniLM text embeddings by a bag-of-tokens decoder trained on public,
fabricated text only: it recovers word pieces of held-out notes far above a decoder shown
the wrong note, and heavy keyed noise takes that away."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.risk import defences, inversion, inversion_sweep
from appliance.risk.notes import canary_notes, name_pool, public_text, roster
from appliance.risk.redaction import redaction_rows

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_canary_names_never_appear_in_the_training_half() -> None:
    """The attacker's training names and the canary names are disjoint halves of the lists."""
    train_first, train_last = name_pool(0)
    canary_first, canary_last = name_pool(1)
    assert train_first and canary_first and not set(train_first) & set(canary_first)
    assert not set(train_last) & set(canary_last)
    texts = " ".join(public_text(200, seed=0)).lower()
    for note in canary_notes(20, seed=0, pool=20):
        assert note.name in note.text and note.mrn in note.text
        assert note.name.lower() not in texts


def test_token_f1_counts_hits() -> None:
    """Precision, recall and F1 of logit > 0 against the true bags, micro-averaged."""
    scores = np.full((2, 6), -1.0)
    scores[0, [1, 2]] = 1.0
    scores[1, [3]] = 1.0
    figures = inversion.token_f1(scores, [frozenset({1, 2, 4}), frozenset({3})])
    assert figures["precision"] == 1.0
    assert figures["recall"] == pytest.approx(0.75)
    assert figures["f1"] == pytest.approx(2 * 0.75 / 1.75)


def test_decoder_inverts_minilm_embeddings_and_noise_blunts_it() -> None:
    """Trained on 120 fabricated notes about the people on a roster of 8 (never the canary
    notes themselves), embedded by the real MiniLM, the decoder names the person in most
    held-out canary notes (chance 1/8) and reads more of their words than from the wrong
    notes' vectors; keyed noise at sigma 0.3 takes the names away, and so does the sweep's
    redact_before_encode row (the notes redacted by the real detector, re-embedded; the
    synthetic names come from the detector's own lexicon, so this is a unit test only)."""
    notes = canary_notes(16, seed=1, pool=8)
    train_texts = public_text(120, seed=1, candidates=roster(notes))
    assert not {n.text for n in notes} & set(train_texts)
    vectors = inversion.embed_texts(train_texts + [n.text for n in notes])
    train_vectors, note_vectors = vectors[:120], vectors[120:]
    decoder = inversion.train_decoder(train_vectors, train_texts, epochs=25, hidden=256)
    clean = inversion.evaluate(decoder, note_vectors, notes)
    shuffled = inversion.evaluate(decoder, np.roll(note_vectors, 1, axis=0), notes)
    noisy_vectors = defences.keyed_noise(note_vectors, [n.text for n in notes], 0.3, b"k" * 32)
    noisy = inversion.evaluate(decoder, noisy_vectors, notes)
    assert clean["name_closed_chance"] == pytest.approx(1 / 8)
    assert clean["name_closed_top1"] >= 0.75, clean
    assert shuffled["name_closed_top1"] <= 0.25, shuffled
    assert clean["f1"] > shuffled["f1"] + 0.05, (clean, shuffled)
    assert noisy["name_closed_top1"] <= clean["name_closed_top1"] - 0.5, (clean, noisy)
    [(level, rewrite)] = redaction_rows([])
    [redact] = inversion_sweep.text_defences(train_vectors, rewrites=[(level, rewrite)])[-1:]
    assert (redact.name, redact.level) == ("redact_before_encode", "direct ids (shipped)")
    public, attacked = (train_vectors, train_texts), (note_vectors, notes)
    utility = (train_vectors[:12], train_texts[:12])
    with pytest.raises(ValueError, match="needs an embed"):
        inversion_sweep.attack_row(redact, decoder, public, attacked, utility, b"k" * 32)
    row = inversion_sweep.attack_row(
        redact, decoder, public, attacked, utility, b"k" * 32, embed=inversion.embed_texts
    )
    assert row["name_closed_top1"] <= 0.25 and row["mrn_recovered"] == 0.0, row
    assert not any(n.mrn in rewrite(n.text) for n in notes)
