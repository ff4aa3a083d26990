"""Evaluation of the face engine on LFW-format pairs, and the multi-frame template experiment.

Calibration of the default thresholds (Settings.verify_threshold / identify_threshold = 0.93),
from `facepay eval pairs .test-data/lfw-sample/pairs.txt --root .test-data/lfw-sample` on the set
built by `scripts/sample-pairs` (76 images of 9 people from the real sample photos: crops, small
rotations, brightness changes, JPEG recompression, mild blur): 350 matched + 350 mismatched pairs,
no failure to enrol, 10-fold accuracy 1.000, EER 0 with the best-accuracy threshold 0.931. Over
all 2,492 impostor comparisons of the 76 images the highest score is 0.920 (two men side by side
in t1.jpg) and the lowest genuine score 0.944 (obama2 against obama3 variants). At 0.93 the set
shows FMR 0 (at most 1.2e-3 at 95 % confidence by the rule of three over 2,492 comparisons) and
FNMR 0; FMR = 1e-2 on the 350 pairs is reached at 0.913. For 1:N, the chance of a false match
grows with the gallery size (FPIR ≈ N × FMR), hence the ambiguity band and margin that send
borderline results to a second factor.

This tiny set proves that the code computes the protocol correctly; it says little about field
accuracy: 9 people (only 36 distinct pairs of people, so impostor comparisons are far from
independent and the rule-of-three bound is optimistic), variants of the same photographs (genuine
pairs are easier than real ones), and 350 impostor pairs cannot resolve FMR = 1e-3
(`resolvable: false`). Multi-frame templates (3 frames of one photo, probed with the other Obama
photos) lower FNMR at the stricter thresholds where single frames start to fail: 5.0 % → 2.5 % at
0.95, 34 % → 29 % at 0.96 (`template_gain`; none fail at 0.93 either way). For a real figure, point
`--root` at LFW itself (13,233 images, 6,000 pairs) or, better, at photos from the target kiosks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from facepay.shared.errors import InvalidInput
from facepay.vision.engine import FaceEngine
from facepay.vision.image import load_image
from facepay.vision.lfw import ImageRef, Pair
from facepay.vision.metrics import (
    OperatingPoint,
    accuracy_protocol,
    at_fmr,
    best_accuracy_threshold,
    equal_error_rate,
    kfold_accuracy,
    rates,
)
from facepay.vision.types import Embedding
from facepay.vision.verification import build_template

Progress = Callable[[int], None]
FMR_TARGETS = (1e-2, 1e-3)


@dataclass(frozen=True, slots=True)
class PairsReport:
    """What `facepay eval pairs` prints (JSON keys are these field names)."""

    model: str
    pairs: int
    matched_pairs: int
    mismatched_pairs: int
    images: int
    failures_to_enrol: int
    pairs_evaluated: int
    accuracy: float
    accuracy_std: float
    accuracy_protocol: str
    best_threshold: float
    fold_thresholds: list[float]
    eer: float
    eer_threshold: float
    fnmr_at_fmr: dict[str, OperatingPoint]
    threshold: float
    fmr_at_threshold: float
    fnmr_at_threshold: float

    def to_json(self) -> dict[str, object]:
        """A plain dict for `json.dumps`."""
        return asdict(self)


def embed_images(
    engine: FaceEngine, paths: Iterable[Path], *, progress: Progress | None = None
) -> dict[Path, Embedding | None]:
    """Embed the largest face of each image; None marks a failure to enrol (bad image, no face)."""
    result: dict[Path, Embedding | None] = {}
    for path in paths:
        result[path] = _embed_one(engine, path)
        if progress is not None:
            progress(1)
    return result


def _embed_one(engine: FaceEngine, path: Path) -> Embedding | None:
    try:
        image = load_image(path)
    except InvalidInput:
        return None
    faces = engine.detect(image)
    return engine.embed(image, faces[0]) if faces else None


def evaluate_pairs(
    pairs: Sequence[Pair],
    embeddings: dict[Path, Embedding | None],
    *,
    root: Path,
    model: str,
    threshold: float,
) -> PairsReport:
    """Score every pair whose two images enrolled and compute the LFW-style report."""
    scores, same, folds = [], [], []
    for pair in pairs:
        a, b = embeddings.get(pair.first.path(root)), embeddings.get(pair.second.path(root))
        if a is None or b is None:
            continue
        scores.append(float(np.dot(a.astype(np.float64), b.astype(np.float64))))
        same.append(pair.same)
        folds.append(pair.fold)
    s, y = np.array(scores), np.array(same, dtype=bool)
    genuine, impostor = s[y], s[~y]
    if genuine.size == 0 or impostor.size == 0:
        raise InvalidInput("need at least one matched and one mismatched pair that enrolled")
    accuracy, accuracy_std, fold_thresholds = kfold_accuracy(s, y, np.array(folds))
    eer, eer_threshold = equal_error_rate(genuine, impostor)
    fmr, fnmr = rates(genuine, impostor, threshold)
    return PairsReport(
        model=model,
        pairs=len(pairs),
        matched_pairs=sum(p.same for p in pairs),
        mismatched_pairs=sum(not p.same for p in pairs),
        images=len(embeddings),
        failures_to_enrol=sum(e is None for e in embeddings.values()),
        pairs_evaluated=len(scores),
        accuracy=accuracy,
        accuracy_std=accuracy_std,
        accuracy_protocol=accuracy_protocol(np.array(folds)),
        best_threshold=best_accuracy_threshold(s, y),
        fold_thresholds=fold_thresholds,
        eer=eer,
        eer_threshold=eer_threshold,
        fnmr_at_fmr={f"{t:g}": at_fmr(genuine, impostor, t) for t in FMR_TARGETS},
        threshold=threshold,
        fmr_at_threshold=fmr,
        fnmr_at_threshold=fnmr,
    )


def pair_images(pairs: Iterable[Pair], root: Path) -> list[Path]:
    """Every distinct image path the pairs refer to, in first-seen order."""
    seen: dict[Path, None] = {}
    for pair in pairs:
        seen.setdefault(pair.first.path(root))
        seen.setdefault(pair.second.path(root))
    return list(seen)


@dataclass(frozen=True, slots=True)
class TemplateGain:
    """Single-frame versus multi-frame enrolment at one threshold (same probes for both)."""

    frames: int
    threshold: float
    genuine_trials_single: int
    genuine_trials_template: int
    fnmr_single: float
    fnmr_template: float
    mean_genuine_single: float
    mean_genuine_template: float
    fmr_single: float
    fmr_template: float
    fnmr_curve: list[tuple[float, float, float]]
    """(threshold, FNMR single frame, FNMR template) at stricter thresholds: the gain shows where
    genuine scores thin out, which on an easy set happens above the operating threshold."""


CURVE_THRESHOLDS = (0.93, 0.94, 0.95, 0.96, 0.97, 0.98)


def template_gain(
    samples: Sequence[tuple[ImageRef, str, Embedding]], *, threshold: float, frames: int = 3
) -> TemplateGain:
    """Enrol from `frames` images of one source photo (one session); probe with other photos.

    `samples` are (image, source photo, embedding). For every identity and source with at least
    `frames` images, a template of the first `frames` is compared with every image of the same
    identity from other sources (genuine) and of other identities (impostor); each of those
    frames alone is compared with the same probes, which is the single-frame baseline.
    """
    single_g: list[float] = []
    template_g: list[float] = []
    single_i: list[float] = []
    template_i: list[float] = []
    groups: dict[tuple[str, str], list[Embedding]] = {}
    for ref, source, embedding in samples:
        groups.setdefault((ref.name, source), []).append(embedding)
    for (name, source), members in groups.items():
        if len(members) < frames:
            continue
        enrol = members[:frames]
        template = build_template(enrol)
        for ref, other_source, probe in samples:
            if ref.name == name and other_source == source:
                continue
            genuine = ref.name == name
            (template_g if genuine else template_i).append(float(np.dot(template, probe)))
            (single_g if genuine else single_i).extend(float(np.dot(e, probe)) for e in enrol)
    if not template_g:
        raise InvalidInput("no identity has enough frames of one source and other sources")
    g1, gt, i1, it = (np.array(x) for x in (single_g, template_g, single_i, template_i))
    fmr1, fnmr1 = rates(g1, i1, threshold)
    fmrt, fnmrt = rates(gt, it, threshold)
    curve = [(t, rates(g1, i1, t)[1], rates(gt, it, t)[1]) for t in CURVE_THRESHOLDS]
    return TemplateGain(
        frames=frames,
        threshold=threshold,
        genuine_trials_single=g1.size,
        genuine_trials_template=gt.size,
        fnmr_single=fnmr1,
        fnmr_template=fnmrt,
        mean_genuine_single=float(g1.mean()),
        mean_genuine_template=float(gt.mean()),
        fmr_single=fmr1,
        fmr_template=fmrt,
        fnmr_curve=curve,
    )


__all__ = ["OperatingPoint", "PairsReport", "TemplateGain", "evaluate_pairs", "template_gain"]
