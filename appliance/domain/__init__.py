"""Domain types and protocols: no I/O, no third-party frameworks."""
