"""The auditor's labelled probe set: JSON lines, one sample each.

``{"identity": "spk-03", "file": "clips/03_1.wav", "attributes": {"gender": "m"}}`` or
``{"identity": ..., "text": "..."}`` (or ``"data": "data:<mime>;base64,..."`` instead of
``file``). Relative paths resolve against the manifest's folder; every sample must be of one
modality (text, or image / audio files recognised by their bytes).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from appliance.encoders.sniff import sniff
from appliance.errors import InvalidInputError
from appliance.manifest_media import media_bytes

MAX_SAMPLES = 100_000
_REMEDY = 'one JSON object per line: {"identity": ..., "file" | "text" | "data": ...}'


@dataclass
class ProbeManifest:
    """Loaded samples of one modality with their identities and attributes."""

    modality: str
    inputs: list[bytes | str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    attributes: dict[str, list[str | None]] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """SHA-256 over the samples' hashes and labels (names the data, holds none of it)."""
        digest = hashlib.sha256()
        for payload, label in zip(self.inputs, self.labels, strict=True):
            raw = payload.encode() if isinstance(payload, str) else payload
            digest.update(hashlib.sha256(raw).digest() + hashlib.sha256(label.encode()).digest())
        return digest.hexdigest()


def _payload(record: dict[str, object], base: Path, where: str) -> tuple[str, bytes | str]:
    given = [k for k in ("file", "text", "data") if k in record]
    if len(given) != 1:
        raise InvalidInputError(
            f"{where}: give exactly one of 'file', 'text' or 'data'", remedy=_REMEDY
        )
    if given[0] == "text":
        text = record["text"]
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError(f"{where}: 'text' must be a non-blank string", remedy=_REMEDY)
        return "text", text
    raw = media_bytes(record, base, where)
    kind = (sniff(raw) or ("other", ""))[0]
    if kind not in ("image", "audio"):
        raise InvalidInputError(f"{where}: not a recognised image or audio file", remedy=_REMEDY)
    return kind, raw


def read_probe_manifest(path: Path) -> ProbeManifest:
    """Parse and load every sample; errors name the line and what is wrong."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot read the manifest ({exc})") from exc
    manifest: ProbeManifest | None = None
    rows: list[dict[str, str]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{where}: not JSON ({exc.msg})", remedy=_REMEDY) from exc
        if not isinstance(record, dict) or not isinstance(record.get("identity"), str):
            raise InvalidInputError(
                f"{where}: each line needs an 'identity' string", remedy=_REMEDY
            )
        attributes = record.get("attributes", {})
        if not isinstance(attributes, dict):
            raise InvalidInputError(f"{where}: 'attributes' must be an object", remedy=_REMEDY)
        modality, payload = _payload(record, path.parent, where)
        if manifest is None:
            manifest = ProbeManifest(modality)
        elif modality != manifest.modality:
            raise InvalidInputError(
                f"{where}: a {modality} sample in a {manifest.modality} probe set",
                remedy="audit one modality per manifest",
            )
        manifest.inputs.append(payload)
        manifest.labels.append(record["identity"])
        rows.append({str(k): str(v) for k, v in attributes.items()})
        if len(manifest.inputs) > MAX_SAMPLES:
            raise InvalidInputError(f"{path}: more than {MAX_SAMPLES} samples")
    if manifest is None or len(set(manifest.labels)) < 2:
        raise InvalidInputError(f"{path}: needs samples of at least two identities", remedy=_REMEDY)
    names = sorted({name for row in rows for name in row})
    manifest.attributes = {name: [row.get(name) for row in rows] for name in names}
    return manifest
