"""Rendering shared by every product: the template environment, the reading of a published
copy, and HTML to PDF.

A product reads only the published copy of its own marking level (`published/<level>.duckdb`),
so a public product can never see above TLP:CLEAR. Every file it writes carries the
marking in its name (`<name>.<level>.html`, `.pdf`), in its metadata (the PDF's keywords
and subject) and on every page (the page header and footer, in `assets/templates/product.css`).
Templates autoescape: text from drops and sources is never markup.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import yaml

from extra_pipeline.markings import Marking
from extra_pipeline.settings import PROJECT_ROOT
from extra_pipeline.warehouse import open_published

TEMPLATES_DIR = PROJECT_ROOT / "assets" / "templates"
PRODUCTS_FILE = PROJECT_ROOT / "assets" / "products.yaml"


@cache
def template_environment() -> jinja2.Environment:
    """The one Jinja2 environment: autoescape on (values from drops and sources are
    untrusted), strict about undefined names, with the number filters products use."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        number=format_number, score=format_score, percent=format_percent, signed=format_signed
    )
    return environment


def format_number(value: float | int | None, digits: int = 0) -> str:
    """`12,345` (or `12,345.6` with digits); a dash for no value."""
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def format_score(value: float | None) -> str:
    """A 0-1 score as printed everywhere: two decimals."""
    return "–" if value is None else f"{value:.2f}"


def format_percent(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def format_signed(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:+.{digits}f}"


@cache
def products_config() -> dict[str, Any]:
    """`assets/products.yaml`: titles, chapters and texts (nothing there changes a figure)."""
    return yaml.safe_load(PRODUCTS_FILE.read_text(encoding="utf-8"))


# --- reading a published copy ---------------------------------------------------------------


@dataclass
class Edition:
    """One product run's view of the warehouse: a published copy and what it says of itself."""

    level: Marking
    con: duckdb.DuckDBPyConnection

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        """The query's rows as dicts (column name -> value)."""
        cursor = self.con.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def value(self, sql: str, params: Sequence[object] = ()) -> Any:
        row = self.con.execute(sql, list(params)).fetchone()
        return row[0] if row else None

    def has(self, table: str) -> bool:
        schema, _, name = table.partition(".")
        return bool(
            self.value(
                "select count(*) from information_schema.tables "
                "where table_schema = ? and table_name = ?",
                [schema, name],
            )
        )

    def facts(self) -> PublicationFacts:
        """What every product prints on its cover: methodology, data as of, synthetic."""
        methodology = self.rows(
            "select methodology_title, methodology_version, effective from marts.methodology "
            "limit 1"
        )
        snapshots = self.rows(
            "select max(retrieved_at) as retrieved, bool_or(synthetic) as synthetic, "
            "list(distinct source_id order by source_id) filter (where synthetic) as synthetic_sources, "
            "list(distinct source_id order by source_id) filter (where stale) as stale_sources "
            "from audit.source_snapshots"
        )[0]
        drops = self.rows(
            "select max(received_at) as received, coalesce(bool_or(synthetic), false) as synthetic "
            "from audit.drops where status in ('accepted', 'partial')"
        )[0]
        built = self.value("select max(built_at) from audit.published_tables")
        as_of = max(
            (d for d in (snapshots["retrieved"], drops["received"]) if d is not None),
            default=built,
        )
        citation = (
            f"{methodology[0]['methodology_title']} v{methodology[0]['methodology_version']} "
            f"({methodology[0]['effective']})"
            if methodology
            else "methodology not published"
        )
        return PublicationFacts(
            level=self.level,
            methodology=citation,
            methodology_version=methodology[0]["methodology_version"] if methodology else None,
            data_as_of=_as_date(as_of),
            built_at=built,
            synthetic_sources=tuple(snapshots["synthetic_sources"] or ()),
            synthetic_drops=bool(drops["synthetic"]),
            stale_sources=tuple(snapshots["stale_sources"] or ()),
        )


@dataclass(frozen=True)
class PublicationFacts:
    """What a published copy says of itself, printed on every product's cover."""

    level: Marking
    methodology: str
    methodology_version: str | None
    data_as_of: date | None
    built_at: datetime | None
    #: open sources whose snapshots are made up (their provenance says `synthetic: true`)
    synthetic_sources: tuple[str, ...]
    #: a member-state drop at this level is synthetic (demonstration data)
    synthetic_drops: bool
    stale_sources: tuple[str, ...]

    @property
    def synthetic(self) -> bool:
        return bool(self.synthetic_sources) or self.synthetic_drops

    @property
    def synthetic_note(self) -> str:
        """The banner's text: which inputs are made up."""
        parts = [f"the {s} source" for s in self.synthetic_sources]
        if self.synthetic_drops:
            parts.append("member-state drops marked synthetic")
        return "Contains synthetic demonstration data (" + ", ".join(parts) + "): do not cite it."


@contextmanager
def edition(published_dir: Path, level: Marking) -> Iterator[Edition]:
    """The published copy of `level`, read-only, for the span of the block."""
    con = open_published(published_dir, level)
    try:
        yield Edition(level, con)
    finally:
        con.close()


def _as_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    return value if isinstance(value, date) else None


# --- writing a product ----------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedProduct:
    """The files one product wrote and what a reader of the UI wants to know of them."""

    html: Path
    pdf: Path | None
    pages: int | None
    marking: Marking

    def metadata(self) -> dict[str, object]:
        return {
            "html": str(self.html),
            "pdf": str(self.pdf) if self.pdf else None,
            "pages": self.pages,
            "marking": self.marking.label,
        }


def render(
    template: str,
    context: Mapping[str, Any],
    out_dir: Path,
    stem: str,
    *,
    level: Marking,
    pdf: bool = True,
) -> RenderedProduct:
    """Render `template` with `context` to `<stem>.<level>.html` (and `.pdf`) in `out_dir`,
    each written to a temporary name and renamed into place: a reader never sees half a file.
    The context gets `marking` (the level), `css` (the shared stylesheet) and `generated_at`
    added."""
    environment = template_environment()
    html = environment.get_template(template).render(
        **context,
        marking=level,
        css=environment.get_template("product.css").render(marking=level),
        generated_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"{stem}.{level.slug}.html"
    _write_atomically(html_path, html.encode("utf-8"))
    if not pdf:
        return RenderedProduct(html_path, None, None, level)
    document = _weasyprint().HTML(string=html, base_url=str(TEMPLATES_DIR)).render()
    pdf_path = out_dir / f"{stem}.{level.slug}.pdf"
    _write_atomically(pdf_path, document.write_pdf())
    return RenderedProduct(html_path, pdf_path, len(document.pages), level)


def _weasyprint() -> Any:
    """WeasyPrint, imported on first use (it loads Pango and fonts: seconds, not at import)."""
    import weasyprint

    logging.getLogger("weasyprint").addFilter(_quiet_font_subsetting)
    return weasyprint


def _quiet_font_subsetting(record: logging.LogRecord) -> bool:
    """Debian's HarfBuzz lacks the subsetter WeasyPrint prefers; its fallback is fine."""
    return "HarfBuzz-Subset" not in record.getMessage()


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def slug(text: str) -> str:
    """A file-name part from a code-defined name (`Latin America` -> `latin-america`)."""
    cleaned = "".join(c.lower() if c.isalnum() else "-" for c in text)
    return "-".join(part for part in cleaned.split("-") if part)
