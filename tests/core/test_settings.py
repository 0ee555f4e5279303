"""Settings: TOML plus environment, validated with errors naming key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.errors import ConfigError
from appliance.settings import load_settings


def test_defaults_without_file_or_environment(tmp_path: Path) -> None:
    """With nothing configured, defaults apply and SQLite lives under the data dir."""
    settings = load_settings(data_dir=tmp_path, environ={})
    assert settings.index.dtype == "f32"
    assert settings.database_url == f"sqlite:///{tmp_path / 'appliance.db'}"


def test_toml_then_environment_precedence(tmp_path: Path) -> None:
    """Environment variables override the TOML file, which overrides defaults."""
    config = tmp_path / "appliance.toml"
    config.write_text('[index]\ndtype = "f16"\nconnectivity = 32\n[server]\nport = 9000\n')
    settings = load_settings(config, environ={"APPLIANCE_INDEX__DTYPE": "i8"})
    assert settings.index.dtype == "i8"
    assert settings.index.connectivity == 32
    assert settings.server.port == 9000


def test_settings_are_frozen(tmp_path: Path) -> None:
    """The settings object cannot be changed after load."""
    settings = load_settings(data_dir=tmp_path, environ={})
    with pytest.raises(AttributeError):
        settings.index.dtype = "f16"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ('[index]\ndtype = "f64"\n', "index.dtype: must be one of f32, f16, i8"),
        ("[server]\nport = 70000\n", "server.port: must be between 1 and 65535"),
        ("[index]\nbogus = 1\n", "unknown setting index.bogus"),
        ("[nosuch]\nx = 1\n", "unknown setting nosuch"),
        ('[audit]\ncheckpoint_every = "many"\n', "audit.checkpoint_every: expected int"),
        ("[index\n", "not valid TOML"),
    ],
)
def test_invalid_file_names_key_and_reason(tmp_path: Path, toml: str, fragment: str) -> None:
    """Each invalid TOML setting stops the load with the file, key and reason."""
    config = tmp_path / "appliance.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert fragment in str(caught.value)
    assert str(config) in str(caught.value)


def test_invalid_environment_value_is_reported_as_environment() -> None:
    """A bad APPLIANCE_* value names the environment as its source."""
    with pytest.raises(ConfigError, match=r"environment: encoders.max_batch_size"):
        load_settings(environ={"APPLIANCE_ENCODERS__MAX_BATCH_SIZE": "-3"})


def test_unknown_environment_section_is_refused() -> None:
    """A typo in an APPLIANCE_ section name is an error, not silently ignored."""
    with pytest.raises(ConfigError, match="unknown section 'indx'"):
        load_settings(environ={"APPLIANCE_INDX__DTYPE": "f16"})


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    """--config pointing nowhere fails instead of falling back to defaults."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_data_dir_option_wins(tmp_path: Path) -> None:
    """--data-dir overrides APPLIANCE_DATA_DIR."""
    settings = load_settings(data_dir=tmp_path / "a", environ={"APPLIANCE_DATA_DIR": "/elsewhere"})
    assert settings.data_dir == tmp_path / "a"
