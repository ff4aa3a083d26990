"""The cuttable proxy the chaos tests, the soak bench and the demo's outage stand on."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from facepay.demo.netcut import NetCut


@pytest.fixture
def echo() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server that records what it got and answers it back in upper case."""
    listener = socket.create_server(("127.0.0.1", 0))
    got: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):  # the proxy resets connections
                while data := conn.recv(1024):
                    got.append(data)
                    conn.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], got
    listener.close()


def _ask(port: int, text: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(text)
        return conn.recv(1024)


def test_up_forwards_down_refuses_and_restore_reopens_the_same_port(
    echo: tuple[int, list[bytes]],
) -> None:
    upstream, _ = echo
    with NetCut(upstream) as proxy:
        port = proxy.port
        assert _ask(port, b"ping") == b"PING"
        proxy.cut()
        assert proxy.state == "down"
        with pytest.raises(ConnectionRefusedError):
            _ask(port, b"lost")
        proxy.restore()
        assert proxy.port == port
        assert _ask(port, b"again") == b"AGAIN"


def test_a_cut_resets_the_open_connections(echo: tuple[int, list[bytes]]) -> None:
    upstream, _ = echo
    with NetCut(upstream) as proxy, socket.create_connection(("127.0.0.1", proxy.port), 5) as conn:
        conn.sendall(b"one")
        assert conn.recv(1024) == b"ONE"
        proxy.cut()
        with pytest.raises(ConnectionResetError):
            conn.recv(1024)


def test_dropped_answers_reach_the_server_but_not_the_client(
    echo: tuple[int, list[bytes]],
) -> None:
    upstream, got = echo
    with NetCut(upstream) as proxy:
        proxy.drop_answers()
        with socket.create_connection(("127.0.0.1", proxy.port), 5) as conn:
            conn.sendall(b"committed")
            try:
                answer = conn.recv(1024)
            except ConnectionResetError:
                answer = b""
        assert answer == b""
        assert b"committed" in got
        assert proxy.counters.answers_dropped == 1


def test_a_server_that_closes_after_answering_is_heard_whole() -> None:
    """An orderly close (FIN) passes as one: the answer before it is not lost to a reset."""
    listener = socket.create_server(("127.0.0.1", 0))
    answer = b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 200_000

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(answer)  # and close at once, as an HTTP/1.0 server does

    threading.Thread(target=serve, daemon=True).start()
    with NetCut(listener.getsockname()[1]) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), 5) as conn:
            conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
            received = b""
            while data := conn.recv(65536):
                received += data
        assert received == answer
        assert proxy.counters.reset == 0
    listener.close()


def test_only_the_answer_to_a_matching_request_is_dropped(echo: tuple[int, list[bytes]]) -> None:
    upstream, got = echo
    with NetCut(upstream) as proxy:
        proxy.drop_answers(only=b"/payments")
        with socket.create_connection(("127.0.0.1", proxy.port), 5) as conn:
            conn.sendall(b"POST /identifications")
            assert conn.recv(1024) == b"POST /IDENTIFICATIONS"
            conn.sendall(b"POST /payments")
            try:
                answer = conn.recv(1024)
            except ConnectionResetError:
                answer = b""
        assert answer == b""
        assert b"POST /payments" in got
        assert proxy.counters.answers_dropped == 1
