"""The LFW `pairs.txt` format and folder layout.

`pairs.txt` may start with a header: `folds n` (10 folds of n matched then n mismatched pairs,
the View 2 layout) or a single count (the View 1 files). Matched lines read `name n1 n2`,
mismatched lines `name1 n1 name2 n2`; images live at `ROOT/name/name_%04d.jpg`. Without a
two-number header, pairs are split into 10 contiguous folds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from facepay.shared.errors import InvalidInput

DEFAULT_FOLDS = 10


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One image of an LFW-layout folder: a person's name and a 1-based number."""

    name: str
    number: int

    def path(self, root: Path) -> Path:
        """Where the image lives under `root`."""
        return root / self.name / f"{self.name}_{self.number:04d}.jpg"


@dataclass(frozen=True, slots=True)
class Pair:
    """Two images, whether they show the same person, and the fold the pair belongs to."""

    first: ImageRef
    second: ImageRef
    same: bool
    fold: int


def read_pairs(path: Path) -> list[Pair]:
    """Parse an LFW pairs file, or raise `InvalidInput` naming the bad line."""
    try:
        lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"cannot read pairs file {path}: {error}") from None
    numbered = [(i + 1, fields) for i, fields in enumerate(lines) if fields]
    per_fold: int | None = None
    folds = DEFAULT_FOLDS
    if numbered and all(f.isdigit() for f in numbered[0][1]) and len(numbered[0][1]) <= 2:
        header = [int(f) for f in numbered[0][1]]
        numbered = numbered[1:]
        if len(header) == 2:
            folds, n = header
            per_fold = 2 * n
            if folds * per_fold != len(numbered):
                msg = f"{path}: header promises {folds}×{per_fold} pairs, found {len(numbered)}"
                raise InvalidInput(msg)
    if not numbered:
        raise InvalidInput(f"{path}: no pairs")
    total = len(numbered)
    pairs = []
    for index, (line_no, fields) in enumerate(numbered):
        fold = index // per_fold if per_fold else index * folds // total
        pairs.append(_parse(fields, fold=fold, where=f"{path}:{line_no}"))
    return pairs


def _parse(fields: list[str], *, fold: int, where: str) -> Pair:
    try:
        if len(fields) == 3:
            name, a, b = fields
            return Pair(ImageRef(name, int(a)), ImageRef(name, int(b)), same=True, fold=fold)
        if len(fields) == 4:
            name1, a, name2, b = fields
            return Pair(ImageRef(name1, int(a)), ImageRef(name2, int(b)), same=False, fold=fold)
    except ValueError:
        pass
    msg = f"{where}: expected `name n1 n2` or `name1 n1 name2 n2`, got {' '.join(fields)!r}"
    raise InvalidInput(msg)


def write_pairs(path: Path, matched: list[Pair], mismatched: list[Pair], folds: int) -> None:
    """Write pairs in the View 2 layout: per fold, n matched lines then n mismatched lines."""
    n = len(matched) // folds
    if len(mismatched) // folds != n or n == 0:
        msg = "write_pairs needs equally many matched and mismatched pairs, at least one per fold"
        raise InvalidInput(msg)
    lines = [f"{folds}\t{n}"]
    for fold in range(folds):
        for pair in matched[fold * n : (fold + 1) * n]:
            lines.append(f"{pair.first.name}\t{pair.first.number}\t{pair.second.number}")
        for pair in mismatched[fold * n : (fold + 1) * n]:
            first, second = pair.first, pair.second
            lines.append(f"{first.name}\t{first.number}\t{second.name}\t{second.number}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
