"""Benchmarks an operator can rerun (``appliance bench ...``): latency, throughput, recall."""
