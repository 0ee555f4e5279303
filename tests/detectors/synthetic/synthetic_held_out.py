"""Phrasings for the synthetic notes that the recognisers were not developed on.

``HELD_OUT_TEMPLATES`` were measured once (figures kept in the report), then used to fix
what they exposed; ``FRESH_TEMPLATES`` were written after that and only measured.
"""

from __future__ import annotations

# Phrasings written after the recognisers were tuned on TEMPLATES and then only measured
# (never tuned on): their recall is the fairer estimate for unseen wording.
HELD_OUT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "PERSON_NAME": (
        "Pt's sister {PERSON_NAME} will pick her up at discharge.",
        "{PERSON_NAME} was counseled on smoking cessation.",
        "Seen in consultation at the request of {PERSON_NAME}.",
        "Nursing note by {PERSON_NAME}: patient resting comfortably.",
    ),
    "ADDRESS": (
        "Ambulance dispatched to {ADDRESS} after a 911 call.",
        "New address {ADDRESS}, {CITY} - update the chart.",
    ),
    "ZIP_CODE": ("Patient's zip is {ZIP_CODE}.", "{CITY}, {STATE} {ZIP_CODE} (home)."),
    "DATE": (
        "Last seen in clinic {DATE}.",
        "Surgery performed {DATE} without complications.",
        "Pt reports onset around {DATE}.",
    ),
    "AGE_OVER_89": (
        "Pleasant {AGE_OVER_89} seen for a routine visit.",
        "Now {AGE_OVER_89}, she still lives independently.",
    ),
    "PHONE_NUMBER": (
        "Pharmacy callback {PHONE_NUMBER}.",
        "Reach her cell phone {PHONE_NUMBER} after 5 pm.",
    ),
    "FAX_NUMBER": ("Send the referral by fax to {FAX_NUMBER}.", "F: {FAX_NUMBER}"),
    "EMAIL_ADDRESS": ("Contact: {EMAIL_ADDRESS}", "Wife's email address is {EMAIL_ADDRESS}."),
    "SSN": ("Soc Sec # {SSN}", "Patient's SSN is {SSN}."),
    "MEDICAL_RECORD_NUMBER": (
        "Hospital number {MEDICAL_RECORD_NUMBER}",
        "Pt ID {MEDICAL_RECORD_NUMBER}.",
    ),
    "HEALTH_PLAN_ID": (
        "Medicaid recipient ID {HEALTH_PLAN_ID}.",
        "Insurance: Aetna, ID {HEALTH_PLAN_ID}.",
    ),
    "ACCOUNT_NUMBER": (
        "Payment posted to patient account {ACCOUNT_NUMBER}.",
        "Guarantor acct # {ACCOUNT_NUMBER}.",
    ),
    "LICENSE_NUMBER": (
        "Verified identity with state ID card {LICENSE_NUMBER}.",
        "Medical license {LICENSE_NUMBER} (ordering physician).",
    ),
    "VEHICLE_ID": (
        "Struck by a vehicle, plate {VEHICLE_ID}.",
        "Her truck (VIN {VEHICLE_ID}) was totaled.",
    ),
    "DEVICE_ID": (
        "ICD generator serial {DEVICE_ID} shows normal battery.",
        "Hearing aid ID {DEVICE_ID} lost during admission.",
    ),
    "URL": ("See {URL} for her blog about the illness.", "Uploaded photos to {URL}."),
    "IP_ADDRESS": (
        "VPN address {IP_ADDRESS} used by the patient.",
        "Access log shows {IP_ADDRESS}.",
    ),
    "OTHER_ID": (
        "Case # {OTHER_ID} opened with adult protective services.",
        "Lab order number {OTHER_ID} collected.",
        "Visit ID {OTHER_ID}.",
    ),
}

# A second held-out set, written after HELD_OUT_TEMPLATES had been used for fixes, and
# measured once without any tuning: the least optimistic figures.
FRESH_TEMPLATES: dict[str, tuple[str, ...]] = {
    "PERSON_NAME": (
        "I personally examined the patient with {PERSON_NAME} present.",
        "Her granddaughter {PERSON_NAME} holds healthcare power of attorney.",
        "Message left for {PERSON_NAME} regarding the MRI results.",
        "Interpreter {PERSON_NAME} assisted with Spanish.",
    ),
    "ADDRESS": (
        "Transport to {ADDRESS} arranged for tomorrow.",
        "Patient is homeless but receives mail at {ADDRESS}.",
    ),
    "ZIP_CODE": (
        "Uses a pharmacy in zip code {ZIP_CODE}.",
        "Lives near {CITY}, {STATE} {ZIP_CODE}, about an hour away.",
    ),
    "DATE": (
        "Hospitalized for COPD exacerbation {DATE}.",
        "Colonoscopy due {DATE}.",
        "Cast removed {DATE}; range of motion improving.",
    ),
    "AGE_OVER_89": (
        "Frail {AGE_OVER_89} with recurrent falls.",
        "Pt is {AGE_OVER_89} and declines dialysis.",
    ),
    "PHONE_NUMBER": ("Home: {PHONE_NUMBER}", "Case manager extension via {PHONE_NUMBER}."),
    "FAX_NUMBER": (
        "Signed forms returned via fax ({FAX_NUMBER}).",
        "Clinic fax line: {FAX_NUMBER}",
    ),
    "EMAIL_ADDRESS": ("Questions can go to {EMAIL_ADDRESS}.", "E-mail {EMAIL_ADDRESS} on file."),
    "SSN": ("Last Social Security # {SSN} on the disability form.", "SS no. {SSN}"),
    "MEDICAL_RECORD_NUMBER": (
        "Merged into medical record {MEDICAL_RECORD_NUMBER}.",
        "(MRN {MEDICAL_RECORD_NUMBER})",
    ),
    "HEALTH_PLAN_ID": (
        "Humana member number {HEALTH_PLAN_ID}.",
        "Tricare beneficiary {HEALTH_PLAN_ID} confirmed.",
    ),
    "ACCOUNT_NUMBER": (
        "Refund issued to account no. {ACCOUNT_NUMBER}.",
        "Statement for acct {ACCOUNT_NUMBER} mailed.",
    ),
    "LICENSE_NUMBER": (
        "Teaching certificate {LICENSE_NUMBER} needed for work clearance.",
        "Commercial driver license no. {LICENSE_NUMBER}.",
    ),
    "VEHICLE_ID": (
        "The other car's plate was {VEHICLE_ID}.",
        "Vehicle identification number {VEHICLE_ID}.",
    ),
    "DEVICE_ID": (
        "Replaced the LVAD controller, serial no. {DEVICE_ID}.",
        "Neurostimulator device serial {DEVICE_ID} checked.",
    ),
    "URL": ("Patient linked {URL} in the portal message.", "Source: {URL}"),
    "IP_ADDRESS": ("Camera stream at {IP_ADDRESS} disabled.", "Home hub IP: {IP_ADDRESS}."),
    "OTHER_ID": (
        "Transplant candidate ID {OTHER_ID}.",
        "Requisition {OTHER_ID} cancelled.",
        "Retinal scan ID {OTHER_ID} stored by security.",
    ),
}
