"""The repeat / averaging attack over real HTTP on ``/v1/embeddings``: asking for one input
again and again returns one vector (averaging buys nothing), while variants the text model
cannot tell apart draw fresh keyed noise and average it away (the documented limit)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from appliance.risk.repeat import case_variants, punctuation_variants, repeat_attack
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


def test_repeating_an_input_buys_nothing_but_case_variants_do(
    served: LiveServer,  # noqa: F811
) -> None:
    """Over HTTP under the research policy (keyed gaussian noise): 16 copies of one note
    come back as one vector, so the mean is as far from the clean vector as one answer;
    16 case variants (one clean vector for the lower-casing test-pack tokenizer) come back
    as 16 different vectors whose mean is several times closer to the clean one."""
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
    same = result["modes"]["same_input"]
    assert same["distinct_answers"] == 1
    assert same["single_distance"] > 1e-3  # the defence is on
    assert same["averaged_distance"] == same["single_distance"]
    varied = result["modes"]["case_variants"]
    assert varied["distinct_answers"] == 16
    assert varied["gain"] > 4.0, varied  # fresh noise per variant: ~16x in cosine distance
