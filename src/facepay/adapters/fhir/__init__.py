"""The HL7 FHIR R4 facade's mapping: facepay's records to and from FHIR resources.

Every resource is built as plain JSON and validated by the `fhir.resources.R4B` model of its
type before it leaves (`common.emit`); what the facade reads is parsed by the same models, then
mapped onto the use cases' own types (a bill, a query). R4B (4.3.0) is used only for resources
whose R4 (4.0.1) form is the same for every element emitted here; docs/fhir.md lists each
difference relied on. The HTTP side is facepay.api.routes.fhir.
"""
