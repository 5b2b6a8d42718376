"""Blank templates for reporting authorities, generated from the drop contracts
(`assets/contracts/<dataset>.yaml`), so they can never disagree with what the pipeline accepts.

Per contract:
- `<dataset>_template.xlsx`: a `data` sheet with the contract's headers (frozen, one row to
  fill per record) and drop-down lists on the enumerated columns (markets, units, transport
  modes, member-count bands, threat levels, yes/no); a `columns` sheet describing each column
  (type, required, rule, allowed values, example, description); the lists on a hidden sheet.
  A list column (several values separated by `;`) offers the list but accepts any text.
- `<dataset>_template.csv` (the headers, UTF-8 with a byte-order mark so spreadsheets read
  accents) and `<dataset>_columns.csv` (the column guide).

`extra drops template DATASET --format xlsx|csv` writes them.
"""

from __future__ import annotations

import csv
from pathlib import Path

from extra_pipeline.drops.contracts import LIST_TYPES, ColumnSpec, Contract
from extra_pipeline.drops.rules import market_index

FORMATS = ("xlsx", "csv")
#: rows of the data sheet that carry the drop-down lists
DATA_ROWS = 2000
_YES_NO = ("yes", "no")
_TYPE_LABELS = {
    "text": "text",
    "date": "date (YYYY-MM-DD; DD/MM/YYYY and DD.MM.YYYY also read)",
    "decimal": "number (decimal point or comma)",
    "integer": "whole number",
    "boolean": "yes or no",
    "market": "criminal market (code or name)",
    "market_list": "criminal markets, separated by ;",
    "country": "country (ISO 3166 code or name)",
    "country_list": "countries, separated by ;",
    "enum": "one of the allowed values",
    "text_list": "texts, separated by ;",
}


def allowed_values(spec: ColumnSpec) -> tuple[str, ...]:
    """The values a drop-down offers for a column (empty: free input)."""
    if spec.type == "enum":
        return tuple(spec.values)
    if spec.type in {"market", "market_list"}:
        return tuple(sorted(set(market_index().values())))
    if spec.type == "boolean":
        return _YES_NO
    return ()


def rule_text(spec: ColumnSpec) -> str:
    """The column's rule in words: required, unique, bounds, length."""
    parts = ["required" if spec.required else "optional"]
    if spec.unique:
        parts.append("unique within the file")
    if spec.max_length:
        parts.append(f"at most {spec.max_length} characters")
    if spec.minimum is not None:
        parts.append(f"at least {spec.minimum}")
    if spec.maximum is not None:
        parts.append(f"at most {spec.maximum}" if spec.maximum != "today" else "not in the future")
    return "; ".join(parts)


def column_guide(contract: Contract) -> list[dict[str, str]]:
    """One row per column of the contract, in file order, as the templates print it."""
    return [
        {
            "column": spec.name,
            "type": _TYPE_LABELS[spec.type],
            "rule": rule_text(spec),
            "allowed values": ", ".join(allowed_values(spec)),
            "example": spec.example or "",
            "description": " ".join(spec.description.split()),
        }
        for spec in contract.columns
    ]


def write_template(contract: Contract, out_dir: Path, fmt: str = "xlsx") -> list[Path]:
    """Write the contract's template in `fmt` into `out_dir`; the files written."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        return _write_csv(contract, out_dir)
    return [_write_xlsx(contract, out_dir / f"{contract.dataset}_template.xlsx")]


def _write_csv(contract: Contract, out_dir: Path) -> list[Path]:
    template = out_dir / f"{contract.dataset}_template.csv"
    with template.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerow(contract.column_names)
    guide = out_dir / f"{contract.dataset}_columns.csv"
    rows = column_guide(contract)
    with guide.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return [template, guide]


def _write_xlsx(contract: Contract, path: Path) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    data = workbook.active
    data.title = "data"
    bold = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="DCE3EC")
    for number, spec in enumerate(contract.columns, start=1):
        cell = data.cell(row=1, column=number, value=spec.name)
        cell.font = bold
        cell.fill = header_fill
        data.column_dimensions[get_column_letter(number)].width = max(14, len(spec.name) + 4)
    data.freeze_panes = "A2"

    lists = workbook.create_sheet("lists")
    list_column = 0
    for number, spec in enumerate(contract.columns, start=1):
        values = allowed_values(spec)
        if not values:
            continue
        list_column += 1
        letter = get_column_letter(list_column)
        lists.cell(row=1, column=list_column, value=spec.name).font = bold
        for row, value in enumerate(values, start=2):
            lists.cell(row=row, column=list_column, value=value)
        many = spec.type in LIST_TYPES
        validation = DataValidation(
            type="list",
            formula1=f"=lists!${letter}$2:${letter}${len(values) + 1}",
            allow_blank=not spec.required,
            # a list column takes several values separated by ";": offer, do not insist
            showErrorMessage=not many,
            errorTitle=f"{spec.name}: not an allowed value",
            error=f"Choose one of the listed values ({_TYPE_LABELS[spec.type]}).",
            showInputMessage=True,
            promptTitle=spec.name,
            prompt=_prompt(spec, many),
        )
        column = get_column_letter(number)
        validation.add(f"{column}2:{column}{DATA_ROWS + 1}")
        data.add_data_validation(validation)
    lists.sheet_state = "hidden"

    guide = workbook.create_sheet("columns")
    rows = column_guide(contract)
    headers = list(rows[0])
    for number, name in enumerate(headers, start=1):
        guide.cell(row=1, column=number, value=name).font = bold
    wrap = Alignment(wrap_text=True, vertical="top")
    for row_number, row in enumerate(rows, start=2):
        for number, name in enumerate(headers, start=1):
            guide.cell(row=row_number, column=number, value=row[name]).alignment = wrap
    for letter, width in zip("ABCDEF", (24, 28, 32, 40, 22, 70), strict=True):
        guide.column_dimensions[letter].width = width
    guide.freeze_panes = "A2"
    workbook.properties.title = f"EXTRA drop template: {contract.dataset}"
    workbook.properties.subject = f"{contract.dataset} contract v{contract.version}"
    workbook.save(path)
    return path


def _prompt(spec: ColumnSpec, many: bool) -> str:
    """The input message (Excel allows 255 characters)."""
    text = "Several values: separate them with ;. " if many else ""
    return (text + " ".join(spec.description.split()))[:250]
