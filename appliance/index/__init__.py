"""Per-collection vector indexes (usearch HNSW, cosine) and their encrypted snapshots."""

from appliance.index.hnsw import IndexSpec, VectorIndex
from appliance.index.snapshot import SnapshotInfo, load_snapshot, save_snapshot

__all__ = ["IndexSpec", "SnapshotInfo", "VectorIndex", "load_snapshot", "save_snapshot"]
