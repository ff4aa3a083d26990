"""1:1 verification and multi-frame templates over L2-normalised embeddings.

Scores are cosine similarities in [-1, 1] (inner products of unit vectors). The default
threshold comes from `Settings.verify_threshold`; its calibration and the false-match rate it
corresponds to are documented in `facepay.vision.evaluation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facepay.shared.errors import InvalidInput
from facepay.vision.engine import FaceEngine
from facepay.vision.quality import QualityReport, assess_frame
from facepay.vision.types import Embedding, Face, RGBImage


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The answer to "are these the same person?"; JSON keys of `facepay face verify`."""

    match: bool
    score: float
    threshold: float
    model: str


@dataclass(frozen=True, slots=True)
class Probe:
    """The dominant face of a frame, its quality verdict and its embedding."""

    face: Face
    quality: QualityReport
    embedding: Embedding


class NoFaceFound(InvalidInput):
    """The image holds no face to embed."""

    code = "no_face"


def similarity(a: Embedding, b: Embedding) -> float:
    """Cosine similarity of two unit embeddings of the same model."""
    if a.shape != b.shape:
        msg = f"embeddings of different shapes {a.shape} and {b.shape} cannot be compared"
        raise InvalidInput(msg)
    return float(np.dot(a.astype(np.float64), b.astype(np.float64)))


def verify(a: Embedding, b: Embedding, *, threshold: float, model: str) -> VerifyResult:
    """Decide whether two embeddings belong to the same person (score >= threshold)."""
    score = similarity(a, b)
    return VerifyResult(match=score >= threshold, score=score, threshold=threshold, model=model)


def probe(engine: FaceEngine, image: RGBImage) -> Probe:
    """Detect, judge and embed the largest face of `image`; raise `NoFaceFound` if none."""
    faces = engine.detect(image)
    if not faces:
        raise NoFaceFound("no face found in the image")
    return Probe(
        face=faces[0], quality=assess_frame(image, faces), embedding=engine.embed(image, faces[0])
    )


def capture_embedding(engine: FaceEngine, frames: Sequence[RGBImage], *, count: int) -> Embedding:
    """Mean embedding of up to `count` good-quality frames spread over a capture's frames, the
    first and last first (liveness has detected and embedded exactly those: a caching engine
    answers from memory); one poor frame is the fallback when no frame is good."""
    last = len(frames) - 1
    spread = np.linspace(0, last, num=3 * count).round().astype(int).tolist()
    picks = list(dict.fromkeys([0, last, *spread]))
    embeddings: list[Embedding] = []
    fallback: list[Embedding] = []
    for index in picks:
        rgb = frames[int(index)]
        faces = engine.detect(rgb)
        if not faces:
            continue
        target = embeddings if assess_frame(rgb, faces).ok else fallback
        if target is fallback and fallback:
            continue  # one poor frame is enough of a fallback
        target.append(engine.embed(rgb, faces[0]))
        if len(embeddings) >= count:
            break
    chosen = embeddings or fallback
    if not chosen:
        raise NoFaceFound("no face found in the capture")
    return build_template(chosen)


def build_template(embeddings: Sequence[Embedding]) -> Embedding:
    """Mean of several normalised embeddings of one person, renormalised (multi-frame template).

    Averaging cancels part of the per-frame noise (expression, light, pose), so a template from
    several good frames sits nearer the person's centre than any single frame; see the FNMR
    comparison in `facepay.vision.evaluation.template_gain`.
    """
    if not embeddings:
        raise InvalidInput("a template needs at least one embedding")
    stacked = np.stack([np.asarray(e, dtype=np.float64) for e in embeddings])
    if stacked.ndim != 2:
        raise InvalidInput("embeddings must be 1-D vectors of one length")
    norms = np.linalg.norm(stacked, axis=1, keepdims=True)
    if np.any(norms == 0.0):
        raise InvalidInput("an embedding is the zero vector")
    mean = (stacked / norms).mean(axis=0)
    length = float(np.linalg.norm(mean))
    if length < 1e-6:
        raise InvalidInput("the embeddings cancel out: they cannot be one person")
    result: Embedding = (mean / length).astype(np.float32)
    return result
