"""The detect() entry point: one shared, thread-safe set of detectors; clear input errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from appliance.detectors import DetectionReport, DetectorRegistry, detect, get_registry
from appliance.domain.findings import FindingKind
from appliance.domain.types import Modality
from appliance.errors import InvalidInputError
from appliance.settings import EncoderSettings


def test_concurrent_detect_shares_one_engine(
    registry: DetectorRegistry, encoder_settings: EncoderSettings
) -> None:
    """Eight threads analysing at once get identical results from one loaded engine."""
    note = "Dr. Amara Okafor called Mr. Wei Chen at (312) 555-0148 on 03/14/2021."
    engine = registry.text()

    def run(_: int) -> DetectionReport:
        return detect("text", note, settings=encoder_settings, registry=registry)

    with ThreadPoolExecutor(max_workers=8) as pool:
        reports = list(pool.map(run, range(16)))
    assert registry.text() is engine
    assert all(r.findings == reports[0].findings for r in reports)
    assert {FindingKind.PERSON_NAME, FindingKind.PHONE_NUMBER, FindingKind.DATE} <= reports[0].kinds


def test_lazy_registry_builds_each_detector_once() -> None:
    """A fresh registry builds a detector on first use only, and keeps it."""
    fresh = DetectorRegistry()
    first = fresh.faces()
    assert fresh.faces() is first and fresh.speech() is fresh.speech()
    assert isinstance(get_registry(), DetectorRegistry) and get_registry() is get_registry()


def test_report_summary_counts_kinds(
    registry: DetectorRegistry, encoder_settings: EncoderSettings
) -> None:
    """summary() is JSON-ready: modality, facts and a count per finding kind, no content."""
    report = detect(
        Modality.TEXT,
        "SSN 123-45-6789 and SSN 234-56-7890.",
        settings=encoder_settings,
        registry=registry,
    )
    assert report.count(FindingKind.SSN) == 2
    summary = report.summary()
    assert summary["modality"] == "text" and summary["findings"] == {"ssn": 2}
    assert "123-45-6789" not in str(summary)


@pytest.mark.parametrize(
    ("modality", "data", "message"),
    [
        ("video", "x", "unknown modality"),
        ("audio", "some text", "must be bytes"),
        ("audio", b"", "empty"),
        ("audio", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "PNG"),
        ("text", 42, "must be a string"),
    ],
)
def test_bad_input_names_the_problem(
    registry: DetectorRegistry,
    encoder_settings: EncoderSettings,
    modality: str,
    data: object,
    message: str,
) -> None:
    """Wrong modality, type, empty bytes or a mismatched format raise InvalidInputError."""
    with pytest.raises(InvalidInputError, match=message):
        detect(modality, data, settings=encoder_settings, registry=registry)  # type: ignore[arg-type]
