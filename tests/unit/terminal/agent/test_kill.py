"""kill -9 while vouchers are written: the store reopens with one unbroken chain, no counter
twice, and every voucher the writer was told is stored is there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facepay.terminal.agent.store import AgentStore
from facepay.terminal.protocol import GENESIS, ed25519_public_raw, open_voucher
from facepay.terminal.signing import private_key_to_pem

SRC = Path(__file__).resolve().parents[4] / "src"
WRITER = """
import sys
from pathlib import Path
from facepay.terminal.agent.store import AgentStore, NewVoucher
from facepay.terminal.protocol import Voucher, sign_voucher, uuid7
from facepay.terminal.signing import private_key_from_pem

key = private_key_from_pem(Path(sys.argv[2]).read_bytes())
store = AgentStore(Path(sys.argv[1]))
run = uuid7()
index = 0
while True:
    index += 1
    def build(counter, prev_hash):
        voucher = Voucher(
            id=uuid7(), terminal_id="trm_1", hospital_id="hsp_1", counter=counter,
            prev_hash=prev_hash, created_at="2026-03-01T08:00:00+00:00", limits_version="l1",
            library_version="v1", bill_id=f"bil_{index}", bill_total_fen=100,
            person_id="per_a", evidence={}, provisional={}, cash_collected_fen=0,
        )
        signed, digest = sign_voucher(key, voucher)
        return NewVoucher(signed, digest, voucher.id, voucher.created_at, voucher.bill_id,
                          "per_a", 100, 0, "v1", 0, {"year": 2026})
    row = store.append_voucher(idempotency_key=f"key-{run}-{index}", build=build)
    print(row.counter, flush=True)  # the screen would say paid now
"""


def test_kill_9_mid_write_keeps_one_chain_and_every_acknowledged_voucher(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "terminal.pem"
    key_file.write_bytes(private_key_to_pem(key))
    data = tmp_path / "agent"
    acknowledged: list[int] = []
    for round_ in range(3):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(data), str(key_file)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(SRC)},
            text=True,
        )
        assert writer.stdout is not None
        deadline = time.monotonic() + 60
        seen = 0
        while seen < 20 + 7 * round_ and time.monotonic() < deadline:
            line = writer.stdout.readline()
            if not line:
                break
            acknowledged.append(int(line))
            seen += 1
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
        # Whatever the pipe still held was acknowledged too.
        acknowledged += [int(line) for line in writer.stdout.read().split()]
        writer.stdout.close()
        assert seen > 0, "the writer wrote nothing"
    store = AgentStore(data)
    rows = store.vouchers()
    counters = [row.counter for row in rows]
    assert counters == list(range(1, len(rows) + 1))
    assert len({row.voucher_id for row in rows}) == len(rows)
    assert set(acknowledged) <= set(counters)
    assert len(acknowledged) == len(set(acknowledged))
    previous = GENESIS
    for row in rows:
        voucher, digest = open_voucher(row.signed, ed25519_public_raw(key))
        assert voucher.prev_hash == previous
        assert row.hash == digest
        previous = digest
    assert store.chain_head() == (len(rows), previous)
    store.close()
