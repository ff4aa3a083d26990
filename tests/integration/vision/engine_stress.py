"""Child process of test_engine_concurrency: one shared `DlibFaceEngine`, many threads.

Run as `python engine_stress.py IMAGES_DIR THREADS CALLS`. Each thread makes CALLS mixed calls
(detect with landmarks, embed of a face found earlier) on real photos of different sizes; every
answer is compared with the one the same engine gave single-threaded first. Prints one JSON line
with the counts; exits 0 only if every answer matched. A data race in a native extension shows
up as this process dying (SIGSEGV / SIGABRT), which the parent test reports.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from facepay.vision.dlib_engine import DlibFaceEngine  # noqa: E402
from facepay.vision.image import load_image  # noqa: E402
from facepay.vision.types import Face, RGBImage  # noqa: E402

SIDES = (320, 352, 300, 336)


def frames(engine: DlibFaceEngine, images: Path) -> list[RGBImage]:
    """A square crop around the face of a few real photos, each scaled to another kiosk size
    (the face fills the frame, as at a kiosk: one detector pass per call)."""
    found: list[RGBImage] = []
    names = ("obama.jpg", "biden.jpg", "obama2.jpg", "obama3.jpg")
    for side, name in zip(SIDES, names, strict=True):
        photo = load_image(images / name)
        box = engine.detect(photo)[0].box
        half = max(box.width, box.height)
        cx, cy = (box.left + box.right) // 2, (box.top + box.bottom) // 2
        top, left = max(cy - half, 0), max(cx - half, 0)
        crop = photo[top : top + 2 * half, left : left + 2 * half]
        found.append(np.ascontiguousarray(cv2.resize(crop, (side, side))))
    return found


def main() -> int:
    """Stress the engine; 0 when every concurrent answer equals the single-threaded one."""
    images, threads, calls = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    engine = DlibFaceEngine()
    pictures = frames(engine, images)
    reference: list[tuple[list[Face], np.ndarray]] = []
    for picture in pictures:
        faces = engine.detect(picture)
        assert faces, "every stress picture shows a face"
        reference.append((faces, engine.embed(picture, faces[0])))
    mismatches: list[str] = []
    done = [0]
    lock = threading.Lock()

    def work(seed: int) -> None:
        for call in range(calls):
            index = (seed + call) % len(pictures)
            picture = pictures[index]
            faces, embedding = reference[index]
            if (seed + call) % 2 == 0:
                got = engine.detect(picture)
                same = [f.box for f in got] == [f.box for f in faces] and all(
                    np.array_equal(a.landmarks, b.landmarks)
                    for a, b in zip(got, faces, strict=True)
                )
            else:
                same = bool(np.allclose(engine.embed(picture, faces[0]), embedding, atol=1e-6))
            with lock:
                done[0] += 1
                if not same:
                    mismatches.append(f"thread {seed} call {call} picture {index}")

    workers = [threading.Thread(target=work, args=(seed,)) for seed in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(json.dumps({"calls": done[0], "mismatches": mismatches[:10]}))
    return 0 if done[0] == threads * calls and not mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
