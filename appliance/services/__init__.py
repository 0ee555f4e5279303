"""Use cases: each service takes its adapters in its constructor (injected, never imported)."""
