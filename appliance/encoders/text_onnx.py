"""ONNX Runtime for the forward pass of BERT-style sentence encoders (MiniLM) on the CPU.

The graph is exported here, on the premises, from the model's own verified safetensors
weights the first time it is needed (nothing is downloaded). It is written to
``<models_dir>/.derived/<model>-<weights digest>.onnx`` (beside the model, not in its
directory, whose file list the model store verifies), with a ``.sha256`` sidecar; a file
whose hash no longer matches its sidecar, or whose weights changed, is exported again
(or copied from an intact export of the same weights made earlier by this process).
Before it serves, the session must reproduce the torch forward pass on probe sentences
(cosine >= ``MIN_PROBE_COSINE`` per vector); otherwise the encoder stays on torch.

The exported graph includes the mean pooling, so it returns ``(n, dimension)`` float32.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from appliance.errors import ConfigError
from appliance.models.safety import sha256_file

log = logging.getLogger(__name__)

MIN_PROBE_COSINE = 0.9999
OPSET = 17
_EXPORT_LOCK = threading.Lock()
_EXPORTED: dict[str, Path] = {}
"""Intact exports made by this process, by file name (model name and weights digest)."""


def onnx_available() -> bool:
    """True when ONNX Runtime and the ``onnx`` package (needed to export) import."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def require_onnx() -> None:
    """``ConfigError`` with a remedy when ``encoders.text_runtime = 'onnx'`` cannot work."""
    if not onnx_available():
        raise ConfigError(
            "encoders.text_runtime is 'onnx' but onnxruntime or onnx is not installed",
            remedy="install the appliance's dependencies, or set encoders.text_runtime = 'torch'",
        )


def weights_digest(model_dir: Path) -> str:
    """SHA-256 over the weights and config the graph is exported from."""
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        path = model_dir / name
        digest.update(name.encode() + b"\x00")
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def derived_path(model_dir: Path, derived_dir: Path, name: str) -> Path:
    """Where the exported graph of this model's current weights lives."""
    return derived_dir / f"{name}-{weights_digest(model_dir)[:24]}.onnx"


class _Pooled(torch.nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        weights = attention_mask.unsqueeze(-1).to(torch.float32)
        total = (states.to(torch.float32) * weights).sum(dim=1)
        return total / weights.sum(dim=1).clamp(min=1e-9)


def _intact(path: Path) -> bool:
    sidecar = path.with_suffix(".onnx.sha256")
    if not (path.is_file() and sidecar.is_file()):
        return False
    return sidecar.read_text(encoding="ascii").strip() == sha256_file(path)


def export_graph(model: Any, path: Path) -> Path:
    """Export ``model`` (a BERT-style ``AutoModel``) with mean pooling to ``path`` (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    sample = torch.ones((2, 8), dtype=torch.long)
    handle, temp_name = tempfile.mkstemp(prefix=".export-", suffix=".onnx", dir=path.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on shape-dependent Python branches
            torch.onnx.export(
                _Pooled(model).eval(),
                (sample, torch.ones_like(sample)),
                str(temp),
                input_names=["input_ids", "attention_mask"],
                output_names=["pooled"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    "pooled": {0: "batch"},
                },
                opset_version=OPSET,
                dynamo=False,
            )
        path.with_suffix(".onnx.sha256").write_text(sha256_file(temp) + "\n", encoding="ascii")
        temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)
    return path


class OnnxForward:
    """An ONNX Runtime session over the exported graph: ``run(ids, mask) -> (n, dim)``."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # the appliance's request threads share the cores: waiting workers must not spin
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = path
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Pooled ``(n, dimension)`` float32 states (not normalised)."""
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        return np.asarray(self.session.run(None, feeds)[0], dtype=np.float32)


def load_onnx_forward(
    model: Any, model_dir: Path, derived_dir: Path, name: str, threads: int
) -> OnnxForward:
    """The session for this model's weights, exporting the graph first if need be."""
    path = derived_path(model_dir, derived_dir, name)
    with _EXPORT_LOCK:
        if not _intact(path):
            earlier = _EXPORTED.get(path.name)
            if earlier is not None and earlier != path and _intact(earlier):
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                shutil.copyfile(earlier, path)
                sidecar = ".onnx.sha256"
                shutil.copyfile(earlier.with_suffix(sidecar), path.with_suffix(sidecar))
            else:
                log.info("encoder %s: exporting the ONNX graph to %s", name, path)
                export_graph(model, path)
        _EXPORTED[path.name] = path
    return OnnxForward(path, threads)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two ``(n, d)`` arrays."""
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(norms, 1e-12)
