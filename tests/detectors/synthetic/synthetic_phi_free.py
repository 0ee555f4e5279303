"""PHI-free clinical sentences: what a PHI detector must leave alone (vitals, doses, lab
ranges, scores and ratios, years on their own, eponyms, abbreviations that look like US
states, all-caps headings), plus fragments to generate more of them.
"""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split("|"))


PHI_FREE = (
    "Blood pressure 132/84, heart rate 88, respiratory rate 18, SpO2 96% on room air.",
    "Grade 2/6 systolic murmur heard best at the left upper sternal border.",
    "Metoprolol succinate 25 mg PO daily; lisinopril 10 mg daily.",
    "Take 1/2 tablet of hydrochlorothiazide every morning.",
    "Potassium 3.4 mmol/L (ref 3.5-5.0), creatinine 1.2 mg/dL.",
    "Plan: 1000 mL normal saline bolus, then reassess.",
    "Order 2 units of packed red blood cells for hemoglobin 6.9 g/dL.",
    "Chest X-ray PA and lateral shows no acute cardiopulmonary process.",
    "History of MS with a relapse treated with steroids.",
    "Parkinson's disease, on carbidopa-levodopa 25/100 three times daily.",
    "Foley catheter removed; voiding spontaneously.",
    "Glasgow Coma Scale 15; moves all four extremities.",
    "Temperature 38.2 C overnight, blood cultures drawn x2.",
    "Appendectomy in 2009 and cholecystectomy in 2015.",
    "Type 2 diabetes mellitus, HbA1c 7.2%, on metformin 1000 mg BID.",
    "Stage 3a chronic kidney disease, eGFR 52 mL/min/1.73m2.",
    "INR 2.3 on warfarin 5 mg daily; goal 2-3.",
    "Ejection fraction 35-40% with global hypokinesis.",
    "Bilateral lower extremity pitting edema 2+ to the mid shin.",
    "Denies fever, chills, night sweats, or weight loss.",
    "Morse fall scale score 45; bed alarm on.",
    "NYHA class III symptoms despite diuretics.",
    "Apgar scores 8 and 9 at one and five minutes.",
    "G2P1 at 32 weeks gestation with preterm contractions.",
    "Oxygen saturation 94% on 2 L nasal cannula.",
    "Day 3 of ceftriaxone 1 g IV every 24 hours.",
    "ICD-10 E11.9 and I10 documented for this encounter.",
    "CPT 99214 billed for the office visit.",
    "WBC 12.4, hemoglobin 10.1, platelets 215,000.",
    "Troponin 0.04 ng/mL, repeat in 3 hours.",
    "CT abdomen and pelvis with contrast: no acute findings.",
    "Insulin glargine 20 units at bedtime and lispro per sliding scale.",
    "Tylenol 650 mg every 6 hours as needed for pain.",
    "Pain 7/10, improved to 3/10 after hydromorphone 0.5 mg IV.",
    "Right knee range of motion 0-110 degrees.",
    "Follow up in 2 weeks with repeat BMP.",
    "Smoking history of 30 pack-years; quit 10 years ago.",
    "Alcohol use: 2-3 drinks per week.",
    "Lungs clear to auscultation bilaterally; no wheezes or rales.",
    "Abdomen soft, nontender, nondistended; bowel sounds present.",
    "Neuro: alert and oriented x3, cranial nerves II-XII intact.",
    "MRI brain showed chronic small vessel ischemic changes.",
    "Hepatitis B surface antigen negative; HIV 1/2 antibody nonreactive.",
    "Vancomycin trough 15.2 mcg/mL, within goal range of 15-20.",
    "Sodium 131, chloride 98, bicarbonate 22, BUN 28, glucose 188.",
    "Weight 82.4 kg, down 1.6 kg from yesterday.",
    "Urine output 1.2 L over the last 24 hours.",
    "Wound 3 x 2 cm with granulation tissue, no purulence.",
    "PHQ-9 score 14, consistent with moderate depression.",
    "Started sertraline 50 mg daily and referred to behavioral health.",
    "Colonoscopy recommended every 3 years given polyp history.",
    "Influenza vaccine given in the left deltoid.",
    "BMI 31.2; counseled on diet and exercise.",
    "Pulmonary function tests: FEV1/FVC 0.62, FEV1 58% predicted.",
    "Lactate 2.8 mmol/L, improved to 1.4 after fluids.",
    "Holter monitor showed paroxysmal atrial fibrillation, 4% burden.",
    "Code status: full code, confirmed with the patient.",
    "Diet: 2 g sodium, 1.5 L fluid restriction.",
    "PT/OT evaluation: ambulates 150 feet with a rolling walker.",
    "TSH 4.8 mIU/L, free T4 1.1 ng/dL.",
    "Ultrasound of the right upper quadrant: gallbladder sludge, no CBD dilation.",
    "Aspirin 81 mg daily and atorvastatin 40 mg nightly.",
    "Patient education provided on inhaler technique.",
    "Braden score 14, turning every 2 hours.",
    "ABG 7.31/52/68 on 40% FiO2.",
    "Heparin drip at 18 units/kg/h per protocol.",
    "Biopsy showed Gleason 3+4=7 adenocarcinoma in 4 of 12 cores.",
    "Platelets 98 K, down from 140 K two days ago.",
    "Lipase 420 U/L, consistent with acute pancreatitis.",
    "Magnesium 1.6, replaced with 2 g IV.",
    "HEENT: normocephalic, atraumatic; PERRLA.",
    "ASSESSMENT AND PLAN: continue diuresis and recheck electrolytes.",
    "CT CHEST, ABDOMEN AND PELVIS: no acute findings.",
    "CBC, BMP, LFTS pending at the time of this note.",
    "Strength 5/5 in all extremities; reflexes 2+ and symmetric.",
    "Rated her pain 6/10 this morning.",
    "HIV 1/2 antigen/antibody screen negative.",
    "Visual acuity 20/40 OU.",
    "Take 1/2 tab at bedtime if needed.",
    "Gravida 3 para 2, LMP unknown.",
    "Lungs, heart and abdomen unremarkable.",
    "Follow-up with cardiology, nephrology and endocrinology.",
)

# Fragments combined into further PHI-free sentences (vitals, doses, labs, plans).
DRUGS = _words(
    "amlodipine|furosemide|gabapentin|levothyroxine|omeprazole|prednisone|apixaban|tamsulosin|"
    "albuterol|losartan|sertraline"
)
UNITS = ("mg", "mcg", "units", "mL")
FREQS = ("daily", "BID", "TID", "every 8 hours", "at bedtime", "as needed", "weekly")
LABS = _words(
    "hemoglobin|sodium|potassium|creatinine|glucose|albumin|calcium|ALT|AST|bilirubin|"
    "ferritin|BNP|CRP|procalcitonin"
)
FINDINGS = _words(
    "no acute distress|mild tenderness|a 2 cm nodule|trace effusion|no focal deficits|"
    "stable appearance|improved aeration"
)
