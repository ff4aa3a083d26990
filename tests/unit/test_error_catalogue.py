"""The error-code catalogue: every code in src has a meaning, every meaning has a code, the
statuses read from the source are the ones the API answers with, and docs/errors.md is current."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import re
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from facepay.api.problems import status_of
from facepay.shared import error_catalogue
from facepay.shared.error_catalogue import (
    MEANINGS,
    RAW_PROBLEM,
    TEMPLATES,
    Scan,
    render_markdown,
    scan_source,
)
from facepay.shared.errors import FacepayError

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "src" / "facepay"
SCRIPT = REPO / "scripts" / "error-codes"


@pytest.fixture(scope="module")
def scan() -> Scan:
    return scan_source(SOURCE)


def _script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("error_codes_script", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_every_code_in_the_source_has_a_meaning(scan: Scan) -> None:
    missing = sorted(set(scan.codes) - set(MEANINGS))
    assert not missing, f"add a sentence to MEANINGS in error_catalogue.py for {missing}"


def test_no_meaning_for_a_code_that_no_longer_exists(scan: Scan) -> None:
    gone = sorted(set(MEANINGS) - set(scan.codes))
    assert not gone, f"remove {gone} from MEANINGS: nothing raises them any more"


def test_meanings_are_one_plain_sentence_each() -> None:
    for code, meaning in MEANINGS.items():
        assert meaning.strip() == meaning, code
        assert meaning.endswith("."), code
        assert "\n" not in meaning, code
        assert not re.search(r"\. [A-Z]", meaning.replace("e.g. ", "")), (
            f"{code}: one sentence, please"
        )


def test_every_code_argument_is_readable(scan: Scan) -> None:
    assert not scan.unresolved, (
        f"the scanner cannot tell which code these pass: {list(scan.unresolved)}; "
        "use a string literal or a module constant"
    )


def test_every_template_lists_the_codes_it_makes(scan: Scan) -> None:
    assert set(scan.templates) == set(TEMPLATES)


def test_the_codes_the_issue_named_are_found(scan: Scan) -> None:
    # One of each way a code is written: class default, keyword, helper, constant, f-string,
    # raw problem with a literal status, raw problem from a status table.
    expected = {
        "storage_busy": ("StorageBusy", 503),
        "not_insured": ("NotFound", 404),
        "bad_signature": ("Unauthorized", 401),
        "token_expired": ("Unauthorized", 401),
        "duplicate_face": ("Conflict", 409),
        "bill_refunded": ("Conflict", 409),
        "liveness_spoof": ("LivenessRefused", 422),
        "busy": (RAW_PROBLEM, 503),
        "method_not_allowed": (RAW_PROBLEM, 405),
    }
    for code, (error, status) in expected.items():
        use = scan.codes[code]
        assert error in use.classes, code
        assert status in use.statuses, code


def test_statuses_are_the_ones_the_api_answers_with(scan: Scan) -> None:
    for name, module_name in scan.error_classes.items():
        error = getattr(importlib.import_module(module_name), name)
        assert issubclass(error, FacepayError)
        instance = error.__new__(error)
        for use in scan.codes.values():
            if name in use.classes and use.classes == (name,):
                assert use.statuses == (status_of(instance),), use.code


def test_docs_errors_md_is_current(scan: Scan) -> None:
    # The module's scan is the script's (one scan of the source costs seconds).
    assert (REPO / "docs" / "errors.md").read_text(encoding="utf-8") == render_markdown(scan), (
        "docs/errors.md is stale: run `.venv/bin/python scripts/error-codes`"
    )
    assert _script().main(["--check"]) == 0


def test_the_table_has_a_row_per_code(scan: Scan) -> None:
    rows = [line for line in render_markdown(scan).splitlines() if line.startswith("| `")]
    assert len(rows) == len(scan.codes)


def test_scanner_reads_each_way_of_writing_a_code(tmp_path: Path) -> None:
    package = tmp_path / "facepay"
    (package / "api").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "api" / "__init__.py").write_text("")
    (package / "errors.py").write_text(
        textwrap.dedent(
            """
            SHARED = "from_constant"

            class FacepayError(Exception):
                code = "base"

            class Refused(FacepayError):
                code = "refused"

            class Busy(FacepayError):
                code = "busy_default"

                def __init__(self, state):
                    super().__init__("busy", code=f"busy_{state}")
            """
        )
    )
    (package / "api" / "problems.py").write_text(
        textwrap.dedent(
            """
            from facepay.errors import Busy, Refused

            STATUS_BY_ERROR = ((Busy, 503), (Refused, 403))

            def _fail(code, message):
                return Refused(message, code=code)

            def problem_response(status, code, detail=""):
                return (status, code, detail)
            """
        )
    )
    (package / "use.py").write_text(
        textwrap.dedent(
            """
            from facepay.api.problems import problem_response
            from facepay.errors import SHARED, Refused

            def _fail(code, message):
                return Refused(message, code=code)

            def run(flag, exc, name):
                Refused("x", code="literal")
                Refused("x", code=SHARED)
                Refused("x", code="yes" if flag else "no")
                raise _fail("by_helper", "x")

            def answer(exc, name):
                code = {404: "gone", 405: "wrong_method"}.get(exc.status, "other")
                problem_response(exc.status, code)
                problem_response(413, "too_big")
                problem_response(500, exc.code)
                Refused("x", code=name.upper())
            """
        )
    )
    found = scan_source(package)
    assert set(found.codes) == {
        "base",
        "refused",
        "busy_default",
        "literal",
        "from_constant",
        "yes",
        "no",
        "by_helper",
        "gone",
        "wrong_method",
        "other",
        "too_big",
    }
    assert found.codes["literal"].statuses == (403,)
    assert found.codes["busy_default"].statuses == (503,)
    assert found.codes["base"].statuses == (400,)  # not in the table: status_of's fallback
    assert found.codes["gone"].statuses == (404,)
    assert found.codes["other"].statuses == ()
    assert found.codes["too_big"].classes == (RAW_PROBLEM,)
    assert found.codes["by_helper"].files == ("facepay/use.py",)
    assert set(found.templates) == {"busy_{}"}
    assert found.unresolved == ("facepay/use.py:19",)


def test_package_root_is_this_installation() -> None:
    assert (error_catalogue.package_root() / "shared" / "error_catalogue.py").is_file()
