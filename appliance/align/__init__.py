"""On-premise alignment: train adapters or small towers into the anchor text space (with
optional DP-SGD via opacus), bridge two models through their text towers, audit a space's
cross-modal retrieval and keep its deployment record. Torch is imported here (a trainer)."""
