"""HL7 v2 over MLLP: framing, character sets, parsing and ACKs, the inbound mapping onto the
use cases, the asyncio listener and the notifier that tells the hospital system of payments."""
