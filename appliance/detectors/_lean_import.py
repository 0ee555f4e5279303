"""Import spaCy and Presidio without the optional heavyweights they reach for.

Presidio's ``nlp_engine`` package imports ``transformers`` (for Hugging Face NER engines we
do not use) and probes ``torch`` for a CUDA device (allocating a tensor on the GPU when one
exists); ``thinc`` (under spaCy) imports ``torch`` if it is installed. Each of those imports
is optional and guarded by ``except ImportError`` in those libraries. This module refuses
just those imports *when the importing module is one of those libraries*, for the duration
of the import, so the text detector loads in about a second instead of twenty, without
touching the GPU. Imports made by any other module (in any thread) are untouched, and once
``torch`` or ``transformers`` is already loaded (the encoders use them) nothing is refused.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from types import ModuleType

_REFUSED: Mapping[str, tuple[str, ...]] = {
    "torch": ("thinc", "presidio_analyzer"),
    "transformers": ("presidio_analyzer", "spacy", "thinc"),
}
_LOCK = threading.Lock()


def _importer_name() -> str:
    """Name of the first module on the stack outside the import machinery."""
    frame = sys._getframe(2)
    while frame is not None:
        name = str(frame.f_globals.get("__name__", ""))
        if not name.startswith("importlib") and name != __name__:
            return name
        frame = frame.f_back
    return ""


class _OptionalImportRefuser(importlib.abc.MetaPathFinder):
    """Meta-path finder that refuses ``_REFUSED`` roots to the listed importers only."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        importers = _REFUSED.get(fullname.partition(".")[0])
        if importers and _importer_name().startswith(importers):
            raise ModuleNotFoundError(
                f"{fullname} is optional and not loaded for the detectors", name=fullname
            )
        return None


@contextlib.contextmanager
def lean_imports() -> Iterator[None]:
    """Within this block, spaCy/thinc/Presidio do not pull in torch or transformers."""
    os.environ.setdefault("PRESIDIO_DEVICE", "cpu")  # no CUDA probe in presidio
    refuser = _OptionalImportRefuser()
    with _LOCK:
        sys.meta_path.insert(0, refuser)
        try:
            yield
        finally:
            sys.meta_path.remove(refuser)
