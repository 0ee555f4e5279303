"""Real-data figure: can an attacker rebuild the starter image tower from public data?

The quickstart's digits tower trains on scikit-learn's public digits with the shipped
recipe (``pixels`` + MLP, hidden 256, 30 epochs). If the seed were fixed, anyone could
rebuild the exact weights and link stored face vectors to faces he embeds himself (the
``cross_top1`` attacker of the risk audit). ``python -m appliance.risk.rebuild
../shared/data/orl_faces`` trains the tower with seed 0 (standing in for the site's
secret seed) and again with ``--rebuilds`` other seeds (the attacker), embeds the 400 ORL
faces with each, stores the site's vectors under the keyed noise of each ``--sigma``, and
prints face re-identification over chance for: the attacker holding stored vectors only,
the attacker holding the exact weights, and the attacker holding a rebuilt tower.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np


def rebuild_attack(
    orl: Path, sigmas: tuple[float, ...] = (0.0, 0.1, 0.2), rebuilds: int = 2, epochs: int = 30
) -> dict[str, Any]:
    """Re-identification over chance per noise level for the three attackers."""
    import torch

    from appliance.align.features import anchor_texts, pixels
    from appliance.align.trainer import TrainConfig, train
    from appliance.encoders.starter import digit_pairs
    from appliance.risk import attacks
    from appliance.risk.defences import keyed_noise
    from appliance.risk.faces import orl_files

    pairs = digit_pairs(None)
    x = pixels([p.payload for p in pairs])
    t = anchor_texts([p.text for p in pairs])
    ids = np.array([int(p.label) for p in pairs])
    files = orl_files(orl)
    inputs = [f.read_bytes() for f in files]
    faces = pixels(inputs)
    labels = [f.parent.name for f in files]
    towers = []
    for seed in range(rebuilds + 1):
        config = TrainConfig(kind="mlp", hidden=256, epochs=epochs, batch_size=64, seed=seed)
        tower = train(x, t, ids, config).tower
        with torch.no_grad():
            towers.append(attacks.unit(tower(torch.as_tensor(faces)).numpy()))
    site, rebuilt = towers[0], towers[1:]
    key = os.urandom(32)
    rows = []
    for sigma in sigmas:
        stored = site if sigma == 0 else keyed_noise(site, inputs, sigma, key)
        alone = attacks.identification(stored, labels)
        rows.append(
            {
                "sigma": sigma,
                "stored_only": round(alone["top1"] / alone["chance_top1"], 2),
                "exact_weights": _cross(site, stored, labels),
                "rebuilt_other_seed": [_cross(g, stored, labels) for g in rebuilt],
            }
        )
    return {"faces": len(files), "identities": len(set(labels)), "epochs": epochs, "rows": rows}


def _cross(gallery: np.ndarray, stored: np.ndarray, labels: list[str]) -> float:
    """Top-1 over chance of linking each stored vector to the attacker's own vectors."""
    from appliance.risk import attacks

    result = attacks.identification(gallery, labels, queries=stored)
    return round(result["top1"] / result["chance_top1"], 2)


def main(argv: list[str] | None = None) -> int:
    """Print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("orl", type=Path)
    parser.add_argument("--sigma", type=float, action="append")
    parser.add_argument("--rebuilds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args(argv)
    sigmas = tuple(args.sigma or (0.0, 0.1, 0.2))
    print(json.dumps(rebuild_attack(args.orl, sigmas, args.rebuilds, args.epochs), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
