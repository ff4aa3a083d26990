"""LFW pairs parsing and the error-rate arithmetic, on small hand-made inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facepay.shared.errors import InvalidInput
from facepay.vision.lfw import ImageRef, read_pairs
from facepay.vision.metrics import at_fmr, equal_error_rate, kfold_accuracy, rates


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pairs.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_view2_header_assigns_folds(tmp_path: Path) -> None:
    text = "2\t1\nA\t1\t2\nA\t1\tB\t3\nC\t2\t4\nC\t1\tD\t1\n"
    pairs = read_pairs(_write(tmp_path, text))
    assert [(p.same, p.fold) for p in pairs] == [(True, 0), (False, 0), (True, 1), (False, 1)]
    assert pairs[1].second == ImageRef("B", 3)
    assert pairs[1].second.path(Path("/lfw")) == Path("/lfw/B/B_0003.jpg")


def test_no_header_or_count_header_splits_into_ten_folds(tmp_path: Path) -> None:
    lines = "".join(f"A\t{i}\t{i + 1}\n" for i in range(1, 21))
    for text in (lines, "20\n" + lines):
        pairs = read_pairs(_write(tmp_path, text))
        assert len(pairs) == 20
        assert sorted({p.fold for p in pairs}) == list(range(10))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("10\t300\nA\t1\t2\n", "header promises"),
        ("A\t1\n", "expected `name n1 n2`"),
        ("A\tone\ttwo\n", "expected `name n1 n2`"),
        ("\n\n", "no pairs"),
    ],
)
def test_bad_pairs_files_are_refused(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle):
        read_pairs(_write(tmp_path, text))


def test_missing_pairs_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        read_pairs(tmp_path / "nope.txt")


GENUINE = np.array([0.95, 0.97, 0.99, 0.90])
IMPOSTOR = np.array([0.50, 0.60, 0.70, 0.80, 0.85, 0.91, 0.40, 0.30, 0.20, 0.10])


def test_rates_count_at_or_above_as_match() -> None:
    assert rates(GENUINE, IMPOSTOR, 0.91) == (0.1, 0.25)
    assert rates(GENUINE, IMPOSTOR, 0.92) == (0.0, 0.25)


def test_at_fmr_sits_just_above_the_excluded_impostor() -> None:
    point = at_fmr(GENUINE, IMPOSTOR, 0.1)
    assert point.fmr <= 0.1
    assert point.threshold == pytest.approx(0.85, abs=1e-9)
    assert point.threshold > 0.85
    assert (point.fnmr, point.resolvable) == (0.0, True)
    strict = at_fmr(GENUINE, IMPOSTOR, 1e-3)
    assert (strict.fmr, strict.fnmr, strict.resolvable) == (0.0, 0.25, False)


def test_equal_error_rate_of_separable_and_overlapping_scores() -> None:
    eer, threshold = equal_error_rate(np.array([0.9, 0.95]), np.array([0.1, 0.2]))
    assert eer == 0.0
    assert 0.2 < threshold < 0.9
    eer, _ = equal_error_rate(GENUINE, IMPOSTOR)
    assert 0.0 < eer <= 0.25


def test_kfold_accuracy_picks_thresholds_on_the_other_folds() -> None:
    scores = np.array([0.9, 0.2, 0.8, 0.3, 0.95, 0.1, 0.85, 0.4])
    same = np.array([True, False] * 4)
    folds = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    mean, std, thresholds = kfold_accuracy(scores, same, folds)
    assert (mean, std) == (1.0, 0.0)
    assert len(thresholds) == 4
    assert all(0.4 < t < 0.8 for t in thresholds)


def test_one_fold_gives_single_threshold_figures_and_says_so() -> None:
    # A valid LFW file of one fold ("1\t2" header): there are no other folds to train on.
    scores = np.array([0.9, 0.8, 0.3, 0.2])
    same = np.array([True, True, False, False])
    mean, std, thresholds = kfold_accuracy(scores, same, np.zeros(4, dtype=int))
    assert (mean, std) == (1.0, 0.0)
    assert len(thresholds) == 1
    assert 0.3 < thresholds[0] < 0.8


def test_a_one_fold_pairs_file_is_read(tmp_path: Path) -> None:
    pairs = read_pairs(_write(tmp_path, "1\t1\nA\t1\t2\nA\t1\tB\t1\n"))
    assert [p.fold for p in pairs] == [0, 0]
