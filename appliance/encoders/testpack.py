"""Random-weight checkpoints of the real model classes, with real tokenizer and processor files.

``write_random_model(family, size, out_dir)`` writes one Hugging Face model directory:
``tiny`` for tests (seconds on a CPU), ``real`` with the architecture sizes of the
released checkpoints (CLIP ViT-B/32, CLAP HTSAT-base, SigLIP base/16, BERT-base) so
benchmarks measure the same compute. ``write_test_pack(out_dir)`` writes a whole pack
(CLIP + CLAP + BERT-style text + a CLAP->CLIP adapter) labelled non-semantic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from appliance.encoders import offline  # noqa: F401  (flags before transformers)
from appliance.encoders.tokenizer_files import (
    TokenizerInfo,
    build_clip_tokenizer,
    build_roberta_tokenizer,
    build_siglip_tokenizer,
    copy_bert_tokenizer,
)

Family = Literal["clip", "siglip", "clap", "bert"]
Size = Literal["tiny", "real"]
FAMILIES: tuple[str, ...] = ("clip", "siglip", "clap", "bert")
NON_SEMANTIC_NOTE = (
    "random weights written by appliance.encoders.testpack; vectors carry no meaning"
)
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
_TINY_TOWER: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
}
_TINY_IMAGE = 32


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _image_processor(family: str, size: int) -> dict[str, Any]:
    common = {
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "resample": 3,
        "rescale_factor": 1 / 255,
    }
    if family == "clip":
        return {
            **common,
            "image_processor_type": "CLIPImageProcessor",
            "processor_class": "CLIPProcessor",
            "size": {"shortest_edge": size},
            "do_center_crop": True,
            "crop_size": {"height": size, "width": size},
            "image_mean": CLIP_MEAN,
            "image_std": CLIP_STD,
        }
    return {
        **common,
        "image_processor_type": "SiglipImageProcessor",
        "processor_class": "SiglipProcessor",
        "size": {"height": size, "width": size},
        "image_mean": [0.5] * 3,
        "image_std": [0.5] * 3,
    }


def _audio_processor(fusion: bool) -> dict[str, Any]:
    return {
        "feature_extractor_type": "ClapFeatureExtractor",
        "processor_class": "ClapProcessor",
        "feature_size": 64,
        "sampling_rate": 48_000,
        "hop_length": 480,
        "max_length_s": 10,
        "fft_window_size": 1024,
        "padding_value": 0.0,
        "return_attention_mask": False,
        "frequency_min": 50,
        "frequency_max": 14_000,
        "top_db": None,
        "truncation": "fusion" if fusion else "rand_trunc",
        "padding": "repeatpad",
    }


def _text_ids(info: TokenizerInfo, max_positions: int, vocab_size: int | None) -> dict[str, Any]:
    ids = {
        "vocab_size": max(info.vocab_size, vocab_size or 0),
        "pad_token_id": info.pad_id,
        "eos_token_id": info.eos_id,
        "max_position_embeddings": max_positions,
    }
    if info.bos_id is not None:
        ids["bos_token_id"] = info.bos_id
    return ids


_DEFAULT_IDS = {
    "clip": TokenizerInfo(49408, pad_id=1, bos_id=49406, eos_id=49407),
    "siglip": TokenizerInfo(32000, pad_id=1, bos_id=1, eos_id=1),
    "clap": TokenizerInfo(50265, pad_id=1, bos_id=0, eos_id=2),
    "bert": TokenizerInfo(30522, pad_id=0, bos_id=101, eos_id=102),
}
_TINY_AUDIO = {
    "patch_size": 8,
    "patch_stride": [8, 8],
    "patch_embeds_hidden_size": 16,
    "hidden_size": 32,
    "depths": [1, 1],
    "num_attention_heads": [2, 2],
    "num_hidden_layers": 2,
}


def model_config(
    family: str, size: Size, info: TokenizerInfo | None = None, *, clap_fusion: bool = False
) -> Any:
    """The ``transformers`` config of a random ``family`` model: ``real`` is the config
    class's defaults (the released architectures), ``tiny`` a 2-layer, 32-wide version."""
    import transformers as tf

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    tiny = size == "tiny"
    info = info or _DEFAULT_IDS[family]
    tower = dict(_TINY_TOWER) if tiny else {}
    vision = {**_TINY_TOWER, "image_size": _TINY_IMAGE, "patch_size": 8} if tiny else {}
    if family == "clip":
        text = {**_text_ids(info, 77, None if tiny else 49408), **tower}
        return tf.CLIPConfig(
            text_config=text, vision_config=vision, projection_dim=32 if tiny else 512
        )
    if family == "siglip":
        text = {**_text_ids(info, 64, None if tiny else 32000), **tower}
        if tiny:
            text["projection_size"] = 32
        return tf.SiglipConfig(text_config=text, vision_config=vision)
    if family == "clap":
        text = {**_text_ids(info, 514, None if tiny else 50265), **tower}
        audio: dict[str, Any] = dict(_TINY_AUDIO) if tiny else {}
        if clap_fusion:
            audio.update({"enable_fusion": True, "fusion_type": "aff_2d"})
        return tf.ClapConfig(
            text_config=text, audio_config=audio, projection_dim=32 if tiny else 512
        )
    return tf.BertConfig(vocab_size=info.vocab_size, pad_token_id=info.pad_id, **tower)


def _sentence_files(out_dir: Path, dimension: int, max_seq: int) -> None:
    """sentence-transformers' description: Transformer + mean Pooling + Normalize."""
    _write_json(
        out_dir / "sentence_bert_config.json", {"max_seq_length": max_seq, "do_lower_case": False}
    )
    (out_dir / "1_Pooling").mkdir(exist_ok=True)
    pooling = {
        "word_embedding_dimension": dimension,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    _write_json(out_dir / "1_Pooling" / "config.json", pooling)
    kinds = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    modules = [
        {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
        for i, (path, kind) in enumerate(kinds)
    ]
    _write_json(out_dir / "modules.json", modules)


def _build(family: str, size: Size, out_dir: Path, clap_fusion: bool) -> Any:
    """Write tokenizer/processor files and return the (random) model to save."""
    import transformers as tf

    image_size = _TINY_IMAGE if size == "tiny" else 224
    if family == "clip":
        config = model_config(family, size, build_clip_tokenizer(out_dir))
        _write_json(out_dir / "preprocessor_config.json", _image_processor("clip", image_size))
        return tf.CLIPModel(config)
    if family == "siglip":
        config = model_config(family, size, build_siglip_tokenizer(out_dir))
        _write_json(out_dir / "preprocessor_config.json", _image_processor("siglip", image_size))
        return tf.SiglipModel(config)
    if family == "clap":
        info = build_roberta_tokenizer(out_dir)
        config = model_config(family, size, info, clap_fusion=clap_fusion)
        _write_json(out_dir / "preprocessor_config.json", _audio_processor(fusion=clap_fusion))
        return tf.ClapModel(config)
    if family == "bert":
        max_seq = 128 if size == "tiny" else 256
        config = model_config(family, size, copy_bert_tokenizer(out_dir, max_length=max_seq))
        _sentence_files(out_dir, config.hidden_size, max_seq)
        return tf.BertModel(config, add_pooling_layer=False)
    raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")


def write_random_model(
    family: str,
    size: Literal["tiny", "real"],
    out_dir: Path,
    *,
    seed: int = 0,
    clap_fusion: bool = False,
) -> Path:
    """Write a random-weight ``family`` checkpoint (safetensors) with tokenizer and processor
    files into ``out_dir`` and return ``out_dir``. Labelled non-semantic
    (``appliance_model.json``)."""
    import torch

    from appliance.encoders.common import quiet_transformers

    quiet_transformers()
    if size not in ("tiny", "real"):
        raise ValueError(f"size must be 'tiny' or 'real', not {size!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _build(family, size, out_dir, clap_fusion)
        model.eval()
        model.save_pretrained(out_dir)
    _write_json(
        out_dir / "appliance_model.json",
        {"semantic": False, "provenance": NON_SEMANTIC_NOTE, "family": family, "size": size},
    )
    return out_dir


def write_adapter(
    out_dir: Path,
    *,
    from_model: str,
    modality: str,
    in_dim: int,
    out_dim: int,
    seed: int = 0,
    provenance: str = NON_SEMANTIC_NOTE,
) -> Path:
    """Write a linear adapter directory (``adapter.json`` + ``adapter.safetensors``); random
    near-orthogonal weights unless the trainer overwrites them."""
    import torch
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    weight, _ = torch.linalg.qr(
        torch.randn(max(in_dim, out_dim), max(in_dim, out_dim), generator=generator)
    )
    save_file(
        {"weight": weight[:out_dim, :in_dim].contiguous(), "bias": torch.zeros(out_dim)},
        str(out_dir / "adapter.safetensors"),
    )
    _write_json(
        out_dir / "adapter.json",
        {
            "format": "appliance-adapter/1",
            "kind": "linear",
            "from_model": from_model,
            "modality": modality,
            "in_dim": in_dim,
            "out_dim": out_dim,
            "provenance": provenance,
        },
    )
    return out_dir


def write_test_pack(out_dir: Path, size: Literal["tiny", "real"] = "tiny") -> Path:
    """Write a non-semantic pack: CLIP (text anchor + image), CLAP (audio, through an adapter
    into CLIP's space) and a BERT-style sentence encoder; return ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for family in ("clip", "clap", "bert"):
        write_random_model(family, size, out_dir / family)
    clip_dim = json.loads((out_dir / "clip" / "config.json").read_text())["projection_dim"]
    clap_dim = json.loads((out_dir / "clap" / "config.json").read_text())["projection_dim"]
    write_adapter(
        out_dir / "clap-to-clip",
        from_model="clap",
        modality="audio",
        in_dim=clap_dim,
        out_dim=clip_dim,
    )
    pack = {
        "format": "appliance-pack/1",
        "name": f"test-pack-{size}",
        "semantic": False,
        "provenance": NON_SEMANTIC_NOTE,
        "models": [{"name": n, "path": n} for n in ("clip", "clap", "bert", "clap-to-clip")],
        "space": {
            "name": f"test-space-{size}",
            "anchor": "clip",
            "encoders": {
                "text": {"model": "clip"},
                "image": {"model": "clip"},
                "audio": {"model": "clap", "adapter": "clap-to-clip"},
            },
        },
    }
    _write_json(out_dir / "pack.json", pack)
    return out_dir
