"""Biometric error rates from genuine and impostor similarity scores (higher = more alike).

A comparison "matches" when its score is at or above the threshold. FMR is the share of
impostor comparisons that match, FNMR the share of genuine ones that do not (ISO/IEC 19795-1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Scores = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """FNMR at the threshold that keeps FMR at or under a target.

    `resolvable` is False when there are too few impostor comparisons to observe that FMR
    (fewer than 1/target): the threshold then only says "above every impostor score seen".
    """

    target_fmr: float
    threshold: float
    fmr: float
    fnmr: float
    resolvable: bool


def rates(genuine: Scores, impostor: Scores, threshold: float) -> tuple[float, float]:
    """(FMR, FNMR) at `threshold`."""
    fmr = float(np.mean(impostor >= threshold)) if impostor.size else 0.0
    fnmr = float(np.mean(genuine < threshold)) if genuine.size else 0.0
    return fmr, fnmr


def at_fmr(genuine: Scores, impostor: Scores, target: float) -> OperatingPoint:
    """The lowest threshold whose FMR is at most `target`, and the FNMR there."""
    ordered = np.sort(impostor)[::-1]
    allowed = int(np.floor(target * ordered.size + 1e-9))
    # Matching requires score >= threshold, so sit just above the first impostor to exclude.
    threshold = float(np.nextafter(ordered[allowed], np.inf)) if allowed < ordered.size else -1.0
    fmr, fnmr = rates(genuine, impostor, threshold)
    return OperatingPoint(
        target_fmr=target,
        threshold=threshold,
        fmr=fmr,
        fnmr=fnmr,
        resolvable=ordered.size * target >= 1.0,
    )


def equal_error_rate(genuine: Scores, impostor: Scores) -> tuple[float, float]:
    """(EER, threshold): where FMR and FNMR cross, read at the closest observed threshold."""
    candidates = _candidates(np.concatenate([genuine, impostor]))
    best = min(candidates, key=lambda t: abs(np.subtract(*rates(genuine, impostor, t))))
    fmr, fnmr = rates(genuine, impostor, best)
    return (fmr + fnmr) / 2.0, best


def best_accuracy_threshold(scores: Scores, same: NDArray[np.bool_]) -> float:
    """The threshold that classifies the most pairs right (middle of the best range)."""
    candidates = _candidates(scores)
    accuracy = np.array([np.mean((scores >= t) == same) for t in candidates])
    best = np.flatnonzero(accuracy == accuracy.max())
    return float((candidates[best[0]] + candidates[best[-1]]) / 2.0)


def kfold_accuracy(
    scores: Scores, same: NDArray[np.bool_], folds: NDArray[np.int_]
) -> tuple[float, float, list[float]]:
    """LFW protocol: per fold, pick the threshold on the other folds, test on this one.

    Returns the mean and standard deviation of the fold accuracies and the fold thresholds.
    A file of one fold has no other folds: then the one threshold is picked and measured on the
    same pairs (`accuracy_protocol` says so; that accuracy is optimistic).
    """
    if np.unique(folds).size < 2:
        threshold = best_accuracy_threshold(scores, same)
        return float(np.mean((scores >= threshold) == same)), 0.0, [threshold]
    accuracies: list[float] = []
    thresholds: list[float] = []
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        threshold = best_accuracy_threshold(scores[train], same[train])
        thresholds.append(threshold)
        accuracies.append(float(np.mean((scores[test] >= threshold) == same[test])))
    return float(np.mean(accuracies)), float(np.std(accuracies)), thresholds


def accuracy_protocol(folds: NDArray[np.int_]) -> str:
    """How `kfold_accuracy` measured accuracy for these fold labels, in words."""
    count = int(np.unique(folds).size)
    if count < 2:
        return "single threshold (one fold: chosen and measured on the same pairs, optimistic)"
    return f"{count}-fold cross-validation (each fold's threshold chosen on the other folds)"


def _candidates(scores: Scores) -> Scores:
    """Midpoints between distinct scores, plus one below and one above them all."""
    unique = np.unique(scores)
    middles = (unique[:-1] + unique[1:]) / 2.0
    return np.concatenate([[unique[0] - 1e-6], middles, [unique[-1] + 1e-6]])
