# SPDX-License-Identifier: GPL-3.0-or-later
"""A separate program that speaks short texts with eSpeak NG and writes WAV files.

This file is licensed GPL-3.0-or-later, because it loads eSpeak NG (GPL-3.0-or-later, the
shared library in the ``espeakng-loader`` wheel) into its own process. The appliance never
imports it: it runs it as a child process (``python -m appliance.align.espeak_driver``)
and uses only the WAV files it writes (see ``appliance/align/speech.py`` and
docs/alignment.md, "Licence of the speech synthesiser"). It imports nothing from the
appliance.

Usage: ``python -m appliance.align.espeak_driver JOBS.json OUT_DIR``. ``JOBS.json`` is a
list of ``{"file", "text", "voice", "rate", "pitch", "range", "gap"}``; each job becomes
``OUT_DIR/<file>`` (mono 16-bit PCM at the synthesiser's rate, 22,050 Hz).
"""

from __future__ import annotations

import ctypes
import json
import sys
import wave
from pathlib import Path
from typing import Any

AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
ESPEAK_CHARS_UTF8 = 1
RATE, PITCH, RANGE, WORDGAP = 1, 3, 4, 7
CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class Espeak:
    """The eSpeak NG library, initialised for synchronous synthesis into memory."""

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        data = espeakng_loader.get_data_path().encode()
        self.rate = int(self.lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0))
        if self.rate <= 0:
            raise RuntimeError(f"eSpeak NG did not initialise ({self.rate})")
        self.chunks: list[bytes] = []
        self._callback = CALLBACK(self._collect)  # kept alive while the library holds it
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: Any, count: int, _events: Any) -> int:
        if count > 0:
            self.chunks.append(ctypes.string_at(wav, count * 2))
        return 0

    def speak(self, job: dict[str, Any]) -> bytes:
        """16-bit little-endian PCM of one job's text."""
        if self.lib.espeak_SetVoiceByName(str(job["voice"]).encode()) != 0:
            raise ValueError(f"unknown voice {job['voice']!r}")
        settings = ((RATE, "rate"), (PITCH, "pitch"), (RANGE, "range"), (WORDGAP, "gap"))
        for parameter, key in settings:
            if key in job:
                self.lib.espeak_SetParameter(parameter, int(job[key]), 0)
        text = str(job["text"]).encode()
        self.chunks = []
        status = self.lib.espeak_Synth(
            text, len(text) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None
        )
        if status != 0:
            raise RuntimeError(f"eSpeak NG failed on {job['text']!r} ({status})")
        self.lib.espeak_Synchronize()
        return b"".join(self.chunks)


def write_wav(path: Path, pcm: bytes, rate: int) -> None:
    """Mono 16-bit PCM into a WAV file, written beside and renamed into place."""
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    tmp.replace(path)


def main(argv: list[str]) -> int:
    """Speak every job into ``OUT_DIR``; exit 0 when all were written."""
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    jobs = json.loads(Path(argv[0]).read_text("utf-8"))
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    engine = Espeak()
    for job in jobs:
        name = Path(str(job["file"])).name  # no paths outside OUT_DIR
        write_wav(out / name, engine.speak(job), engine.rate)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
