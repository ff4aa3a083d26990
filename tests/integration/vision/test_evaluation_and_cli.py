"""The sample evaluation set, the LFW-protocol report and the `facepay face` / `eval` commands."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from facepay.cli import app
from facepay.commands import face as face_commands
from facepay.config import Settings
from facepay.vision.dlib_engine import DlibFaceEngine
from facepay.vision.evaluation import embed_images, evaluate_pairs, pair_images, template_gain
from facepay.vision.lfw import read_pairs
from facepay.vision.sample_set import SampleSet, build_sample_set, read_sources

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample_set(
    engine: DlibFaceEngine, images_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> SampleSet:
    return build_sample_set(engine, images_dir, tmp_path_factory.mktemp("lfw-sample"))


@pytest.fixture(scope="module")
def embeddings(engine: DlibFaceEngine, sample_set: SampleSet) -> dict[Path, object]:
    paths = pair_images(read_pairs(sample_set.pairs_file), sample_set.root)
    return embed_images(engine, paths)  # type: ignore[return-value]


@pytest.fixture
def runner(engine: DlibFaceEngine, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI with the session's engine (the commands build theirs through bootstrap)."""
    monkeypatch.setattr(face_commands, "build_face_engine", lambda settings: engine)
    return CliRunner()


def test_sample_set_has_the_lfw_layout(sample_set: SampleSet) -> None:
    assert (sample_set.identities, sample_set.images) == (9, 76)
    assert sample_set.matched == sample_set.mismatched == 350
    assert (sample_set.root / "Barack_Obama" / "Barack_Obama_0020.jpg").exists()
    assert (sample_set.root / "t1_person_6" / "t1_person_6_0007.jpg").exists()
    assert read_pairs(sample_set.pairs_file)[0].fold == 0


def test_report_on_the_sample_pairs(
    sample_set: SampleSet, embeddings: dict, settings: Settings
) -> None:
    pairs = read_pairs(sample_set.pairs_file)
    report = evaluate_pairs(
        pairs, embeddings, root=sample_set.root, model="dlib", threshold=settings.verify_threshold
    )
    assert (report.pairs, report.failures_to_enrol, report.pairs_evaluated) == (700, 0, 700)
    assert report.accuracy >= 0.99
    assert report.eer <= 0.01
    assert len(report.fold_thresholds) == 10
    assert report.fmr_at_threshold == 0.0
    assert report.fnmr_at_threshold <= 0.01
    assert report.fnmr_at_fmr["0.01"].resolvable
    assert not report.fnmr_at_fmr["0.001"].resolvable


def test_multi_frame_templates_lower_fnmr(
    sample_set: SampleSet, embeddings: dict, settings: Settings
) -> None:
    sources = read_sources(sample_set.root)
    samples = [(ref, src, embeddings[ref.path(sample_set.root)]) for ref, src in sources.items()]
    gain = template_gain(samples, threshold=settings.verify_threshold, frames=3)
    assert gain.mean_genuine_template > gain.mean_genuine_single
    assert all(template <= single for _, single, template in gain.fnmr_curve)
    assert any(template < single for _, single, template in gain.fnmr_curve)
    assert gain.fmr_template == 0.0


@pytest.mark.parametrize("folds", [2, 1])
def test_eval_pairs_command_prints_the_json_report(
    runner: CliRunner,
    sample_set: SampleSet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    folds: int,
) -> None:
    # Folds of 2 matched + 2 mismatched pairs keep the command's own embedding pass short; one
    # fold is a valid LFW file too (it used to end in an IndexError).
    lines = sample_set.pairs_file.read_text(encoding="utf-8").splitlines()[1:]
    subset = [f"{folds}\t2"]
    for fold in range(folds):
        block = lines[fold * 70 : (fold + 1) * 70]
        subset += block[:2] + block[35:37]
    root = tmp_path / "subset"
    for line in subset[1:]:
        fields = line.split("\t")
        for name, number in (
            (fields[0], fields[1]),
            (fields[-2 if len(fields) == 4 else 0], fields[-1]),
        ):
            src = sample_set.root / name / f"{name}_{int(number):04d}.jpg"
            (root / name).mkdir(parents=True, exist_ok=True)
            (root / name / src.name).write_bytes(src.read_bytes())
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text("\n".join(subset) + "\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the operator's own folder, not the repository
    result = runner.invoke(app, ["eval", "pairs", str(pairs_file), "--root", str(root), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["pairs"], report["matched_pairs"], report["failures_to_enrol"]) == (
        4 * folds,
        2 * folds,
        0,
    )
    assert len(report["fold_thresholds"]) == folds
    protocol = "single threshold" if folds == 1 else "2-fold cross-validation"
    assert report["accuracy_protocol"].startswith(protocol)
    assert set(report["fnmr_at_fmr"]) == {"0.01", "0.001"}
    assert report["accuracy"] == 1.0
    assert "template_gain" not in report  # no sources.tsv: not a sample set
    table = runner.invoke(app, ["eval", "pairs", str(pairs_file), "--root", str(root)])
    assert table.exit_code == 0
    assert protocol in table.stdout


def test_eval_pairs_refuses_bad_input(runner: CliRunner, tmp_path: Path) -> None:
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text("garbage line here\n", encoding="utf-8")
    result = runner.invoke(app, ["eval", "pairs", str(pairs_file), "--root", str(tmp_path)])
    assert result.exit_code == 2
    assert "expected `name n1 n2`" in result.stderr


def test_face_verify_json(runner: CliRunner, images_dir: Path) -> None:
    same = runner.invoke(
        app,
        ["face", "verify", str(images_dir / "obama.jpg"), str(images_dir / "obama3.jpg"), "--json"],
    )
    assert same.exit_code == 0, same.output
    body = json.loads(same.stdout)
    assert set(body) == {"match", "score", "threshold", "model"}
    assert body["match"] is True
    other = runner.invoke(
        app,
        ["face", "verify", str(images_dir / "obama.jpg"), str(images_dir / "biden.jpg"), "--json"],
    )
    assert other.exit_code == 1, other.output  # ran fine, and the answer is "no"
    assert json.loads(other.stdout)["match"] is False
    table = runner.invoke(
        app, ["face", "verify", str(images_dir / "obama.jpg"), str(images_dir / "biden.jpg")]
    )
    assert table.exit_code == 1
    assert "different people" in table.stdout


def test_face_detect_json(runner: CliRunner, images_dir: Path) -> None:
    result = runner.invoke(app, ["face", "detect", str(images_dir / "t1.jpg"), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert len(body["faces"]) == 6
    assert body["frame_reasons"][0] == "multiple_faces"
    # Faces are numbered from 1 as in the table, and each carries only its own verdict: the
    # frame's "multiple_faces" is the frame's, not the first face's.
    assert [face["face"] for face in body["faces"]] == [1, 2, 3, 4, 5, 6]
    assert all("multiple_faces" not in face["reasons"] for face in body["faces"])
    text = runner.invoke(app, ["face", "detect", str(images_dir / "t1.jpg")])
    assert "frame: multiple_faces" in text.stdout
    table = runner.invoke(app, ["face", "detect", str(images_dir / "obama.jpg")])
    assert table.exit_code == 0
    assert "1 face(s)" in table.stdout


def _bad_images(tmp_path: Path, images_dir: Path) -> dict[str, Path]:
    files = {
        "not_an_image.jpg": b"this is a text file, not a photo\n" * 20,
        "empty.jpg": b"",
        "truncated.jpg": (images_dir / "obama.jpg").read_bytes()[:40_000],
    }
    buffer = io.BytesIO()
    Image.new("L", (16, 16)).save(buffer, format="PNG")
    png = bytearray(buffer.getvalue())
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    png[16:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    files["bomb.png"] = bytes(png)
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(data)
    return paths


def test_bad_images_exit_2_with_a_clear_message(
    runner: CliRunner, tmp_path: Path, images_dir: Path
) -> None:
    for name, path in _bad_images(tmp_path, images_dir).items():
        for args in (["face", "detect", str(path)], ["face", "verify", str(path), str(path)]):
            result = runner.invoke(app, args)
            assert result.exit_code == 2, (name, result.output)
            assert "error:" in result.stderr
            assert "Traceback" not in result.output
            assert result.exception is None or isinstance(result.exception, SystemExit)


def test_verify_without_a_face_exits_2(runner: CliRunner, images_dir: Path) -> None:
    result = runner.invoke(
        app, ["face", "verify", str(images_dir / "obama.jpg"), str(images_dir / "mask_white.jpg")]
    )
    assert result.exit_code == 2
    assert "mask_white.jpg: no face" in result.stderr
    assert "obama.jpg" not in result.stderr  # the one with a face is not blamed


@pytest.mark.parametrize("command", [["face", "detect"], ["face", "verify"], ["eval", "pairs"]])
def test_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.stdout


def test_unusual_but_valid_images_are_read(
    runner: CliRunner, tmp_path: Path, images_dir: Path
) -> None:
    with Image.open(images_dir / "obama.jpg") as photo:
        rgb = photo.convert("RGB")
    rgb.convert("CMYK").save(tmp_path / "cmyk.jpg", format="JPEG", quality=90)
    grey16 = (np.asarray(rgb.convert("L")).astype(np.uint16) * 257).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "grey16.png", format="PNG")
    for path in (tmp_path / "cmyk.jpg", tmp_path / "grey16.png", images_dir / "32bit.png"):
        result = runner.invoke(app, ["face", "detect", str(path), "--json"])
        assert result.exit_code == 0, (path.name, result.output)
        assert len(json.loads(result.stdout)["faces"]) == 1, path.name
