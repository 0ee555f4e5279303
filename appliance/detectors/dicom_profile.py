"""DICOM PS3.15 Annex E (Table E.1-1), Basic Application Level Confidentiality Profile.

Attribute keyword -> action: ``X`` remove, ``Z`` empty (zero length), ``D`` replace with a
dummy value, ``U`` replace a UID consistently. Where the table allows a choice (``Z/D``,
``X/Z``, ``X/Z/D``) we take the one that keeps a Type 1/2 attribute present and carries
no information. Beyond the table, by value representation and group: every other person
name (PN) is removed, every other date, date-time and time (DA/DT/TM) is removed, every
other UID that is not a DICOM-defined one (``1.2.840.10008.*``) is replaced, private
attributes and overlay/curve data are removed (the basic profile, without the Retain
Safe Private option).
"""

from __future__ import annotations

REMOVE, EMPTY, DUMMY, UID = "X", "Z", "D", "U"

_Z = """
AccessionNumber ContentCreatorName ContentDate ContentTime FillerOrderNumberImagingServiceRequest
PatientBirthDate PatientID PatientName PatientSex PlacerOrderNumberImagingServiceRequest
ReferringPhysicianName StudyDate StudyID StudyTime VerifyingObserverIdentificationCodeSequence
ContrastBolusAgent StationName InstitutionName DeviceSerialNumber
"""
_D = """
PersonName VerifyingObserverName GraphicAnnotationSequence
"""
_U = """
StudyInstanceUID SeriesInstanceUID SOPInstanceUID MediaStorageSOPInstanceUID
FrameOfReferenceUID SynchronizationFrameOfReferenceUID InstanceCreatorUID
ReferencedSOPInstanceUID ReferencedFrameOfReferenceUID RelatedFrameOfReferenceUID
StorageMediaFileSetUID IrradiationEventUID DeviceUID FiducialUID
ConcatenationUID DimensionOrganizationUID DoseReferenceUID FailedSOPInstanceUIDList
MediaStorageSOPInstanceUID ReferencedGeneralPurposeScheduledProcedureStepTransactionUID
RequestedSOPInstanceUID TargetUID TemplateExtensionCreatorUID TemplateExtensionOrganizationUID
TransactionUID UID PresentationDisplayCollectionUID PresentationSequenceCollectionUID
SpecimenUID ReferencedObservationUIDTrial ObservationUID ObservationSubjectUIDTrial

"""
_X = """
AcquisitionComments AcquisitionContextSequence AcquisitionDate AcquisitionDateTime
AcquisitionDeviceProcessingDescription AcquisitionProtocolDescription AcquisitionTime
ActualHumanPerformersSequence AdditionalPatientHistory AdmissionID AdmittingDate
AdmittingDiagnosesCodeSequence AdmittingDiagnosesDescription AdmittingTime
AffectedSOPInstanceUID Allergies Arbitrary AuthorObserverSequence BranchOfService
CassetteID CommentsOnThePerformedProcedureStep ConfidentialityConstraintOnPatientDataDescription
ConsultingPhysicianName ConsultingPhysicianIdentificationSequence ContentSequence
ContributionDateTime ContributionDescription
CountryOfResidence CurrentPatientLocation CurveDate CurveTime CustodialOrganizationSequence
DataSetTrailingPadding DerivationDescription DetectorID DigitalSignaturesSequence
DischargeDiagnosisDescription DistributionAddress DistributionName EthnicGroup
FrameComments GantryID GeneratorID HumanPerformerName HumanPerformerOrganization
IconImageSequence IdentifyingComments ImageComments ImagePresentationComments
ImagingServiceRequestComments Impressions InstanceCreationDate InstanceCreationTime
InstitutionAddress InstitutionalDepartmentName InstitutionCodeSequence
InsurancePlanIdentification IntendedRecipientsOfResultsIdentificationSequence
InterpretationApproverSequence InterpretationAuthor InterpretationDiagnosisDescription
InterpretationIDIssuer InterpretationRecorder InterpretationText InterpretationTranscriber
IssuerOfAdmissionID IssuerOfPatientID IssuerOfServiceEpisodeID MedicalAlerts
MedicalRecordLocator MilitaryRank ModifiedAttributesSequence ModifyingDeviceID
ModifyingDeviceManufacturer NameOfPhysiciansReadingStudy NamesOfIntendedRecipientsOfResults
Occupation OperatorIdentificationSequence OperatorsName OriginalAttributesSequence
OrderCallbackPhoneNumber OrderEnteredBy OrderEntererLocation OtherPatientIDs
OtherPatientIDsSequence OtherPatientNames OverlayDate OverlayTime
ParticipantSequence PatientAddress PatientAge PatientBirthName PatientBirthTime
PatientComments PatientInstitutionResidence PatientInsurancePlanCodeSequence
PatientMotherBirthName PatientPrimaryLanguageCodeSequence
PatientPrimaryLanguageModifierCodeSequence PatientReligiousPreference PatientSize
PatientState PatientTelephoneNumbers PatientTransportArrangements PatientWeight
PerformedLocation PerformedProcedureStepDescription PerformedProcedureStepEndDate
PerformedProcedureStepEndTime PerformedProcedureStepID PerformedProcedureStepStartDate
PerformedProcedureStepStartTime PerformedStationAETitle
PerformedStationGeographicLocationCodeSequence
PerformedStationName PerformedStationNameCodeSequence PerformingPhysicianIdentificationSequence
PerformingPhysicianName PersonAddress PersonIdentificationCodeSequence PersonTelephoneNumbers
PhysicianApprovingInterpretation PhysiciansOfRecord PhysiciansOfRecordIdentificationSequence
PhysiciansReadingStudyIdentificationSequence PlateID PreMedication PregnancyStatus
ReasonForTheImagingServiceRequest ReasonForStudy ReferencedDigitalSignatureSequence
ReferencedPatientAliasSequence ReferencedPatientSequence ReferencedPatientPhotoSequence
ReferencedSOPInstanceMACSequence ReferringPhysicianAddress
ReferringPhysicianIdentificationSequence ReferringPhysicianTelephoneNumbers RegionOfResidence
RequestAttributesSequence RequestedContrastAgent RequestedProcedureComments
RequestedProcedureDescription RequestedProcedureID RequestedProcedureLocation
RequestingPhysician RequestingService ResponsibleOrganization ResponsiblePerson
ResponsiblePersonRole ResultsComments ResultsDistributionListSequence ResultsIDIssuer
ReviewerName ScheduledHumanPerformersSequence ScheduledPatientInstitutionResidence
ScheduledPerformingPhysicianIdentificationSequence ScheduledPerformingPhysicianName
ScheduledProcedureStepDescription ScheduledProcedureStepEndDate ScheduledProcedureStepEndTime
ScheduledProcedureStepID ScheduledProcedureStepLocation ScheduledProcedureStepStartDate
ScheduledProcedureStepStartTime ScheduledStationAETitle
ScheduledStationGeographicLocationCodeSequence
ScheduledStationName ScheduledStationNameCodeSequence ScheduledStudyLocation
ScheduledStudyLocationAETitle SeriesDate SeriesDescription SeriesTime ServiceEpisodeDescription
ServiceEpisodeID SmokingStatus SourceImageSequence SpecialNeeds StudyComments
StudyDescription StudyIDIssuer TextComments TextString TimezoneOffsetFromUTC TopicAuthor
TopicKeywords TopicSubject TopicTitle VerifyingOrganization VisitComments
ProtocolName SourceApplicationEntityTitle LastMenstrualDate PatientBreedDescription
DateOfLastCalibration TimeOfLastCalibration
DateOfSecondaryCapture TimeOfSecondaryCapture
"""

ACTIONS: dict[str, str] = {}
for _action, _block in ((REMOVE, _X), (EMPTY, _Z), (DUMMY, _D), (UID, _U)):
    for _keyword in _block.split():
        ACTIONS.setdefault(_keyword, _action)
del _action, _block, _keyword

DICOM_DEFINED_UID_ROOT = "1.2.840.10008."
"""UIDs under this root name SOP classes, transfer syntaxes and coding schemes: never PHI."""
NAME_VRS = frozenset({"PN"})
TEMPORAL_VRS = frozenset({"DA", "DT", "TM"})
DUMMY_TEXT = "ANONYMIZED"
DUMMY_VALUES: dict[str, str] = {
    "PN": DUMMY_TEXT,
    "LO": DUMMY_TEXT,
    "SH": "ANON",
    "LT": DUMMY_TEXT,
    "ST": DUMMY_TEXT,
    "UT": DUMMY_TEXT,
    "CS": "ANON",
    "AE": "ANON",
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000Y",
    "IS": "0",
    "DS": "0",
}
METHOD = "appliance: PS3.15 Annex E basic profile"
METHOD_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")


def is_overlay_or_curve(group: int, element: int) -> bool:
    """Overlay data and comments (60xx,3000/4000) and curve data (50xx,xxxx)."""
    return (0x5000 <= group <= 0x50FF) or (
        0x6000 <= group <= 0x60FF and element in (0x3000, 0x4000)
    )
