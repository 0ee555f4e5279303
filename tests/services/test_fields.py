"""Metadata and item ids are screened with the content: real text detector, real policies."""

from __future__ import annotations

import pytest

from appliance.domain.types import Modality
from appliance.errors import InvalidInputError
from appliance.policy import PolicyEngine, RequestContext
from appliance.services.fields import MAX_SCREENED_CHARS, screen_fields
from appliance.services.screening import Screening
from appliance.wiring import Appliance
from tests.api.media import tone_wav

RESEARCH = RequestContext("patient", "research")
TREATMENT = RequestContext("patient", "treatment")
CLEAN_NOTE = "Follow-up for chest pain, stable on aspirin."
METADATA = {
    "patient_name": "Jane Doe",
    "dob": "1957-03-14",
    "mrn": 88442211,
    "kind": "note",
    "contacts": [{"phone": "312-555-0188"}],
}


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    """The shipped policies."""
    return PolicyEngine.load()


@pytest.fixture
def screening(appliance: Appliance, engine: PolicyEngine) -> Screening:
    """Screening over the real detectors and policies, with the appliance's consents."""
    return Screening(
        policy=engine,
        consent=appliance.consent,
        encoder_settings=appliance.settings.encoders,
        clock=appliance.clock,
        noise_key=b"k" * 32,
    )


def test_identifiers_in_metadata_alone_bring_de_identification(screening: Screening) -> None:
    """A clean note with a name, date, MRN and phone in its metadata: for research without
    consent every value is redacted (numbers and nested ones too), keys and clean values
    stay, and the content is embedded as sent."""
    screened = screening.screen(Modality.TEXT, CLEAN_NOTE, RESEARCH, metadata=METADATA)
    decision = screened.classification.decision
    assert decision is not None and screened.admission.allowed
    assert "hipaa.names" in decision.categories
    assert "deidentify:safe_harbor" in decision.obligation_labels
    assert screened.admission.payload == CLEAN_NOTE
    kept = screened.fields.metadata
    assert kept["kind"] == "note" and set(kept) == set(METADATA)
    flat = repr(kept)
    for identifier in ("Jane", "Doe", "1957", "88442211", "555-0188"):
        assert identifier not in flat, kept
    assert screened.admission.notes["metadata_deidentified"] is True


def test_the_same_metadata_is_kept_as_sent_for_treatment(screening: Screening) -> None:
    """Under treatment the decision keeps PHI (visible to admin and query only)."""
    screened = screening.screen(
        Modality.TEXT, CLEAN_NOTE, TREATMENT, metadata=METADATA, item_id="MRN88442211-note"
    )
    decision = screened.classification.decision
    assert decision is not None and decision.visible_to == ("admin", "query")
    assert screened.fields.metadata == METADATA and screened.fields.reveal_id


def test_an_identifying_id_is_withheld_and_a_clean_one_kept(screening: Screening) -> None:
    """For research without consent an id carrying an MRN is not kept; a plain id is."""
    bad = screening.screen(Modality.TEXT, CLEAN_NOTE, RESEARCH, item_id="MRN88442211-note")
    assert not bad.fields.reveal_id and bad.admission.notes["id_withheld"] is True
    assert "hipaa.medical_record_numbers" in bad.classification.decision.categories  # type: ignore[union-attr]
    good = screening.screen(Modality.TEXT, CLEAN_NOTE, RESEARCH, item_id="note-7")
    assert good.fields.reveal_id and "id_withheld" not in good.admission.notes


def test_identifying_keys_are_redacted_too(screening: Screening) -> None:
    """A name used as a metadata key is replaced like a value."""
    screened = screening.screen(
        Modality.TEXT, CLEAN_NOTE, RESEARCH, metadata={"Jane Doe": "seen", "kind": "note"}
    )
    assert "Jane Doe" not in screened.fields.metadata
    assert screened.fields.metadata["kind"] == "note"


def test_metadata_findings_do_not_refuse_content_that_holds_none(screening: Screening) -> None:
    """An audio clip with no speech and a name in its metadata: the obligation applies to
    the metadata; the clip has nothing to remove, so it is admitted unchanged."""
    clip = tone_wav()
    screened = screening.screen(
        Modality.AUDIO, clip, RESEARCH, metadata={"recorded_by": "Dr. John Smith"}
    )
    assert screened.admission.allowed and screened.admission.payload == clip
    assert "John Smith" not in repr(screened.fields.metadata)


def test_oversized_or_deep_metadata_is_refused() -> None:
    """Metadata past the screening limits is an input error naming the limit, raised
    before any detection runs."""

    def detect(text: str) -> list:
        raise AssertionError("the detector ran on input past the limits")

    with pytest.raises(InvalidInputError, match="characters to screen"):
        screen_fields({"note": "x" * (MAX_SCREENED_CHARS + 1)}, None, detect)
    deep: dict = {}
    cursor = deep
    for _ in range(40):
        cursor["a"] = {}
        cursor = cursor["a"]
    with pytest.raises(InvalidInputError, match="nested deeper"):
        screen_fields(deep, None, detect)
    with pytest.raises(InvalidInputError, match="item id"):
        screen_fields({}, "x" * 200, detect)
