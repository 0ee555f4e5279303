"""Spoken digits synthesised on-premise, for the quickstart's audio tower.

eSpeak NG (GPL-3.0-or-later, the library inside the optional ``espeakng-loader`` wheel:
``pip install 'appliance[speech]'``) runs in a child process, ``appliance.align.
espeak_driver``, a separate GPL program; the appliance only reads the WAV files it
writes. Nothing here loads the library, and the serving path never imports this module.

The plan speaks each digit word ("seven") in many voices: eight English accents times
eSpeak's voice variants (male, female, Klatt), at random rates, pitches and pitch ranges
(seeded, so a plan is reproducible and its clips are cached in the data dir). Training
material is then augmented (speed, noise, gain, leading/trailing silence) in memory.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.errors import InvalidInputError

if TYPE_CHECKING:
    from appliance.align.pairs import Pair

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = (
    "en-us",
    "en",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-029",
    "en-us-nyc",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)
VARIANTS = (
    "",
    *(f"+m{i}" for i in range(1, 8)),
    *(f"+f{i}" for i in range(1, 5)),
    "+klatt",
    "+klatt2",
    "+klatt3",
    "+edward",
    "+john",
    "+max",
    "+norbert",
    "+david",
    "+iven",
    "+Gene",
)
SPEECH_RATE = 8_000
"""Clips are stored at the rate the ``logmel`` features use (FSDD's rate too)."""
PLAN_VERSION = 1
DRIVER_TIMEOUT_S = 600


def speech_caption(digit: int) -> str:
    """The caption the speech tower is trained on (and the query the quickstart shows)."""
    return f"the spoken digit {DIGIT_WORDS[digit]}"


def espeak_available() -> bool:
    """True when the optional ``espeakng-loader`` wheel is installed."""
    return importlib.util.find_spec("espeakng_loader") is not None


def speech_plan(per_digit: int, seed: int = 0) -> list[dict[str, Any]]:
    """``per_digit`` synthesis jobs for each digit: accent, variant, rate, pitch, range."""
    rng = np.random.default_rng(seed)
    jobs = []
    for digit, word in enumerate(DIGIT_WORDS):
        for i in range(per_digit):
            voice = ACCENTS[rng.integers(len(ACCENTS))] + VARIANTS[rng.integers(len(VARIANTS))]
            jobs.append(
                {
                    "file": f"{digit}_{i:04d}.wav",
                    "text": word,
                    "digit": digit,
                    "voice": voice,
                    "rate": int(rng.integers(110, 231)),
                    "pitch": int(rng.integers(15, 81)),
                    "range": int(rng.integers(20, 91)),
                }
            )
    return jobs


def plan_key(jobs: list[dict[str, Any]]) -> str:
    """What names a plan's cache folder: its jobs and the plan version."""
    text = json.dumps({"version": PLAN_VERSION, "jobs": jobs}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def synthesise(jobs: list[dict[str, Any]], cache_dir: Path) -> Path:
    """The folder holding every job's clip (8 kHz, 16-bit mono WAV), synthesised in a child
    process on a cache miss; cached under ``cache_dir/<plan key>``."""
    import soundfile as sf
    from scipy.signal import resample_poly

    folder = Path(cache_dir) / plan_key(jobs)
    done = folder / "complete.json"
    if done.is_file():
        return folder
    if not espeak_available():
        raise InvalidInputError(
            "speech synthesis needs eSpeak NG, which is not installed",
            remedy="pip install 'appliance[speech]' (espeakng-loader, GPL-3.0-or-later; "
            "see docs/alignment.md)",
        )
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="espeak-", dir=folder) as scratch:
        jobs_file = Path(scratch) / "jobs.json"
        jobs_file.write_text(json.dumps(jobs), "utf-8")
        raw = Path(scratch) / "raw"
        result = subprocess.run(
            [sys.executable, "-m", "appliance.align.espeak_driver", str(jobs_file), str(raw)],
            capture_output=True,
            text=True,
            timeout=DRIVER_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            raise InvalidInputError(
                f"eSpeak NG failed ({result.returncode}): {result.stderr.strip()[-300:]}",
                remedy="reinstall the speech extra: pip install 'appliance[speech]'",
            )
        for job in jobs:
            wave, rate = sf.read(raw / job["file"], dtype="float32")
            common = math.gcd(SPEECH_RATE, int(rate))
            wave = resample_poly(wave, SPEECH_RATE // common, int(rate) // common)
            sf.write(folder / job["file"], wave.astype(np.float32), SPEECH_RATE, "PCM_16")
    done.write_text(json.dumps({"clips": len(jobs), "rate": SPEECH_RATE}), "utf-8")
    return folder


def augment(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random variation of an 8 kHz clip: speed 0.85-1.15, gain, noise at 10-40 dB SNR,
    up to a quarter second of silence (with faint noise) either side."""
    from scipy.signal import resample_poly

    speed = rng.uniform(0.85, 1.15)
    out = resample_poly(wave, 100, round(100 * speed)).astype(np.float32)
    out = out * rng.uniform(0.3, 1.0)
    power = float(np.mean(out**2)) + 1e-9
    before, after = rng.integers(0, SPEECH_RATE // 4, 2)
    out = np.concatenate([np.zeros(before, np.float32), out, np.zeros(after, np.float32)]).astype(
        np.float32
    )
    snr_db = rng.uniform(10, 40)
    noise = rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), len(out))
    return np.clip(out + noise.astype(np.float32), -1.0, 1.0)


def wav_bytes(wave: np.ndarray, rate: int = SPEECH_RATE) -> bytes:
    """A mono 16-bit WAV file in memory."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, wave, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def speech_pairs(
    folder: Path, jobs: list[dict[str, Any]], *, augmented: int = 0, seed: int = 0
) -> list[Pair]:
    """The synthesised clips as (caption, WAV) pairs, plus ``augmented`` variations of each."""
    import soundfile as sf

    from appliance.align.pairs import Pair

    rng = np.random.default_rng(seed)
    pairs = []
    for job in jobs:
        digit = int(job["digit"])
        wave, _ = sf.read(Path(folder) / job["file"], dtype="float32")
        clips = [wave] + [augment(wave, rng) for _ in range(augmented)]
        for clip in clips:
            pairs.append(Pair(speech_caption(digit), wav_bytes(clip), label=str(digit)))
    return pairs
