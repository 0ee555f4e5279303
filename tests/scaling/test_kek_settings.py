"""``keys.rotate_on_this_node``: "auto" rotates on SQLite only; "yes"/"no" are explicit."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.errors import ConfigError
from appliance.services.keys import rotates_here
from appliance.settings import load_settings


@pytest.mark.parametrize(
    ("choice", "shared", "expected"),
    [
        ("auto", False, True),
        ("auto", True, False),
        ("yes", True, True),
        ("no", False, False),
    ],
)
def test_auto_rotates_on_sqlite_only(choice: str, shared: bool, expected: bool) -> None:
    """The default rotates on the embedded store and never on a shared one."""
    assert rotates_here(choice, shared_store=shared) is expected


def test_the_setting_is_read_from_the_environment_and_validated(tmp_path: Path) -> None:
    """The default is "auto"; "yes" is read from the environment; anything else is refused."""
    assert load_settings(data_dir=tmp_path, environ={}).keys.rotate_on_this_node == "auto"
    environ = {"APPLIANCE_KEYS__ROTATE_ON_THIS_NODE": "YES"}
    assert load_settings(data_dir=tmp_path, environ=environ).keys.rotate_on_this_node == "yes"
    with pytest.raises(ConfigError, match="rotate_on_this_node"):
        load_settings(data_dir=tmp_path, environ={"APPLIANCE_KEYS__ROTATE_ON_THIS_NODE": "maybe"})
