"""One frozen settings object, from a TOML file plus ``APPLIANCE_*`` environment variables.

Precedence: defaults < TOML file < environment. Environment names are
``APPLIANCE_<SECTION>__<KEY>`` (``APPLIANCE_INDEX__DTYPE=f16``), plus
``APPLIANCE_DATA_DIR`` for the top-level data directory. Everything is validated
at load; a ``ConfigError`` names the key, where it came from and the reason.

Secrets never come from here: the key encryption key is read from a credential
file (see ``appliance.crypto.kek``).
"""

from __future__ import annotations

import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from appliance.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("/etc/appliance/appliance.toml")
ENV_PREFIX = "APPLIANCE_"
_ENV_NOT_SETTINGS = frozenset({"APPLIANCE_CONFIG"})

IndexDtype = Literal["f32", "f16", "i8"]
LogFormat = Literal["json", "console"]
LogLevel = Literal["debug", "info", "warning", "error"]
DeviceChoice = Literal["auto", "cpu", "cuda"]
PrecisionChoice = Literal["auto", "float32", "float16", "bfloat16"]
TextOverflow = Literal["truncate", "refuse"]
TextRuntime = Literal["auto", "torch", "onnx"]
RotationChoice = Literal["auto", "yes", "no"]


def _positive(value: int | float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _not_negative(value: int | float) -> str | None:
    return None if value >= 0 else "must be 0 or greater"


def _port(value: int) -> str | None:
    return None if 0 < value < 65536 else "must be between 1 and 65535"


def _check(check: typing.Callable[[Any], str | None]) -> dict[str, Any]:
    return {"check": check}


@dataclass(frozen=True)
class DatabaseSettings:
    """Where the store lives. Empty ``url`` means SQLite under the data dir;
    ``postgresql+psycopg://USER@HOST/DB`` is one store shared by several nodes (the audit
    trail then lives in it too: see docs/scaling.md). ``busy_timeout_ms``: SQLite only."""

    url: str = ""
    busy_timeout_ms: int = field(default=10_000, metadata=_check(_positive))


@dataclass(frozen=True)
class IndexSettings:
    """HNSW parameters of every per-collection index and its encrypted snapshots."""

    dtype: IndexDtype = "f32"
    connectivity: int = field(default=32, metadata=_check(_positive))
    expansion_add: int = field(default=128, metadata=_check(_positive))
    expansion_search: int = field(default=64, metadata=_check(_positive))
    snapshot_chunk_bytes: int = field(default=1024 * 1024, metadata=_check(_positive))
    # collections this small (or searches with k >= a quarter of the collection) are exact
    exact_search_max: int = field(default=4096, metadata=_check(_not_negative))
    # usearch insertion threads: >1 builds faster but strands nodes (USearch#735)
    build_threads: int = field(default=1, metadata=_check(_positive))
    # the server snapshots changed indexes this often and after this many writes (0: never)
    snapshot_every_seconds: float = field(default=300.0, metadata=_check(_not_negative))
    snapshot_every_writes: int = field(default=1000, metadata=_check(_not_negative))


def _absolute_or_empty(value: str) -> str | None:
    return None if not value or Path(value).is_absolute() else "must be an absolute path"


@dataclass(frozen=True)
class AuditSettings:
    """How often the audit chain head is signed, and where checkpoints are witnessed."""

    checkpoint_every: int = field(default=64, metadata=_check(_positive))
    witness_path: str = field(default="", metadata=_check(_absolute_or_empty))
    """A file, or a directory, outside the data dir that receives a copy of every signed
    checkpoint (empty: none, the development default; set it in production)."""


@dataclass(frozen=True)
class EncoderSettings:
    """Encoders and their serving engine: device, precision, input limits, batching."""

    device: DeviceChoice = "auto"
    precision: PrecisionChoice = "auto"
    text_overflow: TextOverflow = "truncate"
    max_image_pixels: int = field(default=40_000_000, metadata=_check(_positive))
    max_image_bytes: int = field(default=50 * 1024 * 1024, metadata=_check(_positive))
    max_audio_seconds: float = field(default=600.0, metadata=_check(_positive))
    max_audio_bytes: int = field(default=100 * 1024 * 1024, metadata=_check(_positive))
    max_audio_channels: int = field(default=8, metadata=_check(_positive))
    max_audio_samples: int = field(default=28_800_000, metadata=_check(_positive))
    """Decoded frames per clip (600 s at 48 kHz), checked from the header before decoding."""
    max_batch_size: int = field(default=32, metadata=_check(_positive))
    max_wait_ms: float = field(default=5.0, metadata=_check(_positive))
    queue_size: int = field(default=256, metadata=_check(_positive))
    warmup: bool = True
    text_runtime: TextRuntime = "auto"
    """BERT-style text towers: ``onnx`` (ONNX Runtime, graph exported locally at first use),
    ``torch``, or ``auto`` (ONNX Runtime on the CPU, torch on a GPU)."""
    torch_threads: int = field(default=0, metadata=_check(_not_negative))
    """Intra-op threads of the forward pass (torch and ONNX Runtime); 0: one per core."""
    sort_by_length: bool = True
    """Text batches: sorted by token count and run in groups of similar length (less padding)."""
    screening_cache_items: int = field(default=4096, metadata=_check(_not_negative))
    """Detection results remembered per input (keyed hash, no plaintext); 0 turns it off."""


@dataclass(frozen=True)
class LimitSettings:
    """Per-request bounds checked before any detector or encoder sees the input."""

    max_text_chars: int = field(default=100_000, metadata=_check(_positive))
    """Characters in one text input (item, query or embeddings input)."""
    max_request_text_chars: int = field(default=512_000, metadata=_check(_positive))
    """Characters of text summed over one request."""
    max_json_depth: int = field(default=32, metadata=_check(_positive))
    """Nesting of arrays and objects in a JSON body (metadata and filters included)."""
    request_deadline_s: float = field(default=60.0, metadata=_check(_positive))
    """Wall-clock budget of one API request, engine waits included (then 504)."""


@dataclass(frozen=True)
class LoggingSettings:
    """Structured log output."""

    level: LogLevel = "info"
    format: LogFormat = "json"


@dataclass(frozen=True)
class ServerSettings:
    """The intranet API listener; TLS when a certificate is set, mTLS when a client CA is."""

    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata=_check(_port))
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""
    """Clients must present a certificate signed by this CA (mutual TLS)."""

    def __post_init__(self) -> None:
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ConfigError(
                "server.tls_cert_file and server.tls_key_file must be set together",
                remedy="set both paths, or neither to serve plain HTTP on loopback",
            )
        if self.tls_client_ca_file and not self.tls_cert_file:
            raise ConfigError(
                "server.tls_client_ca_file needs server.tls_cert_file and tls_key_file",
                remedy="mutual TLS needs the server's own certificate too",
            )
        for name in ("tls_cert_file", "tls_key_file", "tls_client_ca_file"):
            value = getattr(self, name)
            if value and not Path(value).is_file():
                raise ConfigError(f"server.{name}: {value} is not a readable file")


@dataclass(frozen=True)
class ApiSettings:
    """Request rate per token, and the lockout of client addresses that keep failing to
    authenticate (a valid token is never locked out; only further failures are refused)."""

    requests_per_minute_per_token: int = field(default=3000, metadata=_check(_positive))
    request_burst_per_token: int = field(default=200, metadata=_check(_positive))
    auth_failures_per_minute: int = field(default=20, metadata=_check(_positive))
    lockout_seconds: float = field(default=60.0, metadata=_check(_positive))


def _non_negative(value: int | float) -> str | None:
    return None if value >= 0 else "must be 0 or greater"


@dataclass(frozen=True)
class KeySettings:
    """Where the KEK file lives and when erasure reaches backups (KEK shred)."""

    kek_file: str = ""
    """Path of the KEK ring file outside the data dir (e.g. /etc/appliance/keys/kek, 0600).
    Empty: the systemd credential ``appliance-kek``, else ``<data-dir>/keys/kek`` (a
    development default: every copy of the data dir then carries the KEK)."""
    shred_after_erasure_hours: float = field(default=24.0, metadata=_check(_non_negative))
    """After an erasure, rotate the KEK and retire the old version within this many hours,
    so backups taken before the erasure stop opening (0: at the next check)."""
    check_interval_seconds: float = field(default=5.0, metadata=_check(_positive))
    """How often the server looks for erasures made by other processes and due shreds."""
    rotate_on_this_node: RotationChoice = "auto"
    """Whether this node's shred timer rotates the KEK: "auto" is yes on SQLite and no on a
    shared PostgreSQL store, where exactly one designated node sets "yes" (docs/scaling.md)."""


@dataclass(frozen=True)
class DriftSettings:
    """Drift monitoring of the served space against its `align audit` baseline."""

    enabled: bool = True
    threshold: float = field(default=0.25, metadata=_check(_positive))
    """A modality drifts when its largest score (mean shift, nearest-neighbour similarity
    shift, probe recall@1 drop) exceeds this: logged, audited, shown in /readyz."""
    window: int = field(default=256, metadata=_check(_positive))
    """Vectors per modality kept in memory (never stored) for the running statistics."""
    min_samples: int = field(default=32, metadata=_check(_positive))
    """No score before a modality has embedded this many inputs."""
    fail_readiness: bool = False
    """True: /readyz answers 503 while any modality drifts (default: a detail only)."""


def _default_data_dir() -> Path:
    state = os.environ.get("STATE_DIRECTORY")  # systemd StateDirectory=
    if state:
        return Path(state.split(":")[0])
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "appliance"


@dataclass(frozen=True)
class Settings:
    """The whole, validated configuration of one appliance process."""

    data_dir: Path = field(default_factory=_default_data_dir)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    encoders: EncoderSettings = field(default_factory=EncoderSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    keys: KeySettings = field(default_factory=KeySettings)
    drift: DriftSettings = field(default_factory=DriftSettings)

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the store."""
        return self.database.url or f"sqlite:///{self.data_dir / 'appliance.db'}"

    @property
    def models_dir(self) -> Path:
        """The local model store."""
        return self.data_dir / "models"

    def with_data_dir(self, data_dir: Path) -> Settings:
        """A copy pointing at another data directory."""
        return replace(self, data_dir=data_dir)


def load_settings(
    config_file: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    data_dir: Path | None = None,
) -> Settings:
    """Load settings from ``config_file`` (or the default path if it exists) and the environment.

    An explicitly named file that does not exist is an error; the default path is optional.
    ``data_dir`` (the ``--data-dir`` option) wins over everything else.
    """
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    source = "defaults"
    explicit = config_file or (
        Path(env["APPLIANCE_CONFIG"]) if env.get("APPLIANCE_CONFIG") else None
    )
    path = explicit or DEFAULT_CONFIG_FILE
    if explicit is not None and not path.is_file():
        raise ConfigError(
            f"config file {path} does not exist",
            remedy="pass an existing TOML file to --config, or leave it out to use defaults",
        )
    if path.is_file():
        source = str(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{path}: not valid TOML: {exc}", remedy="fix the file's syntax"
            ) from exc
    settings = _build(Settings, raw, source, prefix="")
    overrides = _environment_overrides(env)
    if overrides:
        merged = _merge(_as_dict(settings), overrides)
        settings = _build(Settings, merged, "environment", prefix="")
    if data_dir is not None:
        settings = settings.with_data_dir(Path(data_dir))
    return settings


def _environment_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    sections = {f.name for f in fields(Settings) if _is_section(f.type)}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in _ENV_NOT_SETTINGS:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if "__" in key:
            section, _, leaf = key.partition("__")
            if section not in sections:
                raise ConfigError(
                    f"environment variable {name}: unknown section {section!r}",
                    remedy=f"use one of {', '.join(sorted(sections))}",
                )
            overrides.setdefault(section, {})[leaf] = value
        else:
            overrides[key] = value
    return overrides


def _is_section(annotation: Any) -> bool:
    resolved = _resolve(annotation)
    return isinstance(resolved, type) and hasattr(resolved, "__dataclass_fields__")


_TYPES: dict[str, Any] = {
    "Path": Path,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "IndexDtype": IndexDtype,
    "LogFormat": LogFormat,
    "LogLevel": LogLevel,
    "DeviceChoice": DeviceChoice,
    "PrecisionChoice": PrecisionChoice,
    "TextOverflow": TextOverflow,
    "TextRuntime": TextRuntime,
    "RotationChoice": RotationChoice,
    "EncoderSettings": EncoderSettings,
    "LimitSettings": LimitSettings,
    "DatabaseSettings": DatabaseSettings,
    "IndexSettings": IndexSettings,
    "AuditSettings": AuditSettings,
    "LoggingSettings": LoggingSettings,
    "ServerSettings": ServerSettings,
    "ApiSettings": ApiSettings,
    "KeySettings": KeySettings,
    "DriftSettings": DriftSettings,
}


def _resolve(annotation: Any) -> Any:
    return _TYPES.get(annotation, annotation) if isinstance(annotation, str) else annotation


def _build(cls: type, raw: Mapping[str, Any], source: str, prefix: str) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'top level'}: must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(
            f"{source}: unknown setting {prefix}{unknown[0]}",
            remedy=f"known keys here: {', '.join(sorted(known))}",
        )
    values: dict[str, Any] = {}
    for name, spec in known.items():
        key = f"{prefix}{name}"
        annotation = _resolve(spec.type)
        if name not in raw:
            if _is_section(annotation):
                values[name] = annotation()
            continue
        value = raw[name]
        if _is_section(annotation):
            values[name] = _build(annotation, value, source, prefix=f"{key}.")
            continue
        converted = _convert(value, annotation, source, key)
        check = spec.metadata.get("check")
        problem = check(converted) if check else None
        if problem:
            raise ConfigError(f"{source}: {key}: {problem} (got {value!r})")
        values[name] = converted
    missing = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    for name in missing:
        if name not in values:
            raise ConfigError(f"{source}: {prefix}{name} is required")
    return cls(**values)


def _convert(value: Any, annotation: Any, source: str, key: str) -> Any:
    origin = get_origin(annotation)
    if origin is Literal:
        choices = get_args(annotation)
        text = str(value).lower() if isinstance(value, str) else value
        if text not in choices:
            raise ConfigError(
                f"{source}: {key}: must be one of {', '.join(map(str, choices))} (got {value!r})"
            )
        return text
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"{source}: {key}: unsupported setting type")
    try:
        if annotation is bool:
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if annotation is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if annotation is float:
            return float(value)
        if annotation is Path:
            if not isinstance(value, str | Path) or not str(value):
                raise ValueError(value)
            return Path(value).expanduser()
        if annotation is str:
            if not isinstance(value, str):
                raise ValueError(value)
            return value
    except (TypeError, ValueError) as exc:
        kind = getattr(annotation, "__name__", str(annotation))
        raise ConfigError(f"{source}: {key}: expected {kind} (got {value!r})") from exc
    raise ConfigError(f"{source}: {key}: unsupported setting type {annotation!r}")


def _as_dict(settings: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec in fields(settings):
        value = getattr(settings, spec.name)
        out[spec.name] = _as_dict(value) if hasattr(value, "__dataclass_fields__") else value
    return out


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
