"""The products as assets: the GLOCA report (one asset per edition), the monthly risk
bulletins (a partition per month), the early-warning notes and the data exports.

Each reads only published copies, never the working file: it takes no writer-pool slot, and
a public edition cannot see above TLP:CLEAR. The notes and exports follow the published
data every night; the report and bulletins have jobs of their own (on demand, monthly).

A product records which published copies it was built from (`outputs/.versions/`), so the
nightly planner leaves it alone while those copies are unchanged (`extra_pipeline.refresh`).
"""

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from extra_pipeline.defs.publish import PUBLISH_KEY
from extra_pipeline.defs.resources import ProductsResource
from extra_pipeline.markings import Marking, parse_marking
from extra_pipeline.products.rendering import PRODUCTS_FILE, TEMPLATES_DIR, products_config
from extra_pipeline.refresh import OUTPUT_METADATA, output_version
from extra_pipeline.settings import PROJECT_ROOT

GROUP = "products"
NOTES_KEY = dg.AssetKey(["outputs", "early_warning_notes"])
EXPORTS_KEY = dg.AssetKey(["outputs", "exports"])
BULLETINS_KEY = dg.AssetKey(["outputs", "risk_bulletins"])
REPORT_PREFIX = "gloca_report"
#: one partition per month since the first that bulletins can be asked for; months turn in
#: Brussels, so the schedule on the 1st at 06:00 finds the month just ended complete
BULLETIN_PARTITIONS = dg.MonthlyPartitionsDefinition(
    start_date="2024-01-01", end_offset=0, timezone="Europe/Brussels"
)


def products_code_version() -> str:
    """What the products' output depends on apart from the data: their code, templates and
    texts. A change re-renders them."""
    files = [
        *sorted((PROJECT_ROOT / "extra_pipeline" / "products").glob("*.py")),
        *sorted(TEMPLATES_DIR.iterdir()),
        PRODUCTS_FILE,
    ]
    hasher = hashlib.sha256()
    for path in files:
        if path.is_file():
            hasher.update(path.name.encode() + b"\0" + path.read_bytes())
    return hasher.hexdigest()[:16]


def _levels(section: str) -> list[Marking]:
    return [parse_marking(level) for level in products_config()[section]["levels"]]


def report_key(level: Marking) -> dg.AssetKey:
    return dg.AssetKey(["outputs", f"{REPORT_PREFIX}_{level.name.lower()}"])


def build_product_assets() -> list[dg.AssetsDefinition]:
    """Every product asset: a report per edition, bulletins, notes and exports."""
    code = products_code_version()
    reports = [
        _report_asset(parse_marking(level), code)
        for level in products_config()["report"]["editions"]
    ]
    return [*reports, _bulletins_asset(code), _notes_asset(code), _exports_asset(code)]


def _versioned(levels: Sequence[Marking], code: str) -> dict[str, object]:
    """Asset metadata telling the planner which published copies the product reads."""
    return {
        OUTPUT_METADATA: dg.MetadataValue.json({"levels": [m.slug for m in levels], "code": code})
    }


def _record(
    products: ProductsResource, key: dg.AssetKey, levels: Sequence[Marking], code: str
) -> None:
    """Note the published copies this run built from (the planner compares them next time)."""
    version = output_version(Path(products.published_dir), [m.slug for m in levels], code)
    path = Path(products.outputs_dir) / ".versions" / f"{'__'.join(key.path)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": version}), encoding="utf-8")


def _report_asset(level: Marking, code: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=report_key(level),
        deps=[PUBLISH_KEY],
        group_name=GROUP,
        kinds={"html", "pdf"},
        code_version=code,
        description=(
            f"The GLOCA annual report, {level.label} edition (HTML and PDF), drawn only from "
            f"published/{level.slug}.duckdb."
        ),
        metadata={"marking": level.label, **_versioned([level], code)},
    )
    def gloca_report(
        context: dg.AssetExecutionContext, products: ProductsResource
    ) -> dg.MaterializeResult:
        from extra_pipeline.products.report import build_report

        rendered, summary = build_report(
            Path(products.published_dir), Path(products.outputs_dir) / "report", level
        )
        _record(products, report_key(level), [level], code)
        context.log.info(f"{rendered.pdf}: {rendered.pages} pages")
        return dg.MaterializeResult(
            metadata={
                **rendered.metadata(),
                "path": dg.MetadataValue.path(str(rendered.pdf)),
                "dagster/uri": str(rendered.html),
                "preview": dg.MetadataValue.md(summary),
            }
        )

    return gloca_report


def _bulletins_asset(code: str) -> dg.AssetsDefinition:
    levels = _levels("bulletins")

    @dg.asset(
        key=BULLETINS_KEY,
        deps=[PUBLISH_KEY],
        group_name=GROUP,
        kinds={"html", "pdf"},
        partitions_def=BULLETIN_PARTITIONS,
        code_version=code,
        description=(
            "Monthly risk bulletins, one per region and one per market, in each edition "
            f"({', '.join(m.label for m in levels)}): what changed, active early warnings, top "
            "threats, outlook."
        ),
        metadata={"marking": "per file: " + ", ".join(m.label for m in levels)},
    )
    def risk_bulletins(
        context: dg.AssetExecutionContext, products: ProductsResource
    ) -> dg.MaterializeResult:
        from extra_pipeline.products.bulletins import build_bulletins

        period = context.partition_key[:7]  # YYYY-MM-DD -> YYYY-MM
        out = Path(products.outputs_dir) / "bulletins"
        rendered = [
            r
            for level in levels
            for r in build_bulletins(Path(products.published_dir), out, level, period)
        ]
        pages = [r.pages or 0 for r in rendered]
        return dg.MaterializeResult(
            metadata={
                "period": period,
                "bulletins": len(rendered),
                "pages_min": min(pages, default=0),
                "pages_max": max(pages, default=0),
                "folder": dg.MetadataValue.path(str(out / period)),
                "files": dg.MetadataValue.json(sorted(str(r.pdf.name) for r in rendered if r.pdf)),
            }
        )

    return risk_bulletins


def _notes_asset(code: str) -> dg.AssetsDefinition:
    levels = _levels("notes")

    @dg.asset(
        key=NOTES_KEY,
        deps=[PUBLISH_KEY],
        group_name=GROUP,
        kinds={"html", "pdf"},
        code_version=code,
        description=(
            "One early-warning note per warning (signal, evidence, why it matters to the EU, "
            "confidence, recommended attention), marked as its warning is; only new and changed "
            "warnings are rendered."
        ),
        metadata={"marking": "per note: its warning's", **_versioned([max(levels)], code)},
    )
    def early_warning_notes(products: ProductsResource) -> dg.MaterializeResult:
        from extra_pipeline.products.notes import build_notes

        out = Path(products.outputs_dir) / "notes"
        run = build_notes(Path(products.published_dir), out, levels)
        _record(products, NOTES_KEY, [max(levels)], code)
        return dg.MaterializeResult(
            metadata={
                "rendered": len(run.rendered),
                "unchanged": run.unchanged,
                "removed": run.removed,
                "pages": run.pages,
                "folder": dg.MetadataValue.path(str(out)),
                "notes": dg.MetadataValue.json(
                    sorted(str(r.pdf.name) for r in run.rendered if r.pdf)
                ),
            }
        )

    return early_warning_notes


def _exports_asset(code: str) -> dg.AssetsDefinition:
    levels = _levels("exports")

    @dg.asset(
        key=EXPORTS_KEY,
        deps=[PUBLISH_KEY],
        group_name=GROUP,
        kinds={"parquet", "csv", "xlsx"},
        code_version=code,
        description=(
            "Every published mart as Parquet and CSV, the analytic marts as one XLSX workbook, "
            "with a manifest (schema, rows, sha256, marking, build time, source snapshots), "
            f"for downstream tools; one folder per level ({', '.join(m.label for m in levels)})."
        ),
        metadata={"marking": "per folder: its level's", **_versioned(levels, code)},
    )
    def exports(products: ProductsResource) -> dg.MaterializeResult:
        from extra_pipeline.products.exports import export_published

        built_at = datetime.now(UTC)
        manifests = {
            level.slug: export_published(
                Path(products.published_dir) / f"{level.slug}.duckdb",
                Path(products.outputs_dir) / "exports" / level.slug,
                level=level,
                built_at=built_at,
            )
            for level in levels
        }
        _record(products, EXPORTS_KEY, levels, code)
        return dg.MaterializeResult(
            metadata={
                slug: dg.MetadataValue.json(
                    {"files": len(m.files), "manifest": str(m.path), "skipped": m.skipped}
                )
                for slug, m in manifests.items()
            }
        )

    return exports
