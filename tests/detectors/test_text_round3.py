"""Third round of issue 10's classes (written with the dev4 tuning notes, not from the
held-out splits): dictionary-word surnames after titles, single and paired first names after
relation words, names in brackets after a role, credentials spelled ``M.D.``, facilities
named by plain words, wards with a floor number, towns after admit verbs, years and
date ranges, pagers, local phones, ages in more phrasings, streets and routes without
context; each in Title case, ALL CAPS and lower case, with the clinical text around them
that must stay text."""

from __future__ import annotations

import pytest

from appliance.detectors import TextDetector
from tests.detectors.case_styles import STYLES, found_in, kinds_over

# (sentence, the identifier it carries, expected kind); sentences in plain case.
CLASSES = [
    ("Pt seen by Dr. Baker this morning, plan unchanged.", "Baker", "person_name"),
    ("Dr Long from GI will scope tomorrow.", "Long", "person_name"),
    ("Plan per Dr. Street, follow up in clinic.", "Street", "person_name"),
    ("Wife Joy in to visit this evening.", "Joy", "person_name"),
    ("Daughter in law Dawn called for an update.", "Dawn", "person_name"),
    ("Sons Kieran and Finbar at the bedside.", "Finbar", "person_name"),
    ("Son Jaxon staying overnight.", "Jaxon", "person_name"),
    ("Grace (daughter) at the bedside all day.", "Grace", "person_name"),
    ("Recs reviewed with nutrition (Deirdre) today.", "Deirdre", "person_name"),
    ("Dictated by: Filbert Bright, M.D.", "Bright", "person_name"),
    ("Diagnosed with Parkinson's, lives with wife Ottilie.", "Ottilie", "person_name"),
    ("D/c to Radius Nursing in the morning.", "Radius Nursing", "address"),
    ("Pcp is at Harbor Health, records requested.", "Harbor Health", "address"),
    ("Rec'd from Bornhoft 5 at 1700 via stretcher.", "Bornhoft 5", "address"),
    ("Pt admitted from Orange via amb.", "Orange", "address"),
    ("Found down at 221 Beacon St, EMS called.", "221 Beacon St", "address"),
    ("Mvc on Route 128 near exit 30.", "Route 128", "address"),
    ("Struck by a car on I-93 southbound.", "I-93", "address"),
    ("Colonoscopy in 2004 negative for polyps.", "2004", "date"),
    ("S/p tah 1985, no other surgery.", "1985", "date"),
    ("Was at Holyoke Medical Center 10/3 - 10/9 for pna.", "10/9", "date"),
    ("Inpatient 3/3/07-3/9/07 for the same.", "3/3/07", "date"),
    ("Call the renal fellow, pgr 2-4417, with questions.", "2-4417", "phone_number"),
    ("Questions to surgery, p#12076 or the operator.", "12076", "phone_number"),
    ("Son's # is 555-3921, call with changes.", "555-3921", "phone_number"),
    ("Hx of cad. 92M admitted w/ uti.", "92", "age_over_89"),
    ("Pt turned 100 last month, family visiting.", "100", "age_over_89"),
    ("Mrn at outside hosp B4471902 per records.", "B4471902", "medical_record_number"),
    ("Sister June called from Hull this morning.", "Hull", "address"),
    ("Son Ezekiel from Shrewsbury here overnight.", "Shrewsbury", "address"),
    ("Admitted on the 15th, intubated the next day.", "15th", "date"),
    ("Pt is ninety-one and lives alone.", "ninety-one", "age_over_89"),
    ("The pt, 95, is hard of hearing.", "95", "age_over_89"),
    ("S/p cabg 2/05 at an outside hospital.", "2/05", "date"),
    ("Family to visit 5/5 in the afternoon.", "5/5", "date"),
    ("Report given to Hope, RN at 0700.", "Hope", "person_name"),
    ("Lives at Briarwood Village with her husband.", "Briarwood Village", "address"),
    ("Follow up at the VA in two weeks.", "VA", "address"),
    ("Report given to Joy at 0700, all questions answered.", "Joy", "person_name"),
    ("Lives on Elm Street with her son.", "Elm Street", "address"),
    ("Son lives in Albany, NY and calls daily.", "Albany", "address"),
    ("Records sent from Nashua NH overnight.", "Nashua", "address"),
    ("Pt is a resident of Tyngsborough, lives alone.", "Tyngsborough", "address"),
    ("Brought in by Dracut Police after a fall.", "Dracut Police", "address"),
    ("Retired teacher at Malden High School.", "Malden High School", "address"),
    ("Lives at the Colonial Inn in Concord.", "Concord", "address"),
    ("Labs drawn 4/2 and 4/5, cultures pending.", "4/5", "date"),
    ("Family celebrated X-mas at the bedside.", "X-mas", "date"),
]
# Clinical text that must not be flagged, in every case style.
CLINICAL = [
    "Per dr order, hold lasix. Dr aware of low uop. Dr notified x2.",
    "Ms intact, mr moderate on echo, ms 2mg iv given.",
    "I/o in 2000 out 1500, npo since 2400, sleeping since 2000.",
    "Weaned ps 10/5 - 8/5 overnight, peep 5/05.",
    "Plan d/c to cardiac rehab, then to skilled nursing facility.",
    "Hx of Parkinson's and Alzheimer's, Bell's palsy in the past.",
    "Rt femoral line, rt ij cordis, sw aware, rt in to suction.",
    "Ck 1980, bnp 1975, plt 1990 on repeat.",
    "Came in via ems, via stretcher to the floor.",
    "Walked 100 feet, 2 units prbc per dr, 12 st reviewed.",
    "Dilt from 10 to 5 mg/hr, levo from 8 to 4.",
    "Will be 90 minutes late, sbp goal will be 90-100.",
    "Sister called from Florida, pt moved on the 3rd floor for the 2nd time.",
    "Strength 4/5 on the left, pt is ninety percent better.",
    "Need to do a cxr, pa and lateral, md aware, rn to call.",
    "Va 20/40 right eye. Plan to provide nursing care at home.",
    "Report given to floor rn, report from ed. Lives on the second floor, on day 3 of abx.",
    "Hx of breast ca, colon ca in remission, head ct negative, normal md.",
    "Tolerated 1/2 and 3/4 of meals, strength 4/5 and 5/5, willing to fund university care.",
    "Dr believes pt is improving, dr gave ok. Wife vistied today, son aksed about plan.",
]


@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize(("sentence", "value", "kind"), CLASSES)
def test_third_round_class_is_found_in_every_case_style(
    text_detector: TextDetector, sentence: str, value: str, kind: str, style: str
) -> None:
    """Each class of the third round is found with its kind in Title case, ALL CAPS and
    lower case."""
    found = kinds_over(text_detector, sentence, value, style)
    assert kind in found, (STYLES[style](sentence), found)


@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize("sentence", CLINICAL)
def test_third_round_clinical_text_stays_text(
    text_detector: TextDetector, sentence: str, style: str
) -> None:
    """Bare titles before orders and verbs, mental status, fluid balances and times,
    setting changes, generic facilities, eponymous diseases, 'rt' for right, lab values,
    units and misspelt words after relation words stay text in every case style."""
    assert found_in(text_detector, sentence, style) == []
