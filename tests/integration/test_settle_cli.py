"""`facepay settle` on the shipped policies and the §4 example files, through Typer's runner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facepay.cli import app

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "src" / "facepay" / "policies"
FIXTURES = ROOT / "tests" / "fixtures" / "insurance"
EMPLOYEE = POLICIES / "employee-2026.yaml"
RESIDENT = POLICIES / "resident-2026.yaml"
BILL = FIXTURES / "bill-example.json"
PERSON = FIXTURES / "person-example.json"

runner = CliRunner()


def _settle(*args: str | Path):
    return runner.invoke(app, ["settle", *map(str, args)])


def test_json_output_reproduces_the_worked_example_of_section_4():
    result = _settle("--policy", EMPLOYEE, "--bill", BILL, "--person", PERSON, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    amounts = {k: v for k, v in data.items() if isinstance(v, int)}
    assert amounts == {
        "medfee_sumamt": 2_000_000,
        "fulamt_ownpay_amt": 100_000,
        "overlmt_selfpay": 20_000,
        "preselfpay_amt": 50_000,
        "inscp_scp_amt": 1_830_000,
        "act_pay_dedc": 130_000,
        "hifp_pay": 1_445_000,
        "pool_prop_selfpay": 255_000,
        "hifmi_pay": 0,
        "maf_pay": 0,
        "fund_pay_sumamt": 1_445_000,
        "psn_part_amt": 555_000,
        "acct_pay": 200_000,
        "psn_cash_pay": 355_000,
        "balc": 0,
    }
    assert data["policy_id"] == "example-employee-2026"
    assert data["accumulators_after"]["inpatient_fund_paid"] == 1_445_000
    assert [step["code"] for step in data["explanation"]][-1] == "balc"


def test_table_output_shows_yuan_and_the_explanation():
    result = _settle("--policy", EMPLOYEE, "--bill", BILL, "--person", PERSON)
    assert result.exit_code == 0, result.output
    assert "14450.00" in result.stdout  # hifp_pay in yuan
    assert "3550.00" in result.stdout  # cash
    assert "起付线" in result.stdout  # the deductible is explained


def test_several_policy_versions_pick_the_one_for_the_person(tmp_path):
    # Both shipped policies given: the employee one covers employee_active on 2026-03-01.
    result = _settle(
        "--policy", RESIDENT, "--policy", EMPLOYEE, "--bill", BILL, "--person", PERSON, "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["policy_id"] == "example-employee-2026"


def test_a_resident_with_assistance_through_the_cli(tmp_path):
    # The §4 bill under the resident policy, flagged for assistance, fresh year, tier 3:
    # medfee 2,000,000; inscp 1,830,000; deductible 130,000; eligible 1,700,000 × 0.60 =
    # hifp 1,020,000; burden 810,000 (below the 1,500,000 critical-illness threshold → 0);
    # maf 0.70 × 810,000 = 567,000; fund 1,587,000; psn_part 413,000, no account → all cash.
    person = json.loads(PERSON.read_text())
    person.update(category="resident", personal_account_balance=0, medical_assistance=True)
    path = tmp_path / "resident.json"
    path.write_text(json.dumps(person))
    result = _settle("--policy", RESIDENT, "--bill", BILL, "--person", path, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["hifp_pay"], data["hifmi_pay"], data["maf_pay"]) == (1_020_000, 0, 567_000)
    assert (data["psn_part_amt"], data["acct_pay"], data["psn_cash_pay"]) == (413_000, 0, 413_000)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda b: b["lines"][0].update(unit_price=12.5), "lines.0.unit_price: money is whole fen"),
        (lambda b: b["lines"][0].update({"item_class": "Z"}), "lines.0.item_class"),
        (lambda b: b.update(hospital_tier=7), "no entry for tier 7"),
        (lambda b: b.update(service_date="2025-06-01"), "not on the service date 2025-06-01"),
    ],
)
def test_bad_files_exit_2_with_a_message_and_no_traceback(tmp_path, edit, message):
    bill = json.loads(BILL.read_text())
    edit(bill)
    path = tmp_path / "bill.json"
    path.write_text(json.dumps(bill))
    result = _settle("--policy", EMPLOYEE, "--bill", path, "--person", PERSON)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    as_json = _settle("--policy", EMPLOYEE, "--bill", path, "--person", PERSON, "--json")
    assert as_json.exit_code == 2
    assert message in json.loads(as_json.stdout)["error"]["message"]
    assert as_json.stderr == ""


def test_one_bill_line_format_for_the_command_and_the_api(tmp_path):
    """`item_class` is the one name of a line's class; `class` (the old file format) is refused
    with the field named, by `facepay settle` and by POST /v1/bills alike."""
    from facepay.api.routes.bills import BillLineCreate  # noqa: PLC0415

    bill = json.loads(BILL.read_text())
    assert all("item_class" in line for line in bill["lines"])
    for line in bill["lines"]:
        assert BillLineCreate.model_validate(line).item_class == line["item_class"]
    old = json.loads(BILL.read_text())
    old["lines"][0]["class"] = old["lines"][0].pop("item_class")
    path = tmp_path / "old-format.json"
    path.write_text(json.dumps(old))
    refused = _settle("--policy", EMPLOYEE, "--bill", path, "--person", PERSON)
    assert refused.exit_code == 2
    assert "lines.0.class" in refused.stderr
    assert "lines.0.item_class" in refused.stderr
    with pytest.raises(ValueError, match="class"):
        BillLineCreate.model_validate(old["lines"][0])


@pytest.mark.parametrize("name", ["employee-2026", "example-employee-2026"])
def test_a_shipped_policy_by_name_from_any_folder(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    result = _settle("--policy", name, "--bill", BILL, "--person", PERSON, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hifp_pay"] == 1_445_000


def test_an_unknown_policy_name_lists_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _settle("--policy", "employee-2027", "--bill", BILL, "--person", PERSON)
    assert result.exit_code == 2
    assert "employee-2026" in result.stderr
    assert "resident-2026" in result.stderr


def test_missing_or_broken_files_exit_2(tmp_path):
    missing = _settle("--policy", tmp_path / "nope.yaml", "--bill", BILL, "--person", PERSON)
    assert missing.exit_code == 2
    assert "cannot read" in missing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: [\n")
    result = _settle("--policy", broken, "--bill", BILL, "--person", PERSON)
    assert result.exit_code == 2
    assert "not valid JSON or YAML" in result.stderr
    person = tmp_path / "person.json"
    person.write_text(
        '{"category": "farmer", "personal_account_balance": 0, "accumulators": '
        + json.dumps(json.loads(PERSON.read_text())["accumulators"])
        + "}"
    )
    uncovered = _settle("--policy", EMPLOYEE, "--bill", BILL, "--person", person)
    assert uncovered.exit_code == 2
    assert "does not cover category 'farmer'" in uncovered.stderr


def test_the_installed_script_runs_as_a_subprocess():
    script = Path(sys.executable).parent / "facepay"
    done = subprocess.run(
        [script, "settle", "--policy", EMPLOYEE, "--bill", BILL, "--person", PERSON, "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["psn_cash_pay"] == 355_000
