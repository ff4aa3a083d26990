"""Searches running while other threads enrol and remove: no error, no lost or ghost template."""

from __future__ import annotations

import threading

from facepay.gallery.ports import Gallery

from .conftest import ids, unit_vectors


def test_concurrent_search_add_and_remove(gallery: Gallery) -> None:
    rows = unit_vectors(400, seed=2)
    gallery.add_many(ids(100, "base"), rows[:100])
    errors: list[BaseException] = []
    removed = {f"base-{i:04d}" for i in range(0, 100, 3)}
    done = threading.Event()

    def run(work: object) -> None:
        try:
            work()  # type: ignore[operator]
        except BaseException as exc:  # the test reports it below
            errors.append(exc)

    def enrol(offset: int) -> None:
        for i in range(offset, 300, 2):
            gallery.add(f"new-{i:04d}", rows[100 + i])

    def forget() -> None:
        for name in sorted(removed):
            gallery.remove(name)

    def search() -> None:
        while not done.is_set():
            hits = gallery.search(rows[5], 10)
            assert len(hits) == 10
            assert hits[0].template_id == "base-0005"

    searchers = [threading.Thread(target=run, args=(search,)) for _ in range(3)]
    writers = [threading.Thread(target=run, args=(lambda o=o: enrol(o),)) for o in (0, 1)]
    writers.append(threading.Thread(target=run, args=(forget,)))
    for t in searchers + writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    for t in searchers:
        t.join()

    assert errors == []
    assert len(gallery) == 400 - len(removed)
    assert not any(name in gallery for name in removed)
    hits = gallery.search(rows[3], 400)
    assert not removed & {h.template_id for h in hits}
