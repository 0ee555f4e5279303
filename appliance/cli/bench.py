"""``bench``: figures an operator can rerun (index, encoders, api, peer, profile, phi, retrieval,
align)."""

from __future__ import annotations

import click


@click.group()
def bench() -> None:
    """Latency, throughput and recall benchmarks."""


def _register() -> None:
    from appliance.bench.align import align_command
    from appliance.bench.api import api_command
    from appliance.bench.encoders import encoders_command
    from appliance.bench.gpu import gpu_command
    from appliance.bench.index import index_command
    from appliance.bench.peer import peer_command
    from appliance.bench.phi import phi_command
    from appliance.bench.profile import profile_command
    from appliance.bench.retrieval import retrieval_command
    from appliance.bench.risk_attacks import risk_command
    from appliance.bench.runtimes import runtimes_command
    from appliance.bench.speedups import speedups_command

    bench.add_command(index_command)
    bench.add_command(encoders_command)
    bench.add_command(api_command)
    bench.add_command(peer_command)
    bench.add_command(profile_command)
    bench.add_command(phi_command)
    bench.add_command(retrieval_command)
    bench.add_command(align_command)
    bench.add_command(risk_command)
    bench.add_command(speedups_command)
    bench.add_command(gpu_command)
    bench.add_command(runtimes_command)


_register()
