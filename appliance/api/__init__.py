"""The intranet HTTP API (litestar). The only package that imports litestar; never torch."""
