"""Tamper-evident, append-only audit trail (hash chain + RFC 6962 Merkle tree + Ed25519).

Writing: ``AuditTrail(directory, signing_key, clock=..., checkpoint_every=64, witness=None)``
and its ``append``/``append_many``/``checkpoint``/``close``. Checking:
``verify_trail(directory, public_key, checkpoint_every=None, witness=None)``. The witness (a
copy of every checkpoint outside the data dir) lives in ``appliance.audit.witness``.
Handing over: ``export_jsonl`` and ``inclusion_proof_for``. Proof primitives live in
``appliance.audit.merkle``.
"""

from appliance.audit.checkpoint import Checkpoint, key_id
from appliance.audit.entry import FORBIDDEN_KEYS, SYSTEM_ACTOR, ZERO_HASH, AuditEntry
from appliance.audit.export import InclusionProof, export_jsonl, inclusion_proof_for
from appliance.audit.trail import CHECKPOINT_FILE, TORN_TAIL_ACTION, TRAIL_FILE, AuditTrail
from appliance.audit.verify import Problem, VerificationReport, verify_trail

__all__ = [
    "CHECKPOINT_FILE",
    "FORBIDDEN_KEYS",
    "SYSTEM_ACTOR",
    "TORN_TAIL_ACTION",
    "TRAIL_FILE",
    "ZERO_HASH",
    "AuditEntry",
    "AuditTrail",
    "Checkpoint",
    "InclusionProof",
    "Problem",
    "VerificationReport",
    "export_jsonl",
    "inclusion_proof_for",
    "key_id",
    "verify_trail",
]
