"""ORL faces: the probe-set writer, and dlib's face descriptor as the reference attacker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.risk.audit import ProbeSet
from appliance.risk.faces import dlib_descriptors, orl_files, write_orl_manifest
from appliance.risk.manifest import read_probe_manifest
from tests.conftest import shared_data_dir


def test_orl_manifest_reads_back_as_an_image_probe_set(tmp_path: Path) -> None:
    """The ORL writer's lines load as an image probe set with one identity per person."""
    root = shared_data_dir("orl_faces")
    manifest = read_probe_manifest(write_orl_manifest(root, tmp_path / "orl.jsonl", 3, 2))
    assert manifest.modality == "image"
    assert manifest.labels == ["s1", "s1", "s2", "s2", "s3", "s3"]
    assert json.loads((tmp_path / "orl.jsonl").read_text().splitlines()[0])["identity"] == "s1"


def test_dlib_descriptor_reidentifies_orl_faces() -> None:
    """dlib's 128-d ResNet descriptor links every held image of 3 ORL people to its person
    (leave-one-out top-1 1.0, chance 1/3): the attack finds identity where it is present."""
    from appliance.risk.attacks import identification

    files = orl_files(shared_data_dir("orl_faces"), people=3, images=3)
    vectors, detected = dlib_descriptors([f.read_bytes() for f in files])
    assert vectors.shape == (9, 128) and detected >= 6
    labels = [f.parent.name for f in files]
    linkage = identification(ProbeSet(vectors, labels, []).vectors, labels)
    assert linkage["top1"] == pytest.approx(1.0)
    assert linkage["chance_top1"] == pytest.approx(1 / 3)


def test_dlib_absent_is_a_config_error_with_remedy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the dlib wheel the tooling says what to install instead of crashing."""
    import sys

    from appliance.errors import ConfigError
    from appliance.risk import faces

    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib -> ImportError
    with pytest.raises(ConfigError) as error:
        faces.dlib_descriptors([b"not read"])
    assert "dlib-bin" in error.value.remedy
