"""Screening: detect, decide and admit one input, whatever the flow (ingest, embeddings,
search queries, dry runs).

An item's metadata and client id are screened with its content (``appliance.services
.fields``): one decision covers all three, and its obligations apply to all three.
Defences are applied here too, with noise keyed on the input (see ``defences``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.clock import Clock
from appliance.domain.findings import Finding
from appliance.domain.types import Modality
from appliance.errors import InvalidInputError
from appliance.policy.classify import Classification, classify
from appliance.policy.decisions import ConsentState, RequestContext
from appliance.policy.engine import PolicyEngine
from appliance.services.admission import Admission, admit
from appliance.services.consent import ConsentService
from appliance.services.defences import apply_defences, input_rng
from appliance.services.fields import FieldAdmission, TextDetector, admit_fields, screen_fields
from appliance.services.screening_cache import CacheStats, DetectionCache
from appliance.settings import EncoderSettings

if TYPE_CHECKING:
    from appliance.detectors.registry import DetectorRegistry


@dataclass(frozen=True)
class Screened:
    """An input after detection, decision and admission (content, metadata and id)."""

    classification: Classification
    admission: Admission
    fields: FieldAdmission = field(default_factory=lambda: FieldAdmission({}))


class Screening:
    """Detect and decide on one input under a context and the subject's consents."""

    def __init__(
        self,
        *,
        policy: PolicyEngine,
        consent: ConsentService,
        encoder_settings: EncoderSettings,
        clock: Clock,
        dicom_uid_key: bytes | None = None,
        noise_key: bytes | None = None,
        detect_text: TextDetector | None = None,
        detectors: DetectorRegistry | None = None,
        cache_items: int | None = None,
    ) -> None:
        """``noise_key`` keys the defence noise (the composition root derives it from the
        KEK-protected keys; without one a per-process random key is used, so the noise
        is fixed per input only until a restart). ``detectors``: the registry the
        composition root built (default: the process's). ``cache_items`` (default
        ``encoders.screening_cache_items``; 0: off) bounds the detection cache
        (``screening_cache``: keyed hashes, no plaintext, emptied on a policy change)."""
        self.policy = policy
        self._dicom_uid_key = dicom_uid_key
        self._noise_key = noise_key or os.urandom(32)
        self._consent = consent
        self._settings = encoder_settings
        self._clock = clock
        self._detectors = detectors
        self._detect_text = detect_text or self._default_text_detector
        items = encoder_settings.screening_cache_items if cache_items is None else cache_items
        self._cache = DetectionCache(items) if items > 0 else None

    def _default_text_detector(self, text: str) -> Sequence[Finding]:
        from appliance.detectors import detect

        found = detect(Modality.TEXT, text, settings=self._settings, registry=self._detectors)
        return tuple(found.findings)

    def screen(
        self,
        modality: Modality,
        payload: bytes | str,
        context: RequestContext,
        consents: ConsentState | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
        item_id: str | None = None,
    ) -> Screened:
        """Classify (nothing stored) and work out what may be embedded and kept. With
        ``metadata`` or ``item_id``, their findings join the content's in the decision."""
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        now = self._clock.now()
        context = replace(context, modality=modality)
        found = self._classify(data, modality, context, consents, now)
        if found.modality is not modality:
            raise InvalidInputError(f"the bytes are not {modality.value}")
        fields = screen_fields(metadata, item_id, self._detect_text)
        if fields.findings:
            decision = self.policy.decide(
                (*found.findings, *fields.findings), context, consents, now
            )
            found = replace(found, decision=decision)
        assert found.decision is not None
        admission = admit(
            found.decision, modality, payload, found.findings, dicom_uid_key=self._dicom_uid_key
        )
        kept = admit_fields(found.decision, metadata, fields)
        if admission.allowed and kept.notes:
            admission.notes.update(kept.notes)
        return Screened(found, admission, kept)

    def _classify(
        self,
        data: bytes,
        modality: Modality,
        context: RequestContext,
        consents: ConsentState | None,
        now: datetime,
    ) -> Classification:
        """``classify``, with the detection remembered per input (the decision never is)."""
        cache = self._cache
        if cache is None:
            return self._classify_now(data, modality, context, consents, now)
        policy = self.policy
        key = cache.key_of(modality, data)
        remembered = cache.get(key, policy.policy_hash)
        if remembered is None:
            found = self._classify_now(data, modality, context, consents, now)
            cache.put(key, found, policy.policy_hash)
            return found
        decision = policy.decide(remembered.findings, context, consents, now)
        return replace(remembered, decision=decision)

    def _classify_now(
        self,
        data: bytes,
        modality: Modality,
        context: RequestContext,
        consents: ConsentState | None,
        now: datetime,
    ) -> Classification:
        return classify(
            data,
            engine=self.policy,
            context=context,
            encoder_settings=self._settings,
            modality=modality,
            consents=consents,
            now=now,
            detectors=self._detectors,
        )

    def cache_stats(self) -> CacheStats | None:
        """The detection cache's counters (None when it is off)."""
        return None if self._cache is None else self._cache.stats()

    def pseudonym(self, subject_id: str) -> str:
        """The keyed pseudonym of a raw subject id (what audit entries carry)."""
        return self._consent.pseudonym(subject_id)

    def consents_for(self, subject_id: str, purpose: str) -> ConsentState:
        """The subject's consents for a purpose."""
        return self._consent.state_for(
            self._consent.pseudonym(subject_id), purpose, self._clock.now()
        )

    def defend(self, vector: np.ndarray, screened: Screened, *, space: str) -> np.ndarray:
        """``vector`` (one row) with the defences the decision requires, their noise fixed
        by a keyed hash of this input and ``space``; unchanged when none is required."""
        defences = list(screened.admission.defences)
        if not defences:
            return vector
        payload = screened.admission.payload
        assert payload is not None
        rng = input_rng(self._noise_key, space, screened.classification.modality.value, payload)
        return apply_defences(np.asarray(vector, dtype=np.float32), defences, rng)
