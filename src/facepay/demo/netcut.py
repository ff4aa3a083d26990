"""A TCP proxy in front of the server that a test, a bench or the demo cuts and restores.

`NetCut(upstream_port)` listens on 127.0.0.1 and forwards every connection to the upstream
server, byte for byte, one thread per direction. Three states:

- `up`: forwarding;
- `down` (`cut()`): the listening socket is closed, so new connections are refused at once
  (ECONNREFUSED, what a terminal sees when the hospital's network is down), and every open
  connection is reset;
- `drop_answers` (`drop_answers()`): requests still reach the server, but a connection is reset
  as soon as the server starts answering: the server has done the work (committed a payment) and
  the terminal never hears so. That is the worst moment for a network to fail.
  `drop_answers(only=b"/payments")` loses only the answer to a request whose bytes contain
  `only` (the connection is reset once that request has gone through), so the steps before a
  payment (challenge, identification) still get their answers.

`restore()` goes back to `up` on the same port. Counters say what happened (connections
accepted, refused, reset). Standard library only; for tests and demos, not production.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Literal

State = Literal["up", "down", "drop_answers"]
_CHUNK = 64 * 1024


@dataclass
class CutCounters:
    """What the proxy did since it started."""

    accepted: int = 0
    reset: int = 0
    answers_dropped: int = 0


def _reset(sock: socket.socket) -> None:
    """Close with RST (linger 0), so the peer sees a reset at once, not a slow FIN. The read
    side is shut first: that wakes the thread blocked in recv() on it, which a close() alone
    does not (the socket would stay open under it)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.close()


@dataclass
class NetCut:
    """A cuttable TCP proxy from 127.0.0.1:`port` to 127.0.0.1:`upstream_port`."""

    upstream_port: int
    upstream_host: str = "127.0.0.1"
    port: int = 0
    counters: CutCounters = field(default_factory=CutCounters)
    _state: State = "up"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _listener: socket.socket | None = field(default=None, repr=False)
    _pairs: set[tuple[socket.socket, socket.socket]] = field(default_factory=set, repr=False)
    _ended: set[tuple[socket.socket, socket.socket]] = field(default_factory=set, repr=False)
    _only: bytes | None = None
    _doomed: set[socket.socket] = field(default_factory=set, repr=False)
    """Clients whose connection carried a request matching `_only`: their next answer is lost."""
    """Pairs of which one direction has ended with a FIN (the other still open)."""
    _closed: bool = False

    @property
    def url(self) -> str:
        """The proxy's HTTP address (give it to the terminal instead of the server's)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self) -> State:
        """up, down or drop_answers."""
        return self._state

    def start(self) -> NetCut:
        """Listen (on a free port the first time) and start forwarding."""
        self._listen()
        return self

    def __enter__(self) -> NetCut:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    def cut(self) -> None:
        """The network goes down: refuse new connections, reset the open ones."""
        with self._lock:
            self._state = "down"
            listener, self._listener = self._listener, None
            pairs = list(self._pairs)
        if listener is not None:
            # shutdown() first: a close() alone leaves a socket that a thread blocks on in
            # accept() listening (Linux), and connections would still be taken.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for client, server in pairs:
            self._drop(client, server)

    def drop_answers(self, only: bytes | None = None) -> None:
        """From now on the server gets each request but its answer is lost (connection reset);
        with `only`, just the answer to a request whose bytes contain it."""
        with self._lock:
            self._state = "drop_answers"
            self._only = only
            self._doomed.clear()
        if self._listener is None:
            self._listen()

    def restore(self) -> None:
        """The network is back: forward again, on the same port."""
        with self._lock:
            self._state = "up"
            self._only = None
            self._doomed.clear()
        if self._listener is None:
            self._listen()

    def close(self) -> None:
        """Stop for good."""
        self._closed = True
        self.cut()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed: cut or close
            if self._closed or self._state == "down":
                _reset(client)
                continue
            try:
                server = socket.create_connection((self.upstream_host, self.upstream_port), 5)
            except OSError:
                _reset(client)
                continue
            server.settimeout(None)
            with self._lock:
                self.counters.accepted += 1
                self._pairs.add((client, server))
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, answers: bool) -> None:
        pair = (sink, source) if answers else (source, sink)
        try:
            while data := source.recv(_CHUNK):
                if answers and self._loses(sink):
                    with self._lock:
                        self.counters.answers_dropped += 1
                    raise ConnectionResetError
                if not answers and self._only is not None and self._only in data:
                    with self._lock:
                        self._doomed.add(source)
                sink.sendall(data)
        except OSError:
            self._drop(*pair)
            return
        # An orderly close (FIN) is passed on as one: a reset here would make the peer's kernel
        # discard an answer it has received but not yet read (a server that closes after
        # answering, or an idle keep-alive connection closed by uvicorn). Under the lock: a
        # pair being cut (gone from `_pairs`) is reset, never half-closed.
        with self._lock:
            if pair not in self._pairs:
                return
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
            if pair not in self._ended:
                self._ended.add(pair)
                return
            self._ended.discard(pair)
            self._pairs.discard(pair)
        for sock in pair:
            with contextlib.suppress(OSError):
                sock.close()

    def _loses(self, client: socket.socket) -> bool:
        """Whether the answer now going to `client` is to be lost."""
        if self._state != "drop_answers":
            return False
        return self._only is None or client in self._doomed

    def _drop(self, client: socket.socket, server: socket.socket) -> None:
        with self._lock:
            if (client, server) not in self._pairs:
                return
            self._pairs.discard((client, server))
            self._ended.discard((client, server))
            self._doomed.discard(client)
            self.counters.reset += 1
        _reset(client)
        _reset(server)
