"""Character sets: MSH-18 (HL7 table 0211) to a Python codec, read before the message is decoded.

The MSH segment up to MSH-18 is ASCII in every encoding a HIS uses here (UTF-8 and the GB
family are ASCII-compatible), so the raw bytes are split on the field separator to find MSH-18
first; then the whole message is decoded with its codec, and the answer is encoded with it too.
GB 18030 is a superset of GBK, which is a superset of GB 2312: the non-standard names many
Chinese HIS send are decoded as GB 18030 (anything valid in the smaller set decodes the same) and
answered under the name they came with.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT = "UNICODE UTF-8"

CODECS: dict[str, str] = {
    "": "utf-8",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "GB 18030-2000": "gb18030",
    "GB18030": "gb18030",
    "GBK": "gb18030",
    "GB2312": "gb18030",
    "GB 2312": "gb18030",
}
"""MSH-18 values (upper case, trimmed) and the codec that reads them."""


class UnknownCharset(ValueError):  # noqa: N818 - read as the condition it names
    """MSH-18 names a character set this listener does not read (answered AR, MSH-18)."""


class BadEncoding(ValueError):  # noqa: N818
    """The bytes are not valid in the character set MSH-18 names (answered AR, MSH-18)."""


@dataclass(frozen=True)
class Charset:
    """The message's MSH-18 as sent (answered with the same) and the codec that reads it."""

    name: str
    codec: str

    def decode(self, raw: bytes) -> str:
        """The message text."""
        try:
            return raw.decode(self.codec)
        except UnicodeDecodeError as error:
            raise BadEncoding(
                f"the message is not valid {self.name or DEFAULT} at byte {error.start}"
            ) from None

    def encode(self, text: str) -> bytes:
        """The answer's bytes (a character the set cannot hold becomes '?')."""
        return text.encode(self.codec, errors="replace")


UTF8 = Charset("", "utf-8")


def msh18(raw: bytes) -> str:
    """MSH-18 of a raw message ('' when absent), read without decoding the message."""
    first = raw.split(b"\r", 1)[0].split(b"\n", 1)[0]
    if not first.startswith(b"MSH") or len(first) < 4:
        return ""
    fields = first.split(first[3:4])
    # fields[0] is "MSH", fields[1] the encoding characters (MSH-2): MSH-n is fields[n - 1].
    if len(fields) < 18:
        return ""
    value = fields[17]
    # A repetition names alternates (e.g. "UNICODE UTF-8~GB 18030-2000"): the first is in force.
    return value.split(b"~", 1)[0].decode("ascii", errors="replace").strip()


def charset_of(raw: bytes) -> Charset:
    """The character set of a raw message, by its MSH-18."""
    name = msh18(raw)
    codec = CODECS.get(name.upper())
    if codec is None:
        raise UnknownCharset(f"MSH-18 {name!r}: not a character set this listener reads")
    return Charset(name, codec)
