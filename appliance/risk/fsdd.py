"""Real-data figure: speaker re-identification on the Free Spoken Digit Dataset.

``python -m appliance.risk.fsdd ../shared/data/fsdd --takes 5`` takes the first ``takes``
recordings of every digit by every speaker (6 speakers), their ``logmel`` features (the
alignment trainer's pretrained-model-free audio features), and runs the full sweep with the
speaker as identity and the accent from the dataset's ``metadata.py`` as the attribute.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any

from appliance.risk.audit import ProbeSet, run_audit


def _accents(metadata_file: Path) -> dict[str, str]:
    """Speaker -> accent, read from ``metadata.py`` as data (never executed)."""
    tree = ast.parse(metadata_file.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "metadata":
            table = ast.literal_eval(node.value)
            return {speaker: str(info.get("accent", "")) for speaker, info in table.items()}
    return {}


def fsdd_probe(root: Path, takes: int) -> ProbeSet:
    """The probe set: ``takes`` recordings per digit and speaker, centred logmel features."""
    from appliance.align.features import logmel

    files = sorted(
        p for p in (root / "recordings").glob("*.wav") if int(p.stem.split("_")[2]) < takes
    )
    payloads = [p.read_bytes() for p in files]
    speakers = [p.stem.split("_")[1] for p in files]
    accents = _accents(root / "metadata.py")
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
