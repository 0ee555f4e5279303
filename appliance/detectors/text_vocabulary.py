"""Word sets the context rules key on: titles, relation words, labels, credentials,
facility words, roles and motion words (all lower case)."""

from __future__ import annotations


def words(text: str) -> frozenset[str]:
    """The set of blank-separated words in ``text``."""
    return frozenset(text.split())


TITLES = words("dr doctor drs mr mrs ms miss mx prof")
# Titles that are never a clinical abbreviation (``ms`` is mental status or morphine, ``mr``
# mitral regurgitation): after these even a dictionary word is a name (``dr. baker``,
# ``DR LONG``), unless it is one of the words that follow a bare title in notes.
SURE_TITLES = words("dr doctor drs mrs prof")
AFTER_TITLE = words(
    "order orders ordered aware notified note notes informed rounds rounding recs consult"
    " consulted office team service said says feels felt wants wanted thinks agrees agreed"
    " made make ok okay okd plan following follow follows will would to in at here there now"
    " came come saw sees seen note's on-call covering fellow resident attending in-house"
    " contacted paging paged page pages called calling request requests requested states"
    " stated also and or of for with gave wrote spoke told took put left went got held kept"
    " set let ran saw came"
)
RELATIONS = words(
    "daughter son wife husband sister brother mother father mom dad niece nephew grandson"
    " granddaughter grandaughter grandmother grandfather aunt uncle cousin friend neighbor"
    " neighbour spouse partner fiance fiancee boyfriend girlfriend stepdaughter stepson"
    " sil dil dtr hcp nok proxy guardian caregiver sons daughters sisters brothers grandsons"
    " granddaughters grandchildren grandchild nieces nephews friends son-in-law"
    " daughter-in-law sister-in-law brother-in-law mother-in-law father-in-law stepmother"
    " stepfather stepsister stepbrother godson goddaughter great-grandson"
    " great-granddaughter fiancé ex-wife ex-husband"
)
# Short first names that are dictionary words and missing from the name lexicon: a name
# after a relation word ("son art", "HUSBAND SKIP", "wife peg").
NICKNAMES = words("art peg skip bo cal gert vin pip")
LABELS = words(
    "by name pcp attending surgeon assistant pathologist radiologist resident fellow"
    " intern cardiologist oncologist nephrologist physician with to from contact"
)
STRONG_LABELS = words("by name pcp attending surgeon assistant pathologist")
CREDENTIALS = words("md rn np pa do phd lpn cna pharmd lcsw msw aprn crna dds")
FACILITY = words(
    "hospital hosp medical clinic rehab rehabilitation nursing healthcare house manor"
    " ambulance amb ems hospice infirmary center centre institute vna living shelter mall"
    " college university school academy church parish temple synagogue mosque airport"
    " police fire library hotel motel prison jail cemetery"
)
FACILITY_INNER = words(
    "st saint mount mt general memorial community regional university county city of the"
    " and children's childrens medical center health assisted nursing skilled care"
)
# Words that make a facility generic rather than named: "to cardiac rehab", "acute rehab".
FACILITY_GENERIC = words(
    "acute subacute sub-acute cardiac pulmonary inpatient outpatient short long term skilled"
    " assisted mental behavioral public home day adult senior psych psychiatric detox respite"
    " local outside another other same different private state the a an new old nearest"
    " nearby outside emergency critical intensive transitional chronic geriatric elder"
    " elderly veterans physical occupational speech wound pain dialysis infusion"
)
MOTION = words("from to at in via near")
# Before "of": a town follows ("a resident of tyngsborough", "NATIVE OF HAVERHILL").
RESIDENT = words("resident residents native natives")
# Also before a listed region or facility: "on the cape", "known to bhchp".
PLACE_AFTER = words("on toward towards into")
EPONYM_NEXT = words(
    "disease syndrome sign scale score criteria test maneuver procedure palsy phenomenon"
    " fracture tube catheter classification reflex law cell cells"
)
# Surnames that, with a possessive, name a disease or sign: "hx of parkinson's".
EPONYMS = words(
    "parkinson alzheimer crohn hodgkin addison cushing graves bell raynaud sjogren wilson"
    " huntington tourette meniere paget kaposi barrett hashimoto gehrig down asperger bright"
    " whipple still reiter wegener buerger ludwig zenker bowen conn cushings kawasaki"
    " pott colles boerhaave mallory virchow beck cheyne horner trousseau chvostek murphy"
    " homan homans kernig brudzinski babinski romberg tinel phalen lhermitte osler janeway"
)
ROLES = words(
    "md np pa rn resident attending fellow intern nurse cna sw rt chaplain interpreter"
    " nutritionist dietitian dietician pharmacist lpn pca sitter therapist phlebotomist"
)
# Services and disciplines that name their member in brackets: "nutrition (deirdre)".
SERVICES = words(
    "pt ot slp speech swallow nutrition cm mgmt management rehab pharmacy phlebotomy psych"
    " psychiatry renal gi surgery ortho neuro nsgy cards cardiology ep ir id onc ethics"
    " palliative hospice transport security admitting registration"
)
BY_VERBS = words(
    "signed dictated seen read reviewed written entered transcribed approved cosigned"
    " examined evaluated interpreted referred performed paged accompanied visited authored"
    " verified covered followed"
)
MOVED = words(
    "lives live living resides reside transferred transfer xfer xfered moved arrived amb"
    " ambulance brought flown came home visiting visit driving drove flew traveled"
    " travelled admitted admit readmitted discharged returned returning sent transported"
    " taken referred received rec'd recd called calling coming driving flying here"
)
STREET_ENDS = words(
    "street st avenue ave road rd boulevard blvd lane ln drive dr court ct circle cir way"
    " place pl terrace ter parkway pkwy highway hwy"
)
# Before "at", "for" or "by": an employer's name follows ("works at market basket").
EMPLOYED = words("works worked working employed employer job")
NOT_EMPLOYER = words(
    "night nights day days evening evenings weekend weekends shift shifts year years month"
    " months week weeks hour hours time times least most several many long while awhile"
    " present moment first last one two three four five part full self"
)
PLACE_STOP = words("home bed chair floor unit room house hospital rehab or ed er icu office clinic")
