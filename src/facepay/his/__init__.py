"""Talking to the hospital's own systems: HL7 FHIR R4, HL7 v2 over MLLP, and what both share."""
