"""A full or read-only disk at start and at SIGTERM: the CLI's error and remedy, no traceback."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_appliance as run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def read_only_mount(tmp_path: Path, isolated_cli: None) -> Iterator[Path]:
    """A tmpfs of our own (needs root and mount rights; skipped elsewhere), unmounted after."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root, or no mount rights)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def test_start_on_a_read_only_data_dir_prints_error_and_remedy(
    capsys: pytest.CaptureFixture[str], read_only_mount: Path
) -> None:
    """serve on a data dir remounted read-only exits 74 with the CLI's error and remedy."""
    data_dir = read_only_mount / "data"
    code, _, err = run(capsys, "--data-dir", str(data_dir), "init")
    assert code == 0, err
    subprocess.run(["mount", "-o", "remount,ro", str(read_only_mount)], check=True)
    for command in (["serve"], ["keys", "status"]):
        code, _, err = run(capsys, "--data-dir", str(data_dir), *command)
        assert code == 74, err
        assert "error: storage is unavailable (Read-only file system)" in err
        assert "remedy: free disk space or make the data directory writable" in err
        assert "Traceback" not in err


def test_disk_errors_anywhere_in_a_command_are_reported_without_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, isolated_cli: None, monkeypatch
) -> None:
    """An ENOSPC raised deep inside a command ends in error + remedy and exit status 74."""
    data_dir = tmp_path / "data"
    assert run(capsys, "--data-dir", str(data_dir), "init")[0] == 0

    def full(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(data_dir / "appliance.lock"))

    monkeypatch.setattr("appliance.wiring._lock", full)
    code, _, err = run(capsys, "--data-dir", str(data_dir), "keys", "status")
    assert code == 74
    assert "error: storage is unavailable (No space left on device)" in err
    assert "Traceback" not in err


SERVER = textwrap.dedent(
    """
    import errno, os, sys
    from appliance.audit import storage

    flag = sys.argv[2]
    real_append = storage.JsonlFile.append_lines

    def append_lines(self, lines):
        if os.path.exists(flag):  # the disk fills up while serving
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_append(self, lines)

    storage.JsonlFile.append_lines = append_lines
    from appliance.cli.main import main

    main(["--data-dir", sys.argv[1], "serve", "--port", sys.argv[3]])
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_sigterm_with_a_full_disk_reports_an_incomplete_shutdown(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, isolated_cli: None
) -> None:
    """SIGTERM after the disk filled: every shutdown step is tried, then error + remedy, exit 1."""
    from appliance.encoders.testpack import write_test_pack

    data_dir = tmp_path / "data"
    assert run(capsys, "--data-dir", str(data_dir), "init")[0] == 0
    pack = write_test_pack(tmp_path / "pack")
    assert run(capsys, "--data-dir", str(data_dir), "models", "import", str(pack))[0] == 0
    flag, port = tmp_path / "disk-full", _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("APPLIANCE_CONFIG", None)
    env.pop("APPLIANCE_DATA_DIR", None)
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(data_dir), str(flag), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.communicate()[1][-2000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        flag.write_text("full")
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert process.returncode == 1, err[-2000:]
    assert "error: shutdown was incomplete: could not audit the stop" in err
    assert "No space left on device" in err
    assert "remedy: make the data directory writable" in err
    assert "Traceback" not in err
