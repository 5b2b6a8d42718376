"""Blank templates for reporting authorities, generated from the contracts: what a spreadsheet
sees (sheets, drop-down lists, the column guide), and that a template filled with valid
example rows is accepted by the real drop job."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import load_workbook

from extra_pipeline.drops.contracts import Contract
from extra_pipeline.drops.templates import allowed_values, write_template
from extra_pipeline.runner import ingest_drop_files, prepare_dagster_home
from extra_pipeline.settings import Settings

#: columns whose values come from a closed list, by contract
ENUMERATED = {
    "seizures": {"market", "unit", "transport_mode"},
    "criminal_networks": {
        "principal_markets", "member_count_band", "threat_level", "uses_legal_business",
        "uses_violence", "uses_corruption", "hvt",
    },
}  # fmt: skip


def validations(sheet) -> dict[str, object]:
    """The data sheet's list validations, by the header of the column they cover."""
    headers = {cell.column_letter: cell.value for cell in sheet[1]}
    found = {}
    for validation in sheet.data_validations.dataValidation:
        for cell_range in validation.sqref.ranges:
            column = cell_range.coord.split(":")[0].rstrip("0123456789")
            found[headers[column]] = validation
    return found


def example_rows(contract: Contract, count: int = 3) -> list[dict[str, str]]:
    """Valid rows from the contract's own examples, unique where the contract says so."""
    rows = []
    for number in range(count):
        row = {}
        for spec in contract.columns:
            value = spec.example or ""
            if spec.unique:
                value = f"{value}-{number}"
            row[spec.name] = value
        rows.append(row)
    return rows


@pytest.mark.parametrize("dataset", ["seizures", "criminal_networks"])
def test_the_xlsx_template_has_the_headers_the_lists_and_the_guide(
    contracts: dict[str, Contract], tmp_path: Path, dataset: str
) -> None:
    contract = contracts[dataset]
    (path,) = write_template(contract, tmp_path, "xlsx")
    assert path.name == f"{dataset}_template.xlsx"
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["data", "lists", "columns"]
    assert workbook["lists"].sheet_state == "hidden"
    data = workbook["data"]
    assert [c.value for c in data[1]] == list(contract.column_names)
    assert data.max_row == 1  # blank: headers only
    found = validations(data)
    assert ENUMERATED[dataset] <= set(found), set(found)
    lists = workbook["lists"]
    for column, validation in found.items():
        spec = contract.column(column)
        # the list the drop-down offers is the contract's, value for value
        letter, first, last = _range(validation.formula1)
        offered = [lists[f"{letter}{row}"].value for row in range(first, last + 1)]
        assert tuple(offered) == allowed_values(spec), column
        # a list column takes several values: the drop-down offers, it does not insist
        assert validation.showErrorMessage == (not spec.is_list), column
    guide = workbook["columns"]
    rows = list(guide.iter_rows(values_only=True))
    assert rows[0] == ("column", "type", "rule", "allowed values", "example", "description")
    assert [r[0] for r in rows[1:]] == list(contract.column_names)
    assert all(r[5] for r in rows[1:])  # every column described


def _range(formula: str) -> tuple[str, int, int]:
    """`=lists!$B$2:$B$17` -> ("B", 2, 17)."""
    start, end = formula.split("!")[1].replace("$", "").split(":")
    return (
        start.rstrip("0123456789"),
        int(start.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")),
        int(end.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")),
    )


@pytest.mark.parametrize("dataset", ["seizures", "criminal_networks"])
def test_the_csv_template_is_the_headers_and_a_column_guide(
    contracts: dict[str, Contract], tmp_path: Path, dataset: str
) -> None:
    contract = contracts[dataset]
    template, guide = write_template(contract, tmp_path, "csv")
    assert template.read_bytes().startswith(b"\xef\xbb\xbf")  # spreadsheets read the accents
    with template.open(encoding="utf-8-sig", newline="") as handle:
        assert list(csv.reader(handle)) == [list(contract.column_names)]
    with guide.open(encoding="utf-8-sig", newline="") as handle:
        described = list(csv.DictReader(handle))
    assert [row["column"] for row in described] == list(contract.column_names)


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
@pytest.mark.parametrize("dataset", ["seizures", "criminal_networks"])
def test_a_template_filled_with_valid_rows_is_accepted(
    contracts: dict[str, Contract],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dataset: str,
    fmt: str,
) -> None:
    contract = contracts[dataset]
    rows = example_rows(contract)
    written = write_template(contract, tmp_path / "templates", fmt)
    filled = tmp_path / f"{dataset}.{fmt}"
    if fmt == "xlsx":
        workbook = load_workbook(written[0])
        sheet = workbook["data"]
        for row_number, row in enumerate(rows, start=2):
            for column_number, name in enumerate(contract.column_names, start=1):
                sheet.cell(row=row_number, column=column_number, value=row[name])
        workbook.save(filled)
    else:
        header = written[0].read_text(encoding="utf-8-sig")
        with filled.open("w", encoding="utf-8-sig", newline="") as handle:
            handle.write(header)
            csv.DictWriter(handle, fieldnames=list(contract.column_names)).writerows(rows)
    settings = Settings(extra_home=tmp_path / "home", sources_mode="offline")
    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))  # restored afterwards
    prepare_dagster_home(settings)
    (outcome,) = ingest_drop_files(
        settings, [filled], member_state="NL", dataset=dataset, period="2025"
    )
    assert outcome["status"] == "accepted", outcome
    assert outcome["rows_accepted"] == len(rows)
