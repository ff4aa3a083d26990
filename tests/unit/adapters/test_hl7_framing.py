"""The MLLP decoder: any chunking gives the same frames, garbage is counted, an oversized
frame is reported once and never buffered past the bound, an unterminated frame is dropped."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from facepay.adapters.hl7v2.charsets import UTF8, UnknownCharset, charset_of, msh18
from facepay.adapters.hl7v2.framing import Frame, MllpDecoder, Oversized, frame

MESSAGES = [b"MSH|^~\\&|A|" + bytes([65 + i]) * (i * 7) for i in range(6)]
STREAM = b"junk" + b"".join(frame(m) + (b"\r\n" if i % 2 else b"") for i, m in enumerate(MESSAGES))


def decode(chunks: list[bytes], max_bytes: int = 1_000) -> tuple[list[object], MllpDecoder]:
    decoder = MllpDecoder(max_bytes)
    events: list[object] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
        assert decoder.buffered <= max_bytes
    return events, decoder


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(STREAM)), max_size=12))
def test_any_chunking_gives_the_same_frames(cuts: list[int]) -> None:
    points = sorted({0, len(STREAM), *cuts})
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    events, decoder = decode(chunks)
    assert events == [Frame(m) for m in MESSAGES]
    assert decoder.garbage == 4 + 2 * (len(MESSAGES) // 2)


def test_one_byte_at_a_time_and_several_in_one_read() -> None:
    one, _ = decode([STREAM[i : i + 1] for i in range(len(STREAM))])
    whole, _ = decode([STREAM])
    assert one == whole == [Frame(m) for m in MESSAGES]


def test_an_oversized_frame_is_reported_once_and_skipped() -> None:
    big = b"MSH|^~\\&|A|B|C|D|||ADT^A04|BIG1|P|2.5\r" + b"X" * 5_000
    events, decoder = decode(
        [frame(big)[i : i + 300] for i in range(0, 6_000, 300)] + [frame(b"MSH|ok")]
    )
    assert isinstance(events[0], Oversized)
    assert events[0].head.startswith(b"MSH|")
    assert events[1:] == [Frame(b"MSH|ok")]
    assert decoder.buffered == 0


def test_an_unterminated_frame_is_dropped_at_close_and_a_new_start_restarts() -> None:
    events, decoder = decode([b"\x0bMSH|half", b"\x0bMSH|whole\x1c\r", b"\x0bMSH|tail"])
    assert events == [Frame(b"MSH|whole")]
    assert decoder.in_frame
    assert decoder.close() == len(b"MSH|tail")
    assert not decoder.in_frame


def test_msh18_is_read_before_decoding() -> None:
    raw = "MSH|^~\\&|HIS|F|FACEPAY|h1|2026||ADT^A04|1|P|2.5||||||GBK\rPID|1||||王^小明".encode(
        "gbk"
    )
    assert msh18(raw) == "GBK"
    assert charset_of(raw).decode(raw).endswith("王^小明")
    assert charset_of(b"MSH|^~\\&|A") == UTF8 or charset_of(b"MSH|^~\\&|A").codec == "utf-8"
    try:
        charset_of(raw.replace(b"GBK", b"EBCDIC"))
    except UnknownCharset:
        pass
    else:
        raise AssertionError("EBCDIC accepted")
