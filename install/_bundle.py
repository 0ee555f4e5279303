"""What `build-bundle` and `install` share: the bundle's layout, hashes and signature.

Standard library only (the installer runs on the air-gapped host's own Python before
anything is installed); `cryptography` is used for Ed25519 when importable, else the
host's `openssl` (3.0 or later) verifies the signature.

A bundle is one uncompressed tarball ``appliance-bundle-<version>.tar`` holding one
folder ``appliance-bundle-<version>/`` with ``BUNDLE.json`` (format, version, what the
wheelhouse holds, and the SHA-256 of every other file in the folder), beside it
``<tarball>.sha256`` (``sha256sum`` format) and, when signed, ``<tarball>.sig``: a
detached Ed25519 signature over the exact bytes of the ``.sha256`` file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

BUNDLE_FORMAT = "appliance-bundle/1"
MANIFEST = "BUNDLE.json"
SUMS = "SHA256SUMS"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class BundleError(Exception):
    """A refusal with a remedy; the scripts print both and exit non-zero."""

    def __init__(self, message: str, remedy: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_hashes(root: Path) -> dict[str, str]:
    """``relative/posix/path -> sha256`` of every regular file under ``root``, sorted."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            raise BundleError(f"{path}: symbolic links are not bundled", "copy the file instead")
        if path.is_file():
            out[path.relative_to(root).as_posix()] = sha256_file(path)
    return out


def write_sums(directory: Path) -> Path:
    """Write ``SHA256SUMS`` (sha256sum format) for every file in ``directory``."""
    hashes = {k: v for k, v in tree_hashes(directory).items() if k != SUMS}
    sums = directory / SUMS
    sums.write_text("".join(f"{h}  {p}\n" for p, h in hashes.items()), encoding="utf-8")
    return sums


def check_sums(directory: Path) -> str:
    """Check a model directory against its ``SHA256SUMS``; returns the digest of that file."""
    sums = directory / SUMS
    if not sums.is_file():
        raise BundleError(f"{directory}: no {SUMS}", "rebuild the bundle with build-bundle")
    listed: dict[str, str] = {}
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, rel = line.partition("  ")
        listed[rel] = digest
    actual = {k: v for k, v in tree_hashes(directory).items() if k != SUMS}
    if listed != actual:
        changed = sorted(
            set(listed) ^ set(actual) | {k for k in listed if listed[k] != actual.get(k)}
        )
        raise BundleError(
            f"{directory}: files differ from {SUMS}: {', '.join(changed[:5])}",
            "the bundle was altered after it was built; fetch it again from the staging machine",
        )
    return sha256_file(sums)


def write_checksum(tarball: Path) -> Path:
    """``<tarball>.sha256`` in sha256sum format (``sha256sum -c`` checks it too)."""
    out = tarball.with_name(tarball.name + ".sha256")
    out.write_text(f"{sha256_file(tarball)}  {tarball.name}\n", encoding="utf-8")
    return out


def read_checksum(sha_file: Path, tarball: Path) -> str:
    """The expected digest from a ``.sha256`` file naming ``tarball``."""
    try:
        digest, _, name = sha_file.read_text(encoding="utf-8").strip().partition("  ")
    except OSError as exc:
        raise BundleError(
            f"cannot read the checksum file {sha_file}: {exc.strerror}",
            f"copy {tarball.name}.sha256 from the staging machine next to the bundle",
        ) from exc
    if len(digest) != 64 or name.lstrip("*") != tarball.name:
        raise BundleError(f"{sha_file} is not a checksum of {tarball.name}")
    return digest


def sign(data: bytes, private_key_pem: Path) -> bytes:
    """Ed25519 signature of ``data`` with a PEM (PKCS#8) private key (needs cryptography)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(private_key_pem.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(f"{private_key_pem} is not an Ed25519 private key")
    return key.sign(data)


def generate_key(private_path: Path) -> Path:
    """A new Ed25519 key pair: ``private_path`` (0600) and ``<private_path>.pub`` (PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public = private_path.with_name(private_path.name + ".pub")
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return public


def verify_signature(data: bytes, signature: bytes, public_key_pem: Path) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``data`` under the key."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import load_pem_public_key
    except ImportError:
        return _verify_with_openssl(data, signature, public_key_pem)
    key = load_pem_public_key(public_key_pem.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(f"{public_key_pem} is not an Ed25519 public key")
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def _verify_with_openssl(data: bytes, signature: bytes, public_key_pem: Path) -> bool:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise BundleError(
            "neither python3-cryptography nor openssl is available to check the signature",
            "install either on the host (both are in the distribution's media)",
        )
    with tempfile.TemporaryDirectory() as tmp:
        message, sig = Path(tmp) / "message", Path(tmp) / "sig"
        message.write_bytes(data)
        sig.write_bytes(signature)
        result = subprocess.run(
            [
                openssl,
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                str(public_key_pem),
                "-rawin",
                "-in",
                str(message),
                "-sigfile",
                str(sig),
            ],
            capture_output=True,
            check=False,
        )
    return result.returncode == 0


def deterministic_tar(source: Path, tarball: Path) -> None:
    """Tar ``source`` (as its own top folder) with sorted names, owner 0, fixed mtimes."""

    def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = 0
        info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
        return info

    with tarfile.open(tarball, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(source, arcname=source.name, recursive=False, filter=normalise)
        for path in sorted(source.rglob("*")):
            tar.add(
                path,
                arcname=f"{source.name}/{path.relative_to(source).as_posix()}",
                recursive=False,
                filter=normalise,
            )


def extract(tarball: Path, into: Path) -> Path:
    """Extract a bundle safely (no links, no paths outside, no devices); its top folder."""
    with tarfile.open(tarball, "r:") as tar:
        members = tar.getmembers()
        tops = {m.name.split("/", 1)[0] for m in members}
        if len(tops) != 1:
            raise BundleError(f"{tarball} is not an appliance bundle (several top folders)")
        for member in members:
            if (
                not (member.isfile() or member.isdir())
                or member.name.startswith("/")
                or ".." in Path(member.name).parts
            ):
                raise BundleError(f"{tarball}: refused member {member.name!r}")
        tar.extractall(into, filter="data")
    root = into / tops.pop()
    manifest = read_manifest(root)
    actual = {k: v for k, v in tree_hashes(root).items() if k != MANIFEST}
    if actual != manifest["files"]:
        raise BundleError(
            f"{tarball}: the files inside do not match {MANIFEST}",
            "the bundle was altered after it was built; fetch it again from the staging machine",
        )
    return root


def read_manifest(root: Path) -> dict[str, Any]:
    """``BUNDLE.json`` of an extracted bundle, checked for its format."""
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{root}: no readable {MANIFEST} ({exc})") from exc
    if data.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            f"{root}: {MANIFEST} format is {data.get('format')!r}, not {BUNDLE_FORMAT}"
        )
    return data
