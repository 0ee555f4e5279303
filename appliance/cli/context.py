"""What every CLI command receives: validated settings and a lazily built appliance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from appliance.settings import Settings

if TYPE_CHECKING:
    from appliance.wiring import Appliance


@dataclass
class CliContext:
    """Settings plus the composition root, built on first use and closed at exit."""

    settings: Settings
    _appliance: Appliance | None = field(default=None, repr=False)

    def appliance(self) -> Appliance:
        """Open the initialised appliance (store, keys, audit trail, indexes)."""
        if self._appliance is None:
            from appliance.wiring import open_appliance

            self._appliance = open_appliance(self.settings)
            click.get_current_context().call_on_close(self._appliance.close)
        return self._appliance


pass_context = click.make_pass_decorator(CliContext)
