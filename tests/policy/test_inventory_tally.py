"""Inventory aggregation without detectors: file walk and the shares it reports."""

from __future__ import annotations

from pathlib import Path

from appliance.domain.types import Modality
from appliance.policy import PolicyEngine, RequestContext
from appliance.policy.classify import Classification, guess_modality
from appliance.policy.inventory import Inventory, corpus_files, render_table
from tests.policy.conftest import NOW, findings


def test_corpus_walk_skips_hidden_entries_and_symlinks(tmp_path: Path) -> None:
    """Regular files in name order; dot-files, dot-dirs and symlinks are left out."""
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.txt").write_text("x")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "y.txt").write_text("y")
    (tmp_path / ".z.txt").write_text("z")
    (tmp_path / "link.txt").symlink_to(tmp_path / "a.txt")
    assert [p.relative_to(tmp_path).as_posix() for p in corpus_files(tmp_path)] == [
        "a.txt",
        "b/x.txt",
    ]


def test_modality_guess_by_magic_then_utf8() -> None:
    """WAV and PNG by magic number, UTF-8 as text, binary and PDFs as unsupported."""
    assert guess_modality(b"RIFF\x00\x00\x00\x00WAVEfmt ") == (Modality.AUDIO, "WAV")
    assert guess_modality(b"\x89PNG\r\n\x1a\n....") == (Modality.IMAGE, "PNG")
    assert guess_modality("Befund: unauffällig".encode(), ".txt") == (Modality.TEXT, "txt")
    assert guess_modality(b"%PDF-1.7") is None
    assert guess_modality(bytes(range(256))) is None


def test_inventory_shares_by_kind_category_regime_and_outcome(engine: PolicyEngine) -> None:
    """Shares count items (not findings); categories map to their regimes; facts tallied."""
    tally = Inventory(engine, Path("/corpus"))
    context = RequestContext("patient", "treatment")
    rows = [
        (
            Modality.TEXT,
            "txt",
            ("person_name", "person_name", "date"),
            {"chars": 120, "language": "en"},
        ),
        (Modality.TEXT, "txt", (), {"chars": 40, "language": "en"}),
        (Modality.IMAGE, "PNG", ("face",), {"width": 92, "height": 112}),
        (
            Modality.AUDIO,
            "WAV",
            ("speech",),
            {"sample_rate": 8000, "channels": 1, "duration_s": 0.5},
        ),
    ]
    for modality, fmt, kinds, facts in rows:
        found = tuple(findings(*kinds))
        decision = engine.decide(found, context, None, NOW)
        tally.add(Classification(modality, fmt, 100, found, facts, decision))
    tally.skip(Path("/corpus/x.pdf"), "invalid_input", "not supported")
    inv = tally.to_dict({"role": "patient", "purpose": "treatment"})
    assert inv["files"] == 5 and inv["items"] == 4
    f = inv["findings"]
    assert f["phi"] == {"items": 1, "share": 0.25}
    assert f["faces"]["items"] == 1 and f["speech"]["items"] == 1
    assert f["kinds"]["person_name"] == {"items": 1, "share": 0.25, "findings": 2}
    assert f["categories"]["bipa.face_geometry"]["items"] == 1
    assert f["regimes"]["hipaa"]["items"] == 3 and f["regimes"]["bipa"]["items"] == 2
    assert inv["modalities"]["text"]["length_chars"] == {
        "min": 40.0,
        "median": 80.0,
        "mean": 80.0,
        "max": 120.0,
    }
    assert inv["modalities"]["image"]["resolutions"] == {"92x112": 1}
    assert inv["modalities"]["audio"]["duration_s"]["max"] == 0.5
    assert inv["decisions"]["outcomes"] == {"allow_with_obligations": 3, "allow": 1}
    lines = "\n".join(render_table(inv))
    assert "items with PHI 25.0%, faces 25.0%, speech 25.0%" in lines
    assert "skipped 1 (invalid_input 1)" in lines
