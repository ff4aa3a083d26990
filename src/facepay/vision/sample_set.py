"""A small LFW-layout evaluation set built from the real sample photos (scripts/sample-pairs).

Identities: Barack_Obama (5 real photos), Joe_Biden, Tom_Hanks and the six people of t1.jpg
(`t1_person_1` … `_6`, left to right). Each source photo yields variants a capture really
produces: different crops, small rotations, dimmer/brighter light, JPEG recompression, mild blur,
a mirror image and a smaller, wider shot. `sources.tsv` records which photo every image came from
(the multi-frame template experiment enrols from one photo and probes with the others).
Everything is deterministic: the same photos give the same files and pairs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np

from facepay.vision.engine import FaceEngine
from facepay.vision.image import load_image
from facepay.vision.lfw import ImageRef, Pair, write_pairs
from facepay.vision.types import BoundingBox, RGBImage

FOLDS = 10
SOURCES: dict[str, tuple[str, ...]] = {
    "Barack_Obama": (
        "obama.jpg",
        "obama2.jpg",
        "obama3.jpg",
        "obama_partial_face.jpg",
        "obama_partial_face2.jpg",
    ),
    "Joe_Biden": ("biden.jpg",),
    "Tom_Hanks": ("Tom_Hanks_54745.png",),
}
GROUP_PHOTO = "t1.jpg"
GROUP_SIZE = 6
Variant = Callable[[RGBImage, BoundingBox], RGBImage]


@dataclass(frozen=True, slots=True)
class SampleSet:
    """Where the set was written and what it holds."""

    root: Path
    pairs_file: Path
    images: int
    identities: int
    matched: int
    mismatched: int


def _crop(image: RGBImage, box: BoundingBox, margin: float, shift: float = 0.0) -> RGBImage:
    pad = margin * box.width
    dx = shift * box.width
    left = max(round(box.left - pad + dx), 0)
    right = min(round(box.right + pad + dx), image.shape[1])
    top = max(round(box.top - pad * 1.2), 0)
    bottom = min(round(box.bottom + pad), image.shape[0])
    return np.ascontiguousarray(image[top:bottom, left:right])


def _rotate(image: RGBImage, degrees: float) -> RGBImage:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)  # type: ignore[return-value]


def _gain(image: RGBImage, factor: float) -> RGBImage:
    result: RGBImage = np.clip(image.astype(np.float32) * factor, 0, 255).astype(np.uint8)
    return result


def _jpeg(image: RGBImage, quality: int) -> RGBImage:
    ok, data = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert ok
    assert decoded is not None
    result: RGBImage = np.ascontiguousarray(decoded[:, :, ::-1]).astype(np.uint8)
    return result


def _blur(image: RGBImage, box: BoundingBox) -> RGBImage:
    sigma = max(box.width / 200.0, 0.6)  # "mild": about 1.4 px on a 280 px face
    return cv2.GaussianBlur(image, (0, 0), sigma)  # type: ignore[return-value]


def _smaller(image: RGBImage) -> RGBImage:
    h, w = image.shape[:2]
    size = (max(round(w * 0.6), 16), max(round(h * 0.6), 16))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)  # type: ignore[return-value]


VARIANTS: tuple[Variant, ...] = (
    lambda im, b: _crop(im, b, 0.7),
    lambda im, b: _rotate(_crop(im, b, 0.9), 7.0),
    lambda im, b: _jpeg(_gain(_crop(im, b, 0.8), 0.7), 40),
    lambda im, b: _blur(_crop(im, b, 0.75, shift=0.1), b),
    lambda im, b: _gain(_rotate(_crop(im, b, 0.85), -6.0), 1.25),
    lambda im, b: _jpeg(np.ascontiguousarray(_crop(im, b, 0.7)[:, ::-1]), 60),
    lambda im, b: _smaller(_crop(im, b, 1.5)),
)
VARIANTS_PER_PHOTO_OF_MANY = 4


def _sources(engine: FaceEngine, images_dir: Path) -> list[tuple[str, str, RGBImage, BoundingBox]]:
    """(identity, source photo, image, face box) for every source face."""
    found = []
    for name, files in SOURCES.items():
        for file in files:
            image = load_image(images_dir / file)
            faces = engine.detect(image)
            if not faces:
                msg = f"no face found in {file}"
                raise RuntimeError(msg)
            found.append((name, file, image, faces[0].box))
    group = load_image(images_dir / GROUP_PHOTO)
    faces = engine.detect(group)[:GROUP_SIZE]
    faces.sort(key=lambda f: f.box.left + f.box.right)
    for index, face in enumerate(faces, start=1):
        found.append((f"t1_person_{index}", f"{GROUP_PHOTO}#{index}", group, face.box))
    return found


def build_sample_set(engine: FaceEngine, images_dir: Path, root: Path) -> SampleSet:
    """Write the LFW-layout sample set (images, pairs.txt, sources.tsv) under `root`."""
    sources = _sources(engine, images_dir)
    photos_per_name: dict[str, int] = {}
    for name, *_ in sources:
        photos_per_name[name] = photos_per_name.get(name, 0) + 1
    refs: dict[str, list[ImageRef]] = {}
    source_lines = []
    for name, source, image, box in sources:
        many = photos_per_name[name] > 1
        variants = VARIANTS[:VARIANTS_PER_PHOTO_OF_MANY] if many else VARIANTS
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for variant in variants:
            ref = ImageRef(name, len(refs.setdefault(name, [])) + 1)
            refs[name].append(ref)
            out = variant(image, box)
            cv2.imwrite(str(ref.path(root)), out[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
            source_lines.append(f"{name}\t{ref.number}\t{source}")
    (root / "sources.tsv").write_text("\n".join(source_lines) + "\n", encoding="utf-8")
    matched, mismatched = _pairs(refs)
    pairs_file = root / "pairs.txt"
    write_pairs(pairs_file, matched, mismatched, FOLDS)
    return SampleSet(
        root=root,
        pairs_file=pairs_file,
        images=sum(len(v) for v in refs.values()),
        identities=len(refs),
        matched=len(matched),
        mismatched=len(mismatched),
    )


def _pairs(refs: dict[str, list[ImageRef]]) -> tuple[list[Pair], list[Pair]]:
    rng = random.Random(20240601)  # noqa: S311 - fixed seed: same photos, same pairs
    same = [Pair(a, b, True, 0) for images in refs.values() for a, b in combinations(images, 2)]
    names = sorted(refs)
    different = [
        Pair(a, b, False, 0)
        for n1, n2 in combinations(names, 2)
        for a in refs[n1]
        for b in refs[n2]
    ]
    rng.shuffle(same)
    rng.shuffle(different)
    per_fold = min(len(same), len(different)) // FOLDS
    return same[: per_fold * FOLDS], different[: per_fold * FOLDS]


def read_sources(root: Path) -> dict[ImageRef, str]:
    """The `sources.tsv` map of a sample set (empty when the folder has none, e.g. real LFW)."""
    path = root / "sources.tsv"
    if not path.exists():
        return {}
    result = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, number, source = line.split("\t")
        result[ImageRef(name, int(number))] = source
    return result
