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
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from appliance.errors import ConfigError
from appliance.settings_loader import as_dict, build, environment_overrides, merge

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
    settings = build(Settings, raw, source)
    overrides = environment_overrides(env, ENV_PREFIX, ignore=_ENV_NOT_SETTINGS, top=Settings)
    if overrides:
        settings = build(Settings, merge(as_dict(settings), overrides), "environment")
    if data_dir is not None:
        settings = settings.with_data_dir(Path(data_dir))
    return settings
