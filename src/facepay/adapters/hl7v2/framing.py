"""MLLP framing: `VT message FS CR`, decoded from whatever pieces a socket hands over.

The decoder is pure (bytes in, events out) so that any chunking of the same stream gives the
same events. Its buffer never holds more than `max_bytes` of one frame: a frame that grows past
the bound is reported once as `Oversized` and the rest of it is skipped up to its end block, so a
peer cannot make a connection's memory grow. Bytes outside a frame are discarded and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

START = 0x0B
END = 0x1C
CR = 0x0D
_START = b"\x0b"
_END = b"\x1c\x0d"


def frame(message: bytes) -> bytes:
    """One MLLP block around `message`."""
    return _START + message + _END


@dataclass(frozen=True)
class Frame:
    """A complete message (without the block characters)."""

    payload: bytes


@dataclass(frozen=True)
class Oversized:
    """A frame longer than the bound; `head` is its first bytes (enough to read its MSH)."""

    head: bytes


Event = Frame | Oversized


class MllpDecoder:
    """Feed it bytes, take frames; `garbage` counts bytes discarded between frames."""

    HEAD = 4_096
    """How much of an oversized frame is kept, to answer it with its own MSH-10."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 16:
            raise ValueError("max_bytes: at least 16")
        self.max_bytes = max_bytes
        self.garbage = 0
        self._buffer = bytearray()
        self._in_frame = False
        self._skipping = False
        """Inside an oversized frame: dropping bytes up to its end block."""
        self._pending_fs = False
        """The last byte seen was FS (its CR may come in the next piece)."""

    @property
    def buffered(self) -> int:
        """Bytes held now (at most max_bytes + 1)."""
        return len(self._buffer)

    @property
    def in_frame(self) -> bool:
        """Whether a frame was started and not ended: an unterminated frame if the peer stops."""
        return self._in_frame or self._skipping

    def feed(self, data: bytes) -> list[Event]:
        """The events completed by `data`."""
        events: list[Event] = []
        view = memoryview(data)
        i = 0
        n = len(view)
        while i < n:
            if self._pending_fs:
                self._pending_fs = False
                if view[i] == CR:
                    i += 1
                    self._end_frame(events)
                    continue
                # FS not followed by CR: part of the message after all (tolerated, kept).
                self._keep(b"\x1c", events)
            if not self._in_frame and not self._skipping:
                start = data.find(_START, i)
                if start < 0:
                    self.garbage += n - i
                    break
                self.garbage += start - i
                i = start + 1
                self._in_frame = True
                continue
            fs = data.find(b"\x1c", i)
            stop = n if fs < 0 else fs
            self._keep(view[i:stop], events)
            if fs < 0:
                break
            i = fs + 1
            self._pending_fs = True
        return events

    def _keep(self, chunk: bytes | memoryview, events: list[Event]) -> None:
        if self._skipping or not chunk:
            return
        if _START[0] in chunk:
            # A new start block inside a frame: the previous frame was never ended. Drop it as
            # garbage and start again at the last VT.
            last = bytes(chunk).rfind(_START)
            self.garbage += len(self._buffer) + last
            self._buffer.clear()
            chunk = chunk[last + 1 :]
        room = self.max_bytes - len(self._buffer)
        if len(chunk) > room:
            self._buffer += chunk[: max(room, 0)]
            events.append(Oversized(bytes(self._buffer[: self.HEAD])))
            self._buffer.clear()
            self._skipping = True
            self._in_frame = False
            return
        self._buffer += chunk

    def _end_frame(self, events: list[Event]) -> None:
        if self._skipping:
            self._skipping = False
            return
        events.append(Frame(bytes(self._buffer)))
        self._buffer.clear()
        self._in_frame = False

    def close(self) -> int:
        """The stream ended (EOF or idle timeout): the bytes of an unterminated frame, dropped."""
        dropped = len(self._buffer) + (1 if self._pending_fs else 0)
        if self.in_frame:
            self.garbage += dropped
        self._buffer.clear()
        self._in_frame = self._skipping = self._pending_fs = False
        return dropped
