"""The products on a home with the demonstration drops and planted AMBER markers: both report
editions, a month of bulletins, the early-warning notes and the exports, made by their real
Dagster jobs; read back as PDF text, HTML, CSV and Parquet."""

from __future__ import annotations

import csv
import json
import re
from functools import cache
from pathlib import Path

import duckdb
import pytest
from conftest import (
    AMBER_MARKER,
    AMBER_MARKER_KG,
    BULLETIN_MONTH,
    FORMULA_COMMODITY,
    HOSTILE_NETWORK_REF,
    ProductsHome,
)
from pypdf import PdfReader

from extra_pipeline.markings import Marking
from extra_pipeline.refresh import plan_refresh


@cache
def pdf_pages(path: Path) -> tuple[str, ...]:
    """The text of every page of a PDF."""
    return tuple(page.extract_text() or "" for page in PdfReader(path).pages)


def published(home: ProductsHome, level: str, sql: str) -> list[tuple]:
    with duckdb.connect(str(home.settings.published_path(level)), read_only=True) as con:
        return con.execute(sql).fetchall()


def report_pdf(home: ProductsHome, level: Marking) -> Path:
    (path,) = (home.outputs / "report").glob(f"gloca-*.{level.slug}.pdf")
    return path


def squeeze(text: str) -> str:
    """PDF text with line breaks and runs of spaces folded, for phrase searches."""
    return re.sub(r"\s+", " ", text)


# --- the report ---------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [Marking.CLEAR, Marking.AMBER], ids=lambda m: m.slug)
def test_each_report_edition_is_marked_on_every_page(
    products_home: ProductsHome, level: Marking
) -> None:
    path = report_pdf(products_home, level)
    pages = pdf_pages(path)
    assert 15 <= len(pages) <= 60, len(pages)
    for number, text in enumerate(pages, start=1):
        # header and footer: the page's margin boxes, extracted last, each open with it
        header, footer = text.rstrip().splitlines()[-2:]
        assert header.startswith(level.label) and footer.startswith(level.label), (path, number)
        assert footer.endswith(f"Page {number} of {len(pages)}")
    metadata = PdfReader(path).metadata
    assert level.label in (metadata.get("/Keywords") or "")
    assert level.label in (metadata.title or "")
    html = path.with_suffix(".html").read_text(encoding="utf-8")
    assert html.count(level.label) >= 3
    assert "Contains synthetic demonstration data" in html  # the demo drops and GDELT bundle


def test_the_reports_figures_are_the_marts(products_home: ProductsHome) -> None:
    """A handful of figures in the public edition's text, computed again from the marts."""
    text = squeeze(" ".join(pdf_pages(report_pdf(products_home, Marking.CLEAR))))
    (year,) = published(products_home, "clear", "select max(year) from marts.threat_matrix")[0]
    pairs, countries, grade_a = published(
        products_home, "clear",
        "select count(score), count(distinct iso3) filter (where score is not null), "
        "count(*) filter (where confidence = 'A') from marts.threat_matrix where year = ?"
        .replace("?", str(year)),
    )[0]  # fmt: skip
    assert (
        f"scores {pairs:,} pairs of a non-EU country and a criminal market across {countries:,} countries for {year}"
        in text
    )
    assert f"{grade_a:,} pairs rest on all four components" in text
    country, market, score, grade = published(
        products_home, "clear",
        "select c.name, m.label, t.score, t.confidence from marts.threat_matrix t "
        f"join marts.dim_country c using (iso3) join marts.dim_market m using (market) "
        f"where t.year = {year} and t.rank = 1 order by t.iso3, t.market limit 1",
    )[0]  # fmt: skip
    assert f"{market.lower()} in {country} (score {score:.2f}, confidence {grade})" in text
    (warnings,) = published(products_home, "clear", "select count(*) from marts.early_warnings")[0]
    assert f"{warnings:,} early warnings are on record at this level" in text
    methodology = published(
        products_home, "clear", "select distinct methodology_version from marts.methodology"
    )
    assert f"v{methodology[0][0]}" in text


def test_the_full_edition_holds_what_the_public_one_cannot(products_home: ProductsHome) -> None:
    amber = squeeze(" ".join(pdf_pages(report_pdf(products_home, Marking.AMBER))))
    clear = squeeze(" ".join(pdf_pages(report_pdf(products_home, Marking.CLEAR))))
    assert "networks assessed" in amber and AMBER_MARKER in amber
    assert "they are in the full edition" in clear


# --- nothing AMBER reaches a CLEAR product ----------------------------------------------------


def clear_outputs(home: ProductsHome) -> list[Path]:
    """Every file a CLEAR product wrote: by its name, as every product names its marking."""
    files = [p for p in home.outputs.rglob("*") if p.is_file() and ".clear." in p.name]
    files += [p for p in (home.outputs / "exports" / "clear").rglob("*") if p.is_file()]
    return sorted(set(files))


def readable_text(path: Path) -> str:
    if path.suffix == ".pdf":
        return " ".join(pdf_pages(path))
    if path.suffix == ".parquet":
        with duckdb.connect() as con:
            rows = con.execute(f"select * from read_parquet('{path}')").fetchall()
        return repr(rows)
    if path.suffix == ".xlsx":
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True)
        return repr([list(sheet.values) for sheet in workbook.worksheets])
    return path.read_text(encoding="utf-8", errors="replace")


def test_no_clear_product_holds_a_value_from_an_amber_drop(products_home: ProductsHome) -> None:
    """The marker text and quantity sit only in AMBER drops: none of the CLEAR report,
    bulletins, notes or exports may contain them; the AMBER exports do (so the search can
    find them)."""
    files = clear_outputs(products_home)
    kinds = {p.suffix for p in files}
    assert {".html", ".pdf", ".parquet", ".csv", ".xlsx", ".json"} <= kinds, kinds
    assert any("bulletins" in p.parts for p in files) and any("notes" in p.parts for p in files)
    needles = [AMBER_MARKER, f"{AMBER_MARKER_KG}", f"{AMBER_MARKER_KG:,}"]
    for path in files:
        text = readable_text(path)
        for needle in needles:
            assert needle not in text, (path.relative_to(products_home.outputs), needle)
    amber_exports = " ".join(
        readable_text(p) for p in (products_home.outputs / "exports" / "amber").glob("*.csv")
    )
    assert AMBER_MARKER in amber_exports and f"{AMBER_MARKER_KG}" in amber_exports


# --- hostile text --------------------------------------------------------------------------------


def test_hostile_drop_text_is_escaped_in_html(products_home: ProductsHome) -> None:
    html = report_pdf(products_home, Marking.AMBER).with_suffix(".html").read_text(encoding="utf-8")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;QX7731&#39;)&lt;/script&gt;&#34; onmouseover=&#34;x" in html
    assert "<script" not in html.lower()


def test_formulas_from_drops_are_neutralised_in_the_csv_exports(
    products_home: ProductsHome,
) -> None:
    path = products_home.outputs / "exports" / "amber" / "fct_seizure.amber.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    planted = [r for r in rows if r["seizure_ref"] == f"PL-{AMBER_MARKER}-1"]
    assert planted, "the planted seizure is exported at AMBER"
    network = products_home.outputs / "exports" / "amber" / "fct_network.amber.csv"
    refs = [r["network_ref"] for r in csv.DictReader(network.open(encoding="utf-8", newline=""))]
    assert HOSTILE_NETWORK_REF in refs  # text kept as sent: it is not a formula
    # the commodity is not a published column; every text cell of every export is held to the rule
    for csv_path in (products_home.outputs / "exports").rglob("*.csv"):
        with csv_path.open(encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                for cell in row:
                    assert not cell.startswith(("=", "+", "@", "\t", "\r")), (csv_path.name, cell)
    assert FORMULA_COMMODITY.startswith("=")


def test_the_exports_manifest_describes_every_file(products_home: ProductsHome) -> None:
    folder = products_home.outputs / "exports" / "clear"
    manifest = json.loads((folder / "manifest.clear.json").read_text(encoding="utf-8"))
    assert manifest["marking"] == "TLP:CLEAR"
    files = {f["file"]: f for f in manifest["files"]}
    assert "threat_matrix.clear.parquet" in files and "fct_seizure.clear.parquet" not in files
    assert all(".clear." in name for name in files)
    threat = files["threat_matrix.clear.parquet"]
    (rows,) = published(products_home, "clear", "select count(*) from marts.threat_matrix")[0]
    assert threat["rows"] == rows
    assert manifest["source_snapshots"] and manifest["methodology_version"]


# --- bulletins and notes -------------------------------------------------------------------------


def test_every_bulletin_of_the_month_is_two_to_four_pages_and_marked(
    products_home: ProductsHome,
) -> None:
    folder = products_home.outputs / "bulletins" / BULLETIN_MONTH
    pdfs = sorted(folder.glob("*.pdf"))
    regions = published(
        products_home, "clear",
        "select count(distinct c.region) from marts.threat_matrix t join marts.dim_country c "
        "using (iso3) where c.region is not null",
    )[0][0]  # fmt: skip
    assert len(pdfs) == 2 * (regions + 15)  # every region and market, in two editions
    for path in pdfs:
        level = Marking.AMBER if ".amber." in path.name else Marking.CLEAR
        pages = pdf_pages(path)
        assert 2 <= len(pages) <= 4, (path.name, len(pages))
        assert all(page.count(level.label) >= 2 for page in pages), path.name
    text = squeeze(" ".join(pdf_pages(folder / "market-cocaine-trade.clear.pdf")))
    assert "Cocaine trade: June 2025" in text
    for section in ("What changed", "Active early warnings", "Top threats", "Outlook"):
        assert section in text


def test_each_warning_has_a_one_page_note_marked_as_it_is(products_home: ProductsHome) -> None:
    signals = published(
        products_home, "amber", "select signal_id, marking from marts.early_warnings"
    )
    folder = products_home.outputs / "notes"
    assert signals
    for signal_id, marking in signals:
        level = Marking[marking.upper().replace("+", "_")]
        stem = re.sub(r"[^a-z0-9]+", "-", signal_id.lower()).strip("-")
        pages = pdf_pages(folder / f"{stem}.{level.slug}.pdf")
        assert len(pages) == 1, signal_id
        assert pages[0].count(level.label) >= 2
        text = squeeze(pages[0])
        for section in ("Signal", "Evidence", "Why it matters to the EU", "Confidence",
                        "Recommended attention"):  # fmt: skip
            assert section in text, (signal_id, section)


def test_products_are_left_alone_when_nothing_changed(products_home: ProductsHome) -> None:
    """After the runs, the nightly plan has nothing to do: notes and exports recorded the
    published copies they were made from."""
    plan = plan_refresh(products_home.settings)
    assert plan.up_to_date, plan.reasons()
