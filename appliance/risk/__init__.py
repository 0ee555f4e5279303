"""Risk audit: attacks on embeddings (linkage, probes, averaging) and defences swept over
their levels, each priced in retrieval utility. Pure functions over numpy arrays; the CLI
(``appliance risk audit``) feeds them the auditor's probe set embedded by the active space."""
