"""Face engine latency on ONE core: model load, detect, embed and total per 640×480 frame.

Run: .venv/bin/python bench/face.py [--repeat N]   (pins itself to CPU 0; `make bench` runs it)

Two kinds of frames are made from the real sample photos:
- kiosk: a 640×480 crop with the face 160-260 px wide, as a kiosk camera sees the patient at
  arm's length. This is the case the < 250 ms target is about (one cheap HOG pass).
- letterboxed: the whole photo shrunk into 640×480, faces 60-130 px wide, which needs dlib's
  upsampled HOG pass (about four times the detection cost).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core: no BLAS or OpenMP thread pools
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import cv2  # noqa: E402 - imported after pinning so that thread pools see one core
import numpy as np  # noqa: E402

from facepay.bootstrap import build_face_engine, load_settings  # noqa: E402
from facepay.vision.dlib_engine import DlibFaceEngine  # noqa: E402
from facepay.vision.image import load_image  # noqa: E402
from facepay.vision.quality import assess_frame  # noqa: E402
from facepay.vision.types import RGBImage  # noqa: E402

IMAGES = Path(__file__).resolve().parent.parent / ".test-data" / "images"
KIOSK = {
    "obama.jpg": 200,
    "obama2.jpg": 240,
    "obama3.jpg": 180,
    "biden.jpg": 220,
    "Tom_Hanks_54745.png": 160,
    "obama_partial_face2.jpg": 260,
}
LETTERBOX = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")


def kiosk_frame(image: RGBImage, box: tuple[int, int, int, int], face_px: int) -> RGBImage:
    """Scale so the face is `face_px` wide and cut 640×480 around it (edge-padded if needed)."""
    left, top, right, bottom = box
    scale = face_px / (right - left)
    resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    padded = cv2.copyMakeBorder(resized, 480, 480, 640, 640, cv2.BORDER_REPLICATE)
    cx = round((left + right) / 2 * scale) + 640
    cy = round((top + bottom) / 2 * scale) + 480
    return np.ascontiguousarray(padded[cy - 240 : cy + 240, cx - 320 : cx + 320])


def letterbox(image: RGBImage) -> RGBImage:
    """The whole photo fitted into a black 640×480 frame."""
    h, w = image.shape[:2]
    scale = min(640 / w, 480 / h)
    small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    frame = np.zeros((480, 640, 3), dtype=np.uint8)
    y, x = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
    frame[y : y + small.shape[0], x : x + small.shape[1]] = small
    return frame


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank), in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000


def run(engine: object, frames: list[RGBImage], repeat: int) -> dict[str, list[float]]:
    """Time detect, embed (largest face) and the quality gate on every frame, `repeat` times."""
    times: dict[str, list[float]] = {"detect": [], "embed": [], "quality": [], "total": []}
    for _ in range(repeat):
        for frame in frames:
            t0 = time.perf_counter()
            faces = engine.detect(frame)  # type: ignore[attr-defined]
            t1 = time.perf_counter()
            engine.embed(frame, faces[0])  # type: ignore[attr-defined]
            t2 = time.perf_counter()
            assess_frame(frame, faces)
            t3 = time.perf_counter()
            times["detect"].append(t1 - t0)
            times["embed"].append(t2 - t1)
            times["quality"].append(t3 - t2)
            times["total"].append(t3 - t0)
    return times


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    t0 = time.perf_counter()
    engine = build_face_engine(load_settings())
    load_s = time.perf_counter() - t0
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"CPU affinity {sorted(os.sched_getaffinity(0))}, cv2 threads {cv2.getNumThreads()}")
    print(f"machine load average {load} (other processes on this core inflate the figures)")
    print(f"model load: {load_s * 1000:.0f} ms")
    kiosk, boxed = [], []
    for name, face_px in KIOSK.items():
        image = load_image(IMAGES / name)
        box = engine.detect(image)[0].box
        kiosk.append(kiosk_frame(image, (box.left, box.top, box.right, box.bottom), face_px))
    for name in LETTERBOX:
        boxed.append(letterbox(load_image(IMAGES / name)))
    reference = DlibFaceEngine(embed_backend="dlib")
    dlib_times = []
    for frame in kiosk * 3:
        face = engine.detect(frame)[0]
        t = time.perf_counter()
        reference.embed(frame, face)
        dlib_times.append(time.perf_counter() - t)
    print(
        f"embed with dlib's own ResNet pass (for comparison): p50 {percentile(dlib_times, 50):.1f}"
        f" ms, p95 {percentile(dlib_times, 95):.1f} ms"
    )
    for label, frames in (("kiosk 640x480", kiosk), ("letterboxed 640x480", boxed)):
        sizes = [engine.detect(f)[0].box.width for f in frames]
        times = run(engine, frames, args.repeat)
        print(f"\n{label}: {len(frames)} frames x {args.repeat}, face widths {sizes} px")
        for key, values in times.items():
            p50, p95 = percentile(values, 50), percentile(values, 95)
            mean = statistics.mean(values) * 1000
            print(f"  {key:8s} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   mean {mean:6.1f} ms")


if __name__ == "__main__":
    main()
