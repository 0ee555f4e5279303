"""Real-data figure: speaker re-identification on the Free Spoken Digit Dataset.

``python -m appliance.risk.fsdd ../shared/data/fsdd --takes 5`` takes the first ``takes``
recordings of every digit by every speaker (6 speakers), their ``logmel`` features (the
alignment trainer's pretrained-model-free audio features), and runs the full sweep with the
speaker as identity and the accent from the dataset's ``metadata.py`` as the attribute.

``write_manifests`` (``appliance risk manifests --fsdd DIR``) writes the same recordings as
files the CLI reads, so the audit runs on the towers the appliance serves: the probe set
(speaker identity, accent and gender), the utility pairs (captions "the spoken digit
seven", the alignment audit's) and the training pairs of a tower (the other recordings).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any

from appliance.align.speech import speech_caption
from appliance.risk.audit import ProbeSet, run_audit


def _speakers(metadata_file: Path) -> dict[str, dict[str, str]]:
    """Speaker -> gender, accent, language, read from ``metadata.py`` as data (never run)."""
    tree = ast.parse(metadata_file.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "metadata":
            table = ast.literal_eval(node.value)
            return {s: {k: str(v) for k, v in info.items()} for s, info in table.items()}
    return {}


def write_manifests(root: Path, out_dir: Path, takes: int = 5) -> dict[str, Path]:
    """``fsdd-probe.jsonl`` (recordings ``0..takes-1``: speaker identity, accent, gender),
    ``fsdd-utility.jsonl`` (the same recordings as caption pairs) and ``fsdd-train.jsonl``
    (the other recordings as caption pairs, for ``align train``); files by absolute path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    speakers = _speakers(root / "metadata.py")
    probe, utility, train = [], [], []
    for path in sorted((root / "recordings").glob("*.wav")):
        digit, speaker, take = path.stem.split("_")
        file = str(path.resolve())
        pair = {"text": speech_caption(int(digit)), "file": file, "label": digit}
        if int(take) < takes:
            info = speakers.get(speaker, {})
            attributes = {k: info[k] for k in ("accent", "gender") if k in info}
            probe.append({"identity": speaker, "file": file, "attributes": attributes})
            utility.append(pair)
        else:
            train.append(pair)
    written = {}
    for name, rows in (("probe", probe), ("utility", utility), ("train", train)):
        target = out_dir / f"fsdd-{name}.jsonl"
        target.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        written[name] = target
    return written


def fsdd_probe(root: Path, takes: int) -> ProbeSet:
    """The probe set: ``takes`` recordings per digit and speaker, centred logmel features."""
    from appliance.align.features import logmel

    files = sorted(
        p for p in (root / "recordings").glob("*.wav") if int(p.stem.split("_")[2]) < takes
    )
    payloads = [p.read_bytes() for p in files]
    speakers = [p.stem.split("_")[1] for p in files]
    accents = {s: i.get("accent", "") for s, i in _speakers(root / "metadata.py").items()}
    features = logmel(payloads)
    features = features - features.mean(axis=0)  # log energies are all positive
    attributes: dict[str, list[str | None]] = {"accent": [accents.get(s) for s in speakers]}
    return ProbeSet(features, speakers, list(payloads), attributes)


def main(argv: list[str] | None = None) -> int:
    """Print the sweep as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--takes", type=int, default=5)
    args = parser.parse_args(argv)
    result: dict[str, Any] = run_audit(
        fsdd_probe(args.root, args.takes), progress=lambda s: print(s, file=sys.stderr)
    )
    print(json.dumps(result, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
