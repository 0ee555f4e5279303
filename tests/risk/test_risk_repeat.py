"""The repeat / averaging attack over real HTTP on ``/v1/embeddings``: asking for one input
again and again, or for variants the text model cannot tell apart (case, accents,
zero-width characters), returns one vector, so averaging buys nothing; variants the model
does see (punctuation) draw fresh noise (the documented limit)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from appliance.risk.repeat import (
    case_variants,
    invisible_variants,
    punctuation_variants,
    repeat_attack,
)
from appliance.services.defences import canonical_input, input_rng
from tests.api.conftest import LiveServer, served, test_pack  # noqa: F401 - fixtures

RESEARCH = {"subject_role": "patient", "purpose": "research"}
TREATMENT = {"subject_role": "patient", "purpose": "treatment"}
TEXT = "Follow-up for chest pain, stable on aspirin."


def test_variants_are_distinct_and_keep_the_text() -> None:
    """Case variants differ only in letter case; punctuation variants keep the stem."""
    variants = case_variants(TEXT, 16)
    assert len(set(variants)) == 16 and variants[0] == TEXT
    assert {v.lower() for v in variants} == {TEXT.lower()}
    punctuated = punctuation_variants(TEXT, 8)
    assert len(set(punctuated)) == 8
    assert all(v.startswith(TEXT.rstrip(".")) for v in punctuated)


def test_variants_the_model_cannot_see_share_one_noise_draw() -> None:
    """Case, accent and zero-width variants key the same noise as the original (before
    the canonical form folded them, each drew its own and could be averaged away); the
    real MiniLM embeds them identically, so nothing about them differs for an attacker."""
    from appliance.risk.inversion import embed_texts

    variants = [*case_variants(TEXT, 4), *invisible_variants(TEXT, 4)[1:], TEXT.replace("e", "é")]
    assert len({canonical_input(v) for v in variants}) == 1
    draws = {input_rng(b"k" * 32, "space", "text", v).normal(size=4).tobytes() for v in variants}
    assert len(draws) == 1
    vectors = embed_texts(variants)
    assert np.allclose(vectors, vectors[0], atol=1e-5)
    assert canonical_input(TEXT) != canonical_input(TEXT + "!")


def test_repeated_and_invisible_variants_buy_nothing_over_http(
    served: LiveServer,  # noqa: F811
) -> None:
    """Over HTTP under the research policy (keyed gaussian noise): 16 copies of one note
    and 16 case variants (one clean vector for the lower-casing test-pack tokenizer) all
    come back as one vector, so the mean is as far from the clean vector as one answer;
    16 punctuation variants draw 16 different noises (the limit that stays)."""
    with served.client("query") as query:
        model = query.get("/v1/models").json()["data"][0]["id"]

        def embed(texts: Sequence[str], context: dict[str, str]) -> np.ndarray:
            reply = query.post(
                "/v1/embeddings", json={"model": model, "input": list(texts), "context": context}
            )
            assert reply.status_code == 200, reply.text
            return np.array([row["embedding"] for row in reply.json()["data"]])

        clean = embed([TEXT], TREATMENT)[0]
        clean_variants = embed(case_variants(TEXT, 16), TREATMENT)
        result = repeat_attack(lambda texts: embed(texts, RESEARCH), clean, TEXT, repeats=16)
    assert np.allclose(clean_variants, clean, atol=1e-6)  # the tokenizer lower-cases
    for mode in ("same_input", "case_variants"):
        figures = result["modes"][mode]
        assert figures["distinct_answers"] == 1, (mode, figures)
        assert figures["single_distance"] > 1e-3  # the defence is on
        assert figures["averaged_distance"] == pytest.approx(figures["single_distance"])
    assert result["modes"]["punctuation_variants"]["distinct_answers"] == 16
