"""Text towers: CLIP, SigLIP, CLAP and BERT-style (mean pooling), and bad text input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from encoder_media import png_bytes
from PIL import Image

from appliance.encoders.base import encode_now
from appliance.encoders.factory import load_encoder
from appliance.errors import InvalidInputError
from appliance.settings import EncoderSettings

SENTENCES = [
    "chest x-ray",
    "The patient reports a mild headache, nausea and dizziness since yesterday evening.",
    "MRI of the left knee",
]


def _unit(x: torch.Tensor) -> np.ndarray:
    array = x.detach().float().numpy()
    return array / np.linalg.norm(array, axis=1, keepdims=True)


def test_real_minilm_matches_hand_computed_mean_pooling(settings: EncoderSettings) -> None:
    """MiniLM vectors equal a hand-computed masked mean of its token states (cosine 1e-5)."""
    from transformers import AutoModel, AutoTokenizer

    from appliance.encoders.tokenizer_files import minilm_dir

    encoder = load_encoder(minilm_dir(), settings=settings)
    ours = encode_now(encoder, SENTENCES)
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()), local_files_only=True)
    model = AutoModel.from_pretrained(
        str(minilm_dir()), local_files_only=True, use_safetensors=True
    ).eval()
    batch = tokenizer(SENTENCES, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.inference_mode():
        states = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    expected = _unit((states * mask).sum(1) / mask.sum(1))
    assert ours.shape == (3, 384) and ours.dtype == np.float32
    cosines = (ours * expected).sum(axis=1)
    assert np.all(cosines > 1 - 1e-5), cosines
    assert encoder.semantic is True


@pytest.mark.parametrize("family", ["clip", "siglip", "clap", "bert"])
def test_text_vectors_are_unit_length_and_batch_invariant(load, family: str) -> None:
    """Each family gives unit vectors in its dimension, the same alone as inside a padded batch."""
    encoder = load(family, "text")
    together = encode_now(encoder, SENTENCES)
    alone = np.vstack([encode_now(encoder, [s]) for s in SENTENCES])
    assert together.shape == (3, encoder.dimension) == (3, 32)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert np.allclose(together, alone, atol=1e-5)
    assert not np.allclose(together[0], together[1], atol=1e-3)


def test_clip_text_matches_transformers_reference(load, tiny_models) -> None:
    """CLIP text vectors equal CLIPModel.get_text_features on the HF tokenizer's ids."""
    from transformers import AutoTokenizer, CLIPModel

    path = tiny_models["clip"]
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = CLIPModel.from_pretrained(str(path), local_files_only=True).eval()
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = _unit(model.get_text_features(**batch).pooler_output)
    assert np.allclose(encode_now(load("clip", "text"), SENTENCES), expected, atol=1e-5)


def test_clap_text_matches_transformers_reference(load, tiny_models) -> None:
    """CLAP text vectors equal ClapModel.get_text_features on the HF (RoBERTa) tokenizer's ids."""
    from transformers import AutoTokenizer, ClapModel

    path = tiny_models["clap"]
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = ClapModel.from_pretrained(str(path), local_files_only=True).eval()
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = _unit(model.get_text_features(**batch).pooler_output)
    assert np.allclose(encode_now(load("clap", "text"), SENTENCES), expected, atol=1e-5)


def test_siglip_text_is_canonicalised_and_padded_to_max_length(load, tiny_models) -> None:
    """SigLIP lower-cases, drops punctuation and pads to its fixed 64 tokens, as trained."""
    from tokenizers import Tokenizer
    from transformers import SiglipModel

    encoder = load("siglip", "text")
    prepared = encoder.prepare("Hello, World!!")
    tokenizer = Tokenizer.from_file(str(tiny_models["siglip"] / "tokenizer.json"))
    assert prepared.payload == tokenizer.encode("hello world").ids
    batch = encoder.collate([prepared])
    assert batch["input_ids"].shape == (1, 64)
    model = SiglipModel.from_pretrained(str(tiny_models["siglip"]), local_files_only=True).eval()
    with torch.inference_mode():
        expected = _unit(model.get_text_features(input_ids=batch["input_ids"]).pooler_output)
    assert np.allclose(encode_now(encoder, ["Hello, World!!"]), expected, atol=1e-5)


def test_text_over_the_token_limit_is_truncated_with_a_flag(load) -> None:
    """Over-long text is cut to the limit (keeping the end token) and flagged ``truncated``."""
    encoder = load("clip", "text")
    prepared = encoder.prepare("word " * 300)
    assert prepared.notes["truncated"] is True and prepared.notes["tokens"] > 77
    assert len(prepared.payload) == 77 == prepared.notes["token_limit"]
    assert prepared.payload[-1] == encoder.tokenizer.token_to_id("<|endoftext|>")
    assert encoder.prepare("a short note").notes["truncated"] is False
    assert encode_now(encoder, ["word " * 300]).shape == (1, 32)


def test_text_over_the_token_limit_is_refused_when_configured(tiny_models) -> None:
    """With text_overflow = refuse, over-long text is an error naming the count and the limit."""
    encoder = load_encoder(
        tiny_models["bert"], settings=EncoderSettings(device="cpu", text_overflow="refuse")
    )
    with pytest.raises(InvalidInputError, match=r"over the model's limit of 128"):
        encoder.prepare("token " * 500)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"caf\xe9 au lait", "not valid UTF-8"),
        ("", "text is empty"),
        (b"", "text is empty"),
        ("  \n\t ", "only whitespace"),
        ("nul\x00byte", "NUL"),
    ],
)
def test_bad_text_is_refused_naming_the_problem(load, raw: bytes | str, message: str) -> None:
    """Non-UTF-8 bytes, empty or blank text and NUL characters each get a clear error."""
    with pytest.raises(InvalidInputError, match=message):
        load("bert", "text").prepare(raw)


def test_image_bytes_sent_as_text_are_refused(load) -> None:
    """A PNG sent with modality text is refused as a modality mismatch."""
    with pytest.raises(InvalidInputError, match="modality is 'text' but the bytes are a PNG"):
        load("clip", "text").prepare(png_bytes(Image.new("RGB", (4, 4))))


def test_utf8_bytes_embed_like_the_string(load) -> None:
    """UTF-8 bytes and the equivalent str give the same vector."""
    encoder = load("clap", "text")
    text = "naïve café — 37.5 °C"
    assert np.allclose(encode_now(encoder, [text.encode()]), encode_now(encoder, [text]), atol=1e-6)
