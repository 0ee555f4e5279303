"""Invariant 1 (no phone-home): telemetry and tracking of every dependency is off.

Each run is a real subprocess with a fresh, empty ``HOME`` and none of the opt-out variables
in its environment, so only what the appliance itself sets can keep the libraries quiet.
onnxruntime 1.32 otherwise writes a device id and an event queue
(``~/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db``) on import;
huggingface_hub starts a telemetry thread.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from appliance.airgap import AIRGAP_ENVIRONMENT
from tests.conftest import shared_data_dir

ROOT = Path(__file__).resolve().parents[2]
NOTE = "Patient John Smith (MRN 48213377) wrote from john.smith@example.co.uk about chest pain.\n"

GUARDED_RUN = r"""
import json, socket, sys

attempts = []
real_getaddrinfo = socket.getaddrinfo
real_connect = socket.socket.connect
LOCAL = ("localhost", "127.0.0.1", "::1")

def getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name not in LOCAL:
        attempts.append(["getaddrinfo", name])
        raise OSError("outbound name lookup refused by the test guard")
    return real_getaddrinfo(host, *args, **kwargs)

def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOCAL:
        attempts.append(["connect", str(address[0])])
        raise OSError("outbound connection refused by the test guard")
    return real_connect(self, address)

socket.getaddrinfo = getaddrinfo
socket.socket.connect = connect

import appliance  # the air-gap switches, then onnxruntime

from huggingface_hub.utils import _telemetry, send_telemetry
send_telemetry("appliance-test")

from appliance.encoders.factory import load_encoder
from appliance.encoders.base import encode_now
from appliance.settings import EncoderSettings
from appliance.encoders.tokenizer_files import minilm_dir
encoder = load_encoder(minilm_dir(), settings=EncoderSettings(device="cpu", warmup=False))
shape = encode_now(encoder, ["chest pain on exertion"]).shape

print(json.dumps({
    "attempts": attempts,
    "telemetry_thread": _telemetry._TELEMETRY_THREAD is not None,
    "shape": list(shape),
}))
"""


def _bare_environment(home: Path, data_dir: Path) -> dict[str, str]:
    """The caller's environment without any opt-out the appliance should set itself."""
    drop = set(AIRGAP_ENVIRONMENT) | {"XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"}
    drop |= {"HF_HOME", "TORCH_HOME", "APPLIANCE_CONFIG"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        HOME=str(home),
        PYTHONPATH=str(ROOT),
        APPLIANCE_DATA_DIR=str(data_dir),
        CUDA_VISIBLE_DEVICES="",
    )
    return env


def _files_under(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


def test_detectors_leave_no_onnxruntime_device_id_or_event_queue(tmp_path: Path) -> None:
    """`policy check` on a note and a voice (the text detector, Silero VAD on onnxruntime)
    leaves HOME empty: no ~/.cache/Microsoft/.../onnxruntime.db, no device id."""
    home = tmp_path / "home"
    home.mkdir()
    note = tmp_path / "note.txt"
    note.write_text(NOTE, encoding="utf-8")
    voice = tmp_path / "voice.wav"
    shutil.copy(shared_data_dir("fsdd") / "recordings" / "3_jackson_0.wav", voice)
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "policy", "check", "--json", str(note), str(voice)],
        cwd=tmp_path,
        env=_bare_environment(home, tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    reports = json.loads(result.stdout)
    kinds = {finding["kind"] for report in reports for finding in report["findings"]}
    assert {"email_address", "speech"} <= kinds, kinds  # the detectors really ran
    assert _files_under(home) == []


def test_library_defaults_make_no_outbound_request(tmp_path: Path) -> None:
    """Under a socket guard, huggingface_hub's telemetry and a real MiniLM encoding make no
    outbound attempt and write nothing under HOME."""
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", GUARDED_RUN],
        cwd=tmp_path,
        env=_bare_environment(home, tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["attempts"] == []
    assert outcome["telemetry_thread"] is False
    assert outcome["shape"] == [1, 384]
    assert _files_under(home) == []


def test_systemd_units_carry_every_airgap_switch() -> None:
    """Both units set each air-gap variable, so a process started by systemd has them
    before Python runs (belt and braces with appliance/__init__.py)."""
    for unit in sorted((ROOT / "systemd").glob("*.service")):
        values: dict[str, str] = {}
        for line in unit.read_text(encoding="utf-8").splitlines():
            if line.startswith("Environment="):
                for pair in line.removeprefix("Environment=").split():
                    key, _, value = pair.strip('"').partition("=")
                    values[key] = value
        expected = {key: value for key, value in AIRGAP_ENVIRONMENT.items()}
        assert {k: values.get(k) for k in expected} == expected, unit.name
