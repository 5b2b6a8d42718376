"""The synthetic demonstration drops: reproducible, marked, in each sender's conventions,
and, through the real reader, contract and rules, mostly accepted with exactly the planted
defects quarantined."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook

from extra_pipeline.countries import default_harmoniser
from extra_pipeline.drops.demo import (
    COUNTRIES,
    DEFECT_RULES,
    MARKET_FORMS,
    MARKING,
    NETWORK_COLUMNS,
    SEIZURE_COLUMNS,
    SIDECAR_SUFFIX,
    DemoDrop,
    build_demo_drops,
    write_demo_drops,
)
from extra_pipeline.settings import PROJECT_ROOT

TODAY = date(2026, 11, 25)
SEIZURE_STATES = {"ES", "NL", "BE", "DE", "IT", "PT"}
BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="module")
def drops() -> list[DemoDrop]:
    return build_demo_drops(today=TODAY)


def _by(drops: list[DemoDrop], state: str, dataset: str = "seizures") -> list[DemoDrop]:
    return [d for d in drops if d.member_state == state and d.dataset == dataset]


def _one(drops: list[DemoDrop], state: str, dataset: str = "seizures") -> DemoDrop:
    return _by(drops, state, dataset)[0]


def _rows(drop: DemoDrop) -> list[list[Any]]:
    """The data rows as the file holds them (cells in contract order), read independently."""
    if drop.format == "csv":
        assert drop.encoding and drop.delimiter
        text = drop.content.decode(drop.encoding)  # "utf-8-sig" drops the BOM
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=drop.delimiter))[1:]
    if drop.format == "xlsx":
        sheet = load_workbook(io.BytesIO(drop.content)).worksheets[0]
        return [list(row) for row in sheet.iter_rows(min_row=2, values_only=True)]
    records = json.loads(drop.content)[drop.dataset]
    return [list(record.values()) for record in records]


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    for form in ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(str(value), form).date()
        except ValueError:
            continue
    return None


# --------------------------------------------------------------------------- reproducible, marked


def test_same_seed_writes_byte_identical_files(tmp_path):
    first = write_demo_drops(tmp_path / "a", today=TODAY)
    second = write_demo_drops(tmp_path / "b", today=TODAY, seed=2026)

    def tree(root):
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }

    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert a == b
    assert len(a) == 2 * len(first) == 2 * len(second)
    # Another seed is another data set (same files, other rows).
    other = {d.relative_path: d.content for d in build_demo_drops(today=TODAY, seed=7)}
    assert other.keys() == {p.relative_to(tmp_path / "a").as_posix() for p in first}
    assert all(other[name] != a[name] for name in other)


def test_every_file_has_a_synthetic_amber_sidecar(tmp_path):
    incoming = tmp_path / "incoming"
    paths = write_demo_drops(incoming, today=TODAY)
    assert paths and all(p.is_file() for p in paths)
    for path in paths:
        assert path.parent.parent == incoming and re.fullmatch(r"[A-Z]{2}", path.parent.name)
        sidecar = json.loads(path.with_name(path.name + SIDECAR_SUFFIX).read_text("utf-8"))
        assert set(sidecar) == {"dataset", "period", "marking", "contact", "synthetic"}
        assert sidecar["synthetic"] is True
        assert sidecar["marking"] == MARKING == "TLP:AMBER"
        assert sidecar["dataset"] in ("seizures", "criminal_networks")
        assert re.fullmatch(r"\d{4}(-Q[1-4])?", sidecar["period"])
        assert re.search(r"@example\.org>$", sidecar["contact"])
    # Nothing else is left behind (no half-written temporary files).
    everything = {p for p in incoming.rglob("*") if p.is_file()}
    assert everything == set(paths) | {p.with_name(p.name + SIDECAR_SUFFIX) for p in paths}


def test_module_says_it_is_synthetic():
    import extra_pipeline.drops.demo as demo

    assert demo.__doc__ and "SYNTHETIC DEMONSTRATION DATA" in demo.__doc__


# --------------------------------------------------------------------------- formats and conventions


def test_the_expected_states_datasets_and_sizes(drops):
    seizures = [d for d in drops if d.dataset == "seizures"]
    networks = [d for d in drops if d.dataset == "criminal_networks"]
    assert {d.member_state for d in seizures} >= SEIZURE_STATES
    assert len({d.member_state for d in networks}) >= 3
    assert {d.format for d in networks} == {"csv", "xlsx", "json"}
    for drop in seizures:
        assert 150 <= drop.rows <= 400, drop.relative_path
        assert len(_rows(drop)) == drop.rows
    for drop in networks:
        assert 20 <= drop.rows <= 60, drop.relative_path
        assert len(_rows(drop)) == drop.rows
    # References are fictitious and follow one pattern per dataset.
    for drop in drops:
        pattern = (
            r"[A-Z]{2}-\d{4}-\d{6}" if drop.dataset == "seizures" else r"[A-Z]{2}-OCG-\d{4}-\d{4}"
        )
        assert all(re.fullmatch(pattern, str(row[0])) for row in _rows(drop) if row[0])


def test_spain_csv_semicolons_decimal_comma_day_first(drops):
    drop = _by(drops, "ES")[0]
    assert (drop.format, drop.encoding, drop.delimiter) == ("csv", "utf-8", ";")
    text = drop.content.decode("utf-8")
    assert not drop.content.startswith(BOM)
    rows = _rows(drop)
    assert all(len(row) == 13 for row in rows)
    assert any(re.fullmatch(r"\d+,\d{1,2}", row[4]) for row in rows)  # decimal comma
    assert all(re.fullmatch(r"\d{2}/\d{2}/\d{4}", row[1]) for row in rows)
    assert any(";" in row[9] for row in rows)  # transit lists, quoted inside ;-CSV
    assert "España" in text and "marítimo" in text


def test_netherlands_is_a_real_workbook_with_date_and_number_cells(drops):
    drop = _one(drops, "NL")
    assert drop.format == "xlsx" and drop.file_name.endswith(".xlsx")
    assert zipfile.is_zipfile(io.BytesIO(drop.content))
    sheet = load_workbook(io.BytesIO(drop.content)).worksheets[0]
    header = [c.value for c in sheet[1]]
    assert tuple(header) == drop.headers
    dates = [row[1] for row in sheet.iter_rows(min_row=2)]
    date_cells = [c for c in dates if c.is_date]
    assert len(date_cells) >= drop.rows - 2  # all but the planted empty / text ones
    assert all(isinstance(c.value, datetime) for c in date_cells)
    # Stored as spreadsheet serial numbers with a date format, not as text.
    xml = zipfile.ZipFile(io.BytesIO(drop.content)).read("xl/worksheets/sheet1.xml").decode()
    assert re.search(r'<c r="B2" s="\d+"( t="n")?><v>\d{5}</v></c>', xml)
    quantities = [row[4].value for row in sheet.iter_rows(min_row=2)]
    assert sum(isinstance(q, int | float) for q in quantities) >= drop.rows - 1
    assert all(isinstance(row[12].value, int | None) for row in sheet.iter_rows(min_row=2))


def test_belgium_csv_is_windows_1252_with_french_headers(drops):
    drop = _one(drops, "BE")
    assert (drop.format, drop.encoding) == ("csv", "cp1252")
    with pytest.raises(UnicodeDecodeError):
        drop.content.decode("utf-8", errors="strict")
    text = drop.content.decode("cp1252")
    first = text.split("\r\n", 1)[0]
    assert first.split(";") == [
        "référence de la saisie", "date de saisie", "marché", "produit", "quantité", "unité",
        "pays d'origine", "pays de départ", "pays de destination", "pays de transit",
        "mode de transport", "lieu", "arrestations",
    ]  # fmt: skip
    for name in ("Équateur", "Colombie", "Maroc"):
        assert name in text
    assert "\u00a0" in text  # French thousands grouping: 1 527 254


def test_germany_csv_has_a_bom_german_headers_and_dotted_dates(drops):
    drop = _one(drops, "DE")
    assert drop.content.startswith(BOM)
    assert (drop.encoding, drop.delimiter) == ("utf-8-sig", ",")
    header = drop.content.decode("utf-8-sig").split("\n", 1)[0]
    assert header.split(",") == [
        "Sicherstellungsnummer", "Datum der Sicherstellung", "Markt", "Ware", "Menge", "Einheit",
        "Herkunftsland", "Abgangsland", "Bestimmungsland", "Transitländer", "Verkehrsträger",
        "Ort", "Festnahmen",
    ]  # fmt: skip
    dates = [row[1] for row in _rows(drop)]
    assert sum(bool(re.fullmatch(r"\d{2}\.\d{2}\.\d{4}", d)) for d in dates) == drop.rows


def test_italy_json_and_portugal_csv_use_contract_names(drops):
    italy = _one(drops, "IT")
    payload = json.loads(italy.content.decode("utf-8"))
    assert list(payload) == ["seizures"] and isinstance(payload["seizures"], list)
    assert all(list(record) == list(SEIZURE_COLUMNS) for record in payload["seizures"])
    assert any(isinstance(r["quantity"], float) for r in payload["seizures"])
    portugal = _one(drops, "PT")
    assert (portugal.encoding, portugal.delimiter) == ("utf-8", ",")
    assert portugal.content.decode("utf-8").split("\n", 1)[0] == ",".join(SEIZURE_COLUMNS)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", row[1]) for row in _rows(portugal))


def test_networks_write_booleans_in_their_own_words(drops):
    words = {
        "FR": {"oui", "non"},
        "DE": {"ja", "nein"},
        "NL": {1, 0},
        "IT": {True, False},
    }
    for state, allowed in words.items():
        drop = _one(drops, state, "criminal_networks")
        planted = {n for n, kind in drop.defects.items() if kind == "bad_boolean"}
        for number, row in enumerate(_rows(drop), 1):
            if number not in planted:
                assert {row[7], row[8], row[9], row[12]} <= allowed, (state, number)
    italy = json.loads(_one(drops, "IT", "criminal_networks").content)
    assert list(italy["criminal_networks"][0]) == list(NETWORK_COLUMNS)


def test_spain_sends_a_corrected_resend_for_the_same_period(drops, tmp_path):
    first, second = _by(drops, "ES")
    assert (first.dataset, first.period) == (second.dataset, second.period)
    assert second.corrects == first.file_name and first.corrects is None
    assert second.content != first.content and second.rows > first.rows
    assert first.defects and not second.defects  # the re-send fixes the planted problems
    refs = [row[0] for row in _rows(second)]
    assert len(refs) == len(set(refs))
    # Oldest-first pick-up (the sensor's order) receives the original first.
    paths = {p.name: p for p in write_demo_drops(tmp_path, today=TODAY)}
    assert paths[first.file_name].stat().st_mtime_ns < paths[second.file_name].stat().st_mtime_ns


# --------------------------------------------------------------------------- content


def test_no_date_after_today_except_the_planted_ones(drops):
    earliest = TODAY - timedelta(days=3 * 366)
    for drop in drops:
        for number, row in enumerate(_rows(drop), 1):
            day = _as_date(row[1])
            kind = drop.defects.get(number)
            if kind == "future_date":
                assert day is not None and day > TODAY, (drop.relative_path, number)
            elif day is not None:
                assert earliest <= day <= TODAY, (drop.relative_path, number, day)
            else:
                assert kind in ("bad_date", "empty_required") or drop.dataset != "seizures"


def test_about_one_to_two_percent_bad_rows_of_several_kinds(drops):
    seizures = [d for d in drops if d.dataset == "seizures"]
    bad = sum(len(d.defects) for d in seizures)
    total = sum(d.rows for d in seizures)
    assert 0.01 <= bad / total <= 0.02
    kinds = Counter(kind for d in drops for kind in d.defects.values())
    assert set(kinds) == set(DEFECT_RULES)
    assert sum(1 for d in seizures if d.defects) >= 5  # spread across states
    # What was planted is in the file, as planted.
    texts = {d.relative_path: d.content.decode(d.encoding or "latin-1", "replace") for d in drops}
    assert '"31/02/2025"' not in texts["ES/incautaciones_2025.csv"]  # not quoted: a plain cell
    assert ";31/02/2025;" in texts["ES/incautaciones_2025.csv"]
    assert ",31.02.2025," in texts["DE/sicherstellungen_2025.csv"]
    assert ";tulips;" in texts["BE/saisies_2025.csv"]
    assert '"unit": "sacks"' in texts["IT/sequestri_2026-Q3.json"]


def test_markup_and_formula_text_are_planted_in_valid_rows(drops):
    hostile = {text for d in drops for text in d.hostile.values()}
    assert "<script>alert(1)</script>" in hostile
    assert '=HYPERLINK("http://example.org","x")' in hostile
    for drop in drops:
        for number, text in drop.hostile.items():
            assert number not in drop.defects
            assert text in _rows(drop)[number - 1]


def test_every_country_name_and_market_form_is_known_to_the_reference():
    harmoniser = default_harmoniser()
    for iso3, names in COUNTRIES.items():
        for name in names:
            match = harmoniser.match(name)
            assert (match.kind, match.iso3) == ("country", iso3), (name, match)
    with (PROJECT_ROOT / "assets" / "reference" / "markets.csv").open(encoding="utf-8") as handle:
        known = {
            row["market"]: {
                row["label"].casefold(),
                *(a.casefold() for a in row["aliases"].split(";")),
            }
            for row in csv.DictReader(handle)
        }
    for code, (label, shorts) in MARKET_FORMS.items():
        assert code in known
        assert {label.casefold(), *(s.casefold() for s in shorts)} <= known[code], code


# --------------------------------------------------------------------------- through the real pipeline


def _pipeline() -> tuple[Any, Any, Any, Any]:
    readers = pytest.importorskip("extra_pipeline.drops.readers")
    contracts = pytest.importorskip("extra_pipeline.drops.contracts")
    rules = pytest.importorskip("extra_pipeline.drops.rules")
    model = pytest.importorskip("extra_pipeline.drops.model")
    return readers, contracts, rules, model


def test_the_pipeline_accepts_the_rest_and_quarantines_exactly_the_planted_rows(drops):
    readers, contracts_module, rules, model = _pipeline()
    contracts = contracts_module.load_contracts()
    received = accepted_total = 0
    cocaine_by_sea: list[float] = []
    for drop in drops:
        where = drop.relative_path
        table = readers.read_drop(drop.content, limits=model.Limits())
        assert table.format == drop.format, where
        assert contracts_module.detect_dataset(contracts, table.headers) == drop.dataset, where
        contract = contracts[drop.dataset]
        headers = contracts_module.match_headers(contract, table.headers)
        assert not headers.extras, (where, headers.extras)  # every header matched
        assert len(headers.mapping) == 13, where
        validation = rules.validate(contract, headers.select(table.rows), today=TODAY)

        unreadable = {issue.row_number for issue in table.unreadable}
        quarantined = set(map(int, validation.quarantined)) | unreadable
        planted = set(drop.defects)
        assert planted <= quarantined, (where, planted - quarantined)
        # Only the planted rows, and (for a repeated reference) possibly its first use.
        assert quarantined <= planted | set(drop.duplicates.values()), (
            where,
            validation.issues[~validation.issues["row_number"].isin(planted)].to_dict("records"),
        )
        issues = validation.issues
        for number, kind in drop.defects.items():
            rules_broken = set(issues.loc[issues["row_number"] == number, "rule"])
            assert rules_broken & DEFECT_RULES[kind], (where, number, kind, rules_broken)

        rows = table.rows_received
        assert rows == drop.rows, where
        assert rows == len(validation.accepted) + len(quarantined), where
        if drop.dataset == "seizures":
            assert len(validation.accepted) >= 0.95 * rows, where
        received += rows
        accepted_total += len(validation.accepted)

        frame = validation.accepted
        # Markup and formula text are data: accepted, kept exactly as sent.
        for number, text in drop.hostile.items():
            assert frame.loc[number, "commodity"] == text, where
        text_columns = frame.select_dtypes(include=["object", "string"]).columns
        for column in text_columns:
            assert not frame[column].astype(str).str.contains("\ufffd").any(), (where, column)
        if drop.dataset == "seizures":
            sea = frame[(frame["market"] == "cocaine_trade") & (frame["transport_mode"] == "sea")]
            cocaine_by_sea += sea["quantity_kg"].dropna().tolist()
            assert (frame["quantity_kg"].dropna() >= 0).all()
            assert frame["arrests"].dropna().between(0, 12).all()
    assert accepted_total >= 0.95 * received
    # Realistic sizes: container seizures of cocaine from tens of kilos to tonnes.
    assert cocaine_by_sea and min(cocaine_by_sea) >= 50 and max(cocaine_by_sea) <= 8000
    assert max(cocaine_by_sea) >= 2000
