"""Registration is one unit of work: a process killed at any moment leaves whole registrations.

Before, `register_insured_person` committed the person, the accounts and the opening credit in
three transactions, and a hospital was committed before its admin: three kill -9s left people
without accounts or opening credit (re-registering then answers 409, so they could never be
repaired) and hospitals without an admin.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

CHILD = Path(__file__).with_name("register_child.py")
OPENING_FEN = 12_345
KILLS = 4


def _kill_at_random(url: str, key_file: Path, start: int, rng: random.Random) -> int:
    """Start a registering child, let it work a random while, SIGKILL it; lines it printed."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), url, str(key_file), str(start)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Wait for the first completed registration (imports take a while), then a random moment.
    assert child.stdout is not None
    first = child.stdout.readline()
    assert first, child.stderr.read() if child.stderr else "child died"
    time.sleep(rng.uniform(0.0, 0.4))
    child.send_signal(signal.SIGKILL)
    out, _ = child.communicate(timeout=30)
    return 1 + len(out.splitlines())


def _partial_people(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.id, count(a.id), max(CASE WHEN a.kind = 'personal_account'"
                " THEN a.credits_posted - a.debits_posted END)"
                " FROM insured_persons p LEFT JOIN accounts a ON a.owner = p.id"
                " GROUP BY p.id"
            )
        ).all()
    return [
        f"{pid}: {n} accounts, {fen} fen" for pid, n, fen in rows if (n, fen) != (3, OPENING_FEN)
    ]


def _hospitals_without_admin(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT h.id FROM hospitals h LEFT JOIN staff_users s ON s.hospital_id = h.id"
                " GROUP BY h.id HAVING count(s.id) = 0"
            )
        ).all()
    return [r[0] for r in rows]


@pytest.mark.slow
def test_kill_minus_nine_leaves_no_partial_registration(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    rng = random.Random(20261201)
    key_file = tmp_path / "template.key"
    completed = sum(
        _kill_at_random(database_url, key_file, start, rng)
        for start in range(0, KILLS * 1000, 1000)
    )
    with engine.connect() as conn:
        people = conn.execute(text("SELECT count(*) FROM insured_persons")).scalar_one()
    assert people >= KILLS, f"only {people} people registered in {KILLS} runs ({completed} lines)"
    assert _partial_people(engine) == []
    assert _hospitals_without_admin(engine) == []
