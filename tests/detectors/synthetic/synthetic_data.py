"""Word lists and sentence templates for the synthetic clinical-notes set (no real people).

Templates hold ``{KIND}`` placeholders (a ``FindingKind`` name, or ``CITY``/``STATE`` for
filler that is not labelled); ``synthetic.py`` fills them in varied formats. PHI-free text
is in ``synthetic_phi_free``.
"""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split("|"))


FIRST_NAMES = _words(
    "Maria|James|Aisha|Wei|Oluwaseun|Priya|Dmitri|Fatima|Carlos|Hannah|Kwame|Mei|Santiago|"
    "Ingrid|Rahul|Chloe|Tomasz|Yuki|Elena|Mohammed|Grace|Juan|Siobhan|Thanh|Amara|Lucas|Nadia|"
    "Kofi|Sofia|Hiroshi|Leila|Patrick|Ananya|Bogdan|Zainab|Ethan|Camila|Jamal|Astrid|Vikram|"
    "Rosa|Tariq|Olivia|Minh|Esperanza|Dwayne|Svetlana|Chidi|Margaret|Arjun|Ximena|Robert|Linh|"
    "Farah|Gregory|Nkechi|Hye-jin|Mateo|Agnieszka|Desmond"
)
LAST_NAMES = _words(
    "Gonzalez|Okafor|Nguyen|Patel|Kowalski|Haddad|O'Brien|Tanaka|Mensah|Schmidt|Ramirez|Chen|"
    "Abernathy|Adeyemi|Kim|Ivanova|Fitzgerald|Banerjee|Morales|Lindqvist|Mwangi|Castillo|"
    "Yamamoto|Dubois|Al-Rashid|Novak|Washington|Sokolov|Oyelaran|Hernandez|McAllister|"
    "Takahashi|Petrov|Obi|Delacroix|Reyes|Sorensen|Bhatt|Whitfield|Esposito|Nakamura|Achebe|"
    "Moreau|Kaczmarek|Tran|Boateng|Vasquez|Lindgren|Ferreira|Goldberg|Suleiman|Park|"
    "Van der Berg|Mahmoud|Quintero|Holloway|Eriksen|Chukwu|Romano|Sato"
)
TITLES = ("Dr.", "Mr.", "Mrs.", "Ms.", "Dr", "Mr", "Miss", "Prof.")
CREDENTIALS = ("MD", "RN", "NP", "PA-C", "DO", "PhD", "MSW")
STREETS = _words(
    "Maple|Oak|Lincoln|Washington|Lakeview|Sheridan|Elm|Cedar|Martin Luther King Jr|Pine|"
    "Highland|Riverside|Park|Main|Church|Willow|Fairview|Sunset|Hillcrest|Chestnut|Prairie|"
    "Harbor"
)
STREET_SUFFIXES = _words(
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Terrace|"
    "Parkway"
)
CITIES = _words(
    "Evanston|Springfield|Naperville|Joliet|Peoria|Rockford|Aurora|Oak Park|Skokie|Champaign|"
    "Bloomington|Decatur|Elgin|Waukegan|Cicero|Schaumburg|Des Plaines|Orland Park|Tinley Park|"
    "Palatine"
)
STATES = ("IL", "WI", "IN", "MI", "IA", "MO", "Illinois", "Wisconsin", "Indiana", "Ohio")
EMAIL_DOMAINS = ("example.org", "mail.com", "inbox.net", "northshore.org", "uchospital.edu")
URL_HOSTS = (
    "portal.mercyhealth.org",
    "myhealth.example.com",
    "patients.uchospital.edu",
    "www.carepages.com",
    "facebook.com",
    "www.gofundme.com",
    "intranet.mercy.local",
)

# Templates for each labelled kind (several phrasings each); other kinds may co-occur.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "PERSON_NAME": (
        "{PERSON_NAME}, {AGE_OVER_89}, has a history of CHF and presented with dyspnea.",
        "Seen today with her daughter {PERSON_NAME}, who provides most of the history.",
        "Patient: {PERSON_NAME}",
        "Discussed the plan with {PERSON_NAME} at the bedside; all questions answered.",
        "Attending: {PERSON_NAME}",
        "Electronically signed by {PERSON_NAME} on {DATE}.",
        "Emergency contact: {PERSON_NAME} (son), phone {PHONE_NUMBER}.",
        "The patient's husband, {PERSON_NAME}, reports she fell twice this week.",
        "Case reviewed with {PERSON_NAME} from cardiology, who agrees with diuresis.",
        "{PERSON_NAME} tolerated the procedure well and was transferred to recovery.",
        "Referred by {PERSON_NAME} for evaluation of a thyroid nodule.",
        "Called {PERSON_NAME} with the biopsy results; she will return on {DATE}.",
    ),
    "ADDRESS": (
        "Lives alone at {ADDRESS}, {CITY}, {STATE} {ZIP_CODE}.",
        "Home address: {ADDRESS}",
        "Discharged home to {ADDRESS} with home health services.",
        "Patient moved to {ADDRESS} last month and changed pharmacies.",
        "She was found down at her apartment on {ADDRESS} by a neighbor.",
        "Lives with his wife in {ADDRESS}, {STATE}, and walks daily.",
    ),
    "ZIP_CODE": (
        "Mailing address on file: {CITY}, {STATE} {ZIP_CODE}.",
        "ZIP code {ZIP_CODE} per registration.",
        "Resides in {CITY}, {STATE} {ZIP_CODE}; transportation arranged.",
    ),
    "DATE": (
        "Admitted on {DATE} for community-acquired pneumonia.",
        "DOB: {DATE}",
        "Last colonoscopy was {DATE}, with two tubular adenomas removed.",
        "Date of service: {DATE}",
        "Symptoms began {DATE} and have progressed since.",
        "Follow-up visit scheduled for {DATE} in clinic.",
        "Her last menstrual period was {DATE}.",
        "Echocardiogram dated {DATE} showed an EF of 40%.",
    ),
    "AGE_OVER_89": (
        "This patient ({AGE_OVER_89}) has advanced dementia and was admitted for aspiration.",
        "The patient, {AGE_OVER_89}, lives in assisted living.",
        "HPI: {AGE_OVER_89} with atrial fibrillation on apixaban.",
    ),
    "PHONE_NUMBER": (
        "Daughter can be reached at {PHONE_NUMBER}.",
        "Phone: {PHONE_NUMBER}",
        "Call the patient at {PHONE_NUMBER} with lab results.",
        "Preferred contact number {PHONE_NUMBER} (cell).",
    ),
    "FAX_NUMBER": (
        "Fax: {FAX_NUMBER}",
        "Records faxed to {FAX_NUMBER} at the patient's request.",
        "Please fax the signed orders to {FAX_NUMBER}.",
        "Office fax {FAX_NUMBER}.",
    ),
    "EMAIL_ADDRESS": (
        "Patient prefers email: {EMAIL_ADDRESS}",
        "Results sent securely to {EMAIL_ADDRESS}.",
        "Her son ({EMAIL_ADDRESS}) requested a copy of the discharge summary.",
    ),
    "SSN": (
        "SSN: {SSN}",
        "Social Security number {SSN} verified at registration.",
        "Disability paperwork lists SS# {SSN}.",
    ),
    "MEDICAL_RECORD_NUMBER": (
        "MRN: {MEDICAL_RECORD_NUMBER}",
        "Medical record number {MEDICAL_RECORD_NUMBER} was merged with a duplicate chart.",
        "Outside records (MR# {MEDICAL_RECORD_NUMBER}) reviewed.",
        "Chart #{MEDICAL_RECORD_NUMBER} flagged for fall risk.",
    ),
    "HEALTH_PLAN_ID": (
        "Insurance member ID: {HEALTH_PLAN_ID}",
        "Medicare ID {HEALTH_PLAN_ID} on file.",
        "Policy number {HEALTH_PLAN_ID}, group 55 Blue Cross PPO.",
        "Health plan beneficiary number {HEALTH_PLAN_ID} verified with the payer.",
        "Subscriber ID {HEALTH_PLAN_ID} (spouse is the subscriber).",
    ),
    "ACCOUNT_NUMBER": (
        "Account #: {ACCOUNT_NUMBER}",
        "Billing account number {ACCOUNT_NUMBER} has an outstanding balance.",
        "Copay charged to acct {ACCOUNT_NUMBER}.",
        "Hospital account {ACCOUNT_NUMBER} opened for this admission.",
    ),
    "LICENSE_NUMBER": (
        "Driver's license {LICENSE_NUMBER} used for identity verification.",
        "DL# {LICENSE_NUMBER}",
        "Her nursing license number is {LICENSE_NUMBER} (she is an RN).",
        "Birth certificate no. {LICENSE_NUMBER} requested for the newborn.",
        "Passport number {LICENSE_NUMBER} copied for the travel letter.",
    ),
    "VEHICLE_ID": (
        "Involved in an MVC; vehicle VIN {VEHICLE_ID} per police report.",
        "Police noted license plate {VEHICLE_ID} at the scene.",
        "Car registered under plate number {VEHICLE_ID}.",
        "Motorcycle VIN: {VEHICLE_ID}",
    ),
    "DEVICE_ID": (
        "Pacemaker serial number {DEVICE_ID}, interrogated today.",
        "Insulin pump S/N: {DEVICE_ID}",
        "UDI {DEVICE_ID} recorded for the hip implant.",
        "Device ID {DEVICE_ID} paired with the home monitor.",
        "CGM transmitter serial {DEVICE_ID} replaced.",
    ),
    "URL": (
        "Patient portal: {URL}",
        "Her fundraiser page {URL} mentions the diagnosis.",
        "Imaging link {URL} sent to the radiologist.",
    ),
    "IP_ADDRESS": (
        "Telehealth session connected from {IP_ADDRESS}.",
        "Remote monitoring device reported from IP {IP_ADDRESS}.",
        "Portal login from {IP_ADDRESS} flagged by security.",
    ),
    "OTHER_ID": (
        "Encounter number {OTHER_ID}.",
        "Specimen ID {OTHER_ID} sent to pathology.",
        "Accession number {OTHER_ID} for the chest CT.",
        "Research subject ID {OTHER_ID} (enrolled in the heart failure trial).",
        "Fingerprint template ID {OTHER_ID} registered for the medication cabinet.",
        "Voiceprint ID {OTHER_ID} enrolled for the telephone refill line.",
        "Claim number {OTHER_ID} denied by the payer.",
    ),
}
