"""The GOCI connector against the bundled official workbook, checked independently.

The reference is the per-edition CSV exports of the same workbook in the shared data
folder (read with the csv module, not through the connector); tests that need them skip
when that folder is absent.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from extra_pipeline.http import HttpClient
from extra_pipeline.snapshots import SnapshotStore
from extra_pipeline.sources.base import (
    ASSETS_DIR,
    PayloadError,
    SourceFetcher,
    load_registry,
    read_bundled_file,
)
from extra_pipeline.sources.goci import (
    COLUMNS,
    HEADER_MAP,
    INDICATORS,
    MARKET_CODES,
    NOT_ASSESSED,
    GociConnector,
    normalise_header,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "goci"
EDITIONS = ("2021", "2023", "2025")
MARKETS_CSV = ASSETS_DIR / "reference" / "markets.csv"
EMPACT_PRIORITIES = {
    "criminal_networks",
    "online_crime",
    "drug_trafficking",
    "migrant_smuggling_thb",
    "firearms_explosives",
    "environmental_crime",
    "economic_financial_crime",
}
# (edition, header exactly as in that edition's CSV, indicator id): every header spelling
# that differs between sheets, and columns that sit elsewhere in the 2023 sheet.
SPOT_COLUMNS = [
    ("2021", "Criminality avg,", "goci.criminality"),
    ("2021", "Criminal markets avg,", "goci.criminal_markets"),
    ("2021", "Criminal actors", "goci.criminal_actors"),
    ("2021", "Resilience", "goci.resilience"),
    ("2021", "Cocaine trade", "goci.market.cocaine_trade"),
    ("2021", "Anti-money laundering", "goci.resilience.anti_money_laundering"),
    ("2023", "Criminality avg.", "goci.criminality"),
    ("2023", "Criminal actors avg,", "goci.criminal_actors"),
    ("2023", "Resilience avg,", "goci.resilience"),
    ("2023", "Trade in counterfeit goods", "goci.market.counterfeit_goods"),
    ("2023", "Extortion and protection racketeering", "goci.market.extortion_racketeering"),
    ("2023", "Private sector actors", "goci.actor.private_sector_actors"),
    ("2025", "Criminal actors avg.", "goci.criminal_actors"),
    ("2025", "Resilience avg.", "goci.resilience"),
    ("2025", "Illicit trade in excisable goods", "goci.market.excise_goods"),
    ("2025", "Cyber-dependent crimes", "goci.market.cyber_dependent_crimes"),
    ("2025", "Heroin trade", "goci.market.heroin_trade"),
    ("2025", "Non-state actors", "goci.resilience.non_state_actors"),
]
SPOT_COUNTRIES = ["Colombia", "Nigeria", "Albania", "Myanmar", "Ecuador"]


@pytest.fixture(scope="module")
def connector() -> GociConnector:
    return GociConnector(load_registry()["goci"])


@pytest.fixture(scope="module")
def workbook(connector: GociConnector) -> bytes:
    """The bundled snapshot's bytes, found through its manifest as the offline mode does."""
    (path,) = connector.bundled_manifest().files["workbook"]
    return read_bundled_file(path)


@pytest.fixture(scope="module")
def parsed(connector: GociConnector, workbook: bytes) -> pd.DataFrame:
    (resource,) = connector.resources()
    connector.validate(resource, workbook)
    return connector.parse(resource, workbook)


@pytest.fixture(scope="module")
def shared_csv() -> dict[str, list[dict[str, str]]]:
    """Each edition's CSV export as rows of strings."""
    if not SHARED.is_dir():
        pytest.skip(f"shared GOCI data not present ({SHARED.name})")
    tables = {}
    for edition in EDITIONS:
        with (SHARED / f"global_oc_index_{edition}.csv").open(encoding="utf-8", newline="") as f:
            tables[edition] = list(csv.DictReader(f))
    return tables


def _validate(connector: GociConnector, payload: bytes) -> None:
    (resource,) = connector.resources()
    connector.validate(resource, payload)


# --- the bundled snapshot ---------------------------------------------------------------


def test_resource_url_comes_from_the_registry(connector: GociConnector) -> None:
    (resource,) = connector.resources()
    assert resource.name == "workbook"
    assert resource.url == connector.config.base_url + connector.config.options["path"]
    assert resource.url.endswith("/assets/downloads/global_oc_index.xlsx")


def test_bundled_workbook_is_the_documented_file(workbook: bytes) -> None:
    digest = hashlib.sha256(workbook).hexdigest()
    folder = ASSETS_DIR / "snapshots" / "goci"
    manifest = (folder / "manifest.yaml").read_text(encoding="utf-8")
    provenance = (folder / "PROVENANCE.md").read_text(encoding="utf-8")
    # The manifest note folds the hash across lines; compare on hex runs.
    assert digest in "".join(re.findall(r"[0-9a-f]+", manifest))
    assert digest in provenance
    if (SHARED / "global_oc_index.xlsx").is_file():
        assert workbook == (SHARED / "global_oc_index.xlsx").read_bytes()


def test_offline_mode_serves_the_bundled_workbook(connector: GociConnector, tmp_path: Path) -> None:
    fetcher = SourceFetcher(store=SnapshotStore(tmp_path), client=HttpClient(), mode="offline")
    (acquired,) = fetcher.acquire(connector)
    provenance = acquired.snapshots[0].provenance
    assert (acquired.mode, provenance.synthetic, provenance.edition) == ("bundled", False, "2025")
    assert provenance.sha256 == hashlib.sha256(acquired.snapshots[0].read()).hexdigest()
    assert len(connector.parse(acquired.resource, acquired.snapshots[0].read())) == 3 * 193 * 36


def test_bundled_manifest(connector: GociConnector) -> None:
    manifest = connector.bundled_manifest()
    assert manifest.edition == "2025"
    assert manifest.synthetic is False
    assert manifest.retrieved_at.startswith("2025-10-29")


# --- parsing ----------------------------------------------------------------------------


def test_long_frame_shape(parsed: pd.DataFrame) -> None:
    assert tuple(parsed.columns) == COLUMNS
    assert parsed["value"].dtype == "float64"
    assert sorted(parsed["edition"].unique()) == list(EDITIONS)
    assert set(parsed["pillar"]) == {
        "criminality",
        "criminal_markets",
        "criminal_actors",
        "resilience",
    }
    assert not parsed.duplicated(["edition", "country_name", "indicator_id"]).any()
    for column in ("continent", "region", "country_name"):
        assert parsed[column].notna().all()
        assert (parsed[column] == parsed[column].str.strip()).all()


def test_193_countries_per_edition(parsed: pd.DataFrame, shared_csv: dict) -> None:
    for edition in EDITIONS:
        names = set(parsed.loc[parsed["edition"] == edition, "country_name"])
        assert len(names) == 193
        assert names == {row["Country"].strip() for row in shared_csv[edition]}


def test_every_edition_has_the_same_indicator_set(parsed: pd.DataFrame) -> None:
    catalogue = [indicator.id for indicator in INDICATORS]
    assert len(catalogue) == 36 == len(set(catalogue))
    for _, group in parsed.groupby(["edition", "country_name"]):
        assert group["indicator_id"].tolist() == catalogue


def test_indicator_ids_are_the_documented_ones() -> None:
    ids = {indicator.id for indicator in INDICATORS}
    assert {
        "goci.criminality",
        "goci.criminal_markets",
        "goci.criminal_actors",
        "goci.resilience",
    } <= ids
    assert {f"goci.market.{code}" for code in MARKET_CODES} <= ids
    assert sum(i.startswith("goci.market.") for i in ids) == 15
    assert sum(i.startswith("goci.actor.") for i in ids) == 5
    assert sum(i.startswith("goci.resilience.") for i in ids) == 12
    assert all(re.fullmatch(r"goci(\.[a-z_]+)+", i) for i in ids)
    for indicator in INDICATORS:
        worse = indicator.pillar != "resilience"
        assert indicator.direction == ("higher_is_worse" if worse else "higher_is_better")
        assert indicator.unit == "score 1-10"


def test_spot_values_match_the_csv_exports(parsed: pd.DataFrame, shared_csv: dict) -> None:
    values = parsed.set_index(["edition", "country_name", "indicator_id"])["value"]
    checked = 0
    for edition, header, indicator_id in SPOT_COLUMNS:
        rows = {row["Country"]: row for row in shared_csv[edition]}
        for country in SPOT_COUNTRIES:
            expected = float(rows[country][header])
            assert values[(edition, country, indicator_id)] == pytest.approx(expected), (
                edition, country, header,
            )  # fmt: skip
            checked += 1
    assert checked == len(SPOT_COLUMNS) * len(SPOT_COUNTRIES)


def test_each_country_carries_exactly_its_csv_scores(
    parsed: pd.DataFrame, shared_csv: dict
) -> None:
    """Independent of the header mapping: the multiset of scores per country and edition."""
    for edition in EDITIONS:
        ours = parsed[parsed["edition"] == edition].dropna(subset=["value"])
        ours_by_country = ours.groupby("country_name")["value"].apply(sorted).to_dict()
        for row in shared_csv[edition]:
            theirs = sorted(
                float(value)
                for key, value in row.items()
                if key not in {"Continent", "Region", "Country"}
            )
            assert ours_by_country[row["Country"]] == pytest.approx(theirs), (
                edition,
                row["Country"],
            )


def test_2021_absent_indicators_are_nan_not_zero(parsed: pd.DataFrame) -> None:
    absent = {
        "goci.actor.private_sector_actors",
        "goci.market.cyber_dependent_crimes",
        "goci.market.financial_crimes",
        "goci.market.counterfeit_goods",
        "goci.market.excise_goods",
        "goci.market.extortion_racketeering",
    }
    assert NOT_ASSESSED["2021"] == absent
    is_absent = parsed["indicator_id"].isin(absent)
    in_2021 = parsed["edition"] == "2021"
    assert parsed.loc[in_2021 & is_absent, "value"].isna().all()
    assert len(parsed.loc[in_2021 & is_absent]) == 193 * len(absent)
    # Everything else, in every edition, is assessed.
    assert parsed.loc[~(in_2021 & is_absent), "value"].notna().all()
    assert not (parsed["value"] == 0).any()


def test_values_are_scores_from_1_to_10(parsed: pd.DataFrame) -> None:
    scores = parsed["value"].dropna()
    assert scores.between(1, 10).all()
    assert scores.min() == 1 and scores.max() == 10


def test_no_unknown_headers_in_any_edition(shared_csv: dict) -> None:
    for edition, rows in shared_csv.items():
        unknown = [h for h in rows[0] if normalise_header(h) not in HEADER_MAP]
        assert unknown == [], edition


# --- validation -------------------------------------------------------------------------


def _mutated(workbook: bytes, tmp_path: Path, change) -> bytes:
    """The bundled workbook after `change(book)`, saved with openpyxl."""
    book = openpyxl.load_workbook(io.BytesIO(workbook))
    change(book)
    path = tmp_path / "mutated.xlsx"
    book.save(path)
    return path.read_bytes()


def test_rejects_a_truncated_workbook(connector: GociConnector, workbook: bytes) -> None:
    with pytest.raises(PayloadError, match="truncated or corrupt"):
        _validate(connector, workbook[:1000])


def test_rejects_an_html_page(connector: GociConnector) -> None:
    page = (
        b"<!DOCTYPE html>\n<html><head><title>Just a moment...</title></head><body></body></html>"
    )
    with pytest.raises(PayloadError, match="HTML page"):
        _validate(connector, page)


@pytest.mark.parametrize("payload", [b"", b"\x00" * 64, b"PK\x03\x04" + b"\x00" * 64])
def test_rejects_other_non_workbooks(connector: GociConnector, payload: bytes) -> None:
    with pytest.raises(PayloadError):
        _validate(connector, payload)


def test_rejects_a_zip_that_is_not_a_workbook(connector: GociConnector) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(PayloadError, match="not an xlsx workbook"):
        _validate(connector, buffer.getvalue())


def test_rejects_a_sheet_lacking_a_column(
    connector: GociConnector, workbook: bytes, tmp_path: Path
) -> None:
    def drop_fauna(book: openpyxl.Workbook) -> None:
        sheet = book["2023_dataset"]
        (column,) = [c.column for c in sheet[1] if c.value == "Fauna crimes"]
        sheet.delete_cols(column)

    with pytest.raises(PayloadError, match=r"2023_dataset: missing column\(s\) \['Fauna crimes'\]"):
        _validate(connector, _mutated(workbook, tmp_path, drop_fauna))


def test_rejects_an_unknown_header(
    connector: GociConnector, workbook: bytes, tmp_path: Path
) -> None:
    def rename(book: openpyxl.Workbook) -> None:
        for cell in book["2025_dataset"][1]:
            if cell.value == "Cocaine trade":
                cell.value = "Cocaine and crack trade"

    with pytest.raises(
        PayloadError, match=r"2025_dataset: unknown header\(s\) \['Cocaine and crack trade'\]"
    ):
        _validate(connector, _mutated(workbook, tmp_path, rename))


def test_rejects_a_missing_edition(
    connector: GociConnector, workbook: bytes, tmp_path: Path
) -> None:
    def drop_sheet(book: openpyxl.Workbook) -> None:
        del book["2021_dataset"]

    with pytest.raises(PayloadError, match=r"lacks the sheet.*2021_dataset"):
        _validate(connector, _mutated(workbook, tmp_path, drop_sheet))


def test_rejects_a_text_score(connector: GociConnector, workbook: bytes, tmp_path: Path) -> None:
    def text_score(book: openpyxl.Workbook) -> None:
        book["2025_dataset"]["E3"] = "n/a"

    with pytest.raises(PayloadError, match=r"2025_dataset.*non-numeric.*row\(s\) 3"):
        _validate(connector, _mutated(workbook, tmp_path, text_score))


def test_a_new_edition_sheet_is_read_and_held_to_the_full_set(
    connector: GociConnector, workbook: bytes, tmp_path: Path
) -> None:
    def add_2027(book: openpyxl.Workbook) -> None:
        book.copy_worksheet(book["2025_dataset"]).title = "2027_dataset"

    payload = _mutated(workbook, tmp_path, add_2027)
    (resource,) = connector.resources()
    frame = connector.parse(resource, payload)
    assert set(frame["edition"]) == {*EDITIONS, "2027"}
    assert frame.loc[frame["edition"] == "2027", "value"].notna().all()


# --- the market taxonomy ----------------------------------------------------------------


def test_markets_csv_is_the_goci_market_taxonomy() -> None:
    with MARKETS_CSV.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 15
    assert [row["market"] for row in rows] == list(MARKET_CODES)
    labels = {indicator.id: indicator.label for indicator in INDICATORS}
    aliases: list[str] = []
    for row in rows:
        assert row["goci_indicator_id"] == f"goci.market.{row['market']}"
        assert row["label"] == labels[row["goci_indicator_id"]]
        assert row["empact_priority"] in EMPACT_PRIORITIES
        for column in ("category", "empact_priority_label", "socta_threat", "socta_threat_label"):
            assert row[column].strip(), (row["market"], column)
        assert row["socta_key_threat"] in {"true", "false"}
        assert row["mapping_basis"] in {"explicit", "judgement"}
        row_aliases = [alias.strip().casefold() for alias in row["aliases"].split(";")]
        assert all(row_aliases), row["market"]
        aliases += row_aliases
    assert len(aliases) == len(set(aliases)), "an alias maps to two markets"
