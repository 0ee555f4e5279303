"""``bench``: figures an operator can rerun (index, encoders)."""

from __future__ import annotations

import click


@click.group()
def bench() -> None:
    """Latency, throughput and recall benchmarks."""


def _register() -> None:
    from appliance.bench.index import index_command

    bench.add_command(index_command)
    try:
        from appliance.bench.encoders import encoders_command
    except ImportError:  # pragma: no cover - encoders bench not installed yet
        return
    bench.add_command(encoders_command)


_register()
