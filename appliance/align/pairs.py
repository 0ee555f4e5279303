"""Training pairs from a JSON-lines manifest: ``{"text": ..., "file": PATH}`` or
``{"text": ..., "data": "data:<mime>;base64,..."}`` per line. Relative paths resolve against
the manifest's folder; nothing is fetched from the network. The fingerprint is a SHA-256 over
the pairs' hashes, so provenance can name the training data without holding any of it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import InvalidInputError
from appliance.manifest_media import media_bytes

MAX_PAIRS = 1_000_000


@dataclass(frozen=True)
class Pair:
    """One text and the bytes of its matching file."""

    text: str
    payload: bytes
    label: str = ""
    """Optional grouping key (``"label"`` in the manifest); defaults to the text."""

    @property
    def key(self) -> str:
        """What makes two pairs the same match in an audit: the label, else the text."""
        return self.label or self.text


def read_pairs(manifest: Path) -> list[Pair]:
    """Parse and load every pair; errors name the line and what is wrong."""
    manifest = Path(manifest)
    base = manifest.parent
    pairs: list[Pair] = []
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{manifest}: cannot read the manifest ({exc})") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{manifest.name}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{where}: not JSON ({exc.msg})") from exc
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise InvalidInputError(f"{where}: each line needs a 'text' string")
        if not record["text"].strip():
            raise InvalidInputError(f"{where}: 'text' is blank")
        if ("file" in record) == ("data" in record):
            raise InvalidInputError(f"{where}: give exactly one of 'file' or 'data'")
        payload = media_bytes(record, base, where)
        pairs.append(Pair(record["text"], payload, str(record.get("label", ""))))
        if len(pairs) > MAX_PAIRS:
            raise InvalidInputError(f"{manifest}: more than {MAX_PAIRS} pairs")
    if not pairs:
        raise InvalidInputError(f"{manifest}: no pairs", remedy="one JSON object per line")
    return pairs


def fingerprint(texts: list[str], payloads: list[bytes]) -> str:
    """SHA-256 over the sorted per-pair hashes (order-independent; holds no data)."""
    rows = sorted(
        hashlib.sha256(hashlib.sha256(t.encode()).digest() + hashlib.sha256(p).digest()).hexdigest()
        for t, p in zip(texts, payloads, strict=True)
    )
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()
