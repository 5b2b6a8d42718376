"""Early-warning notes: one page per warning in `marts.early_warnings`, for each edition level
of `assets/products.yaml` (`notes.levels`): the signal, its evidence, why it matters to the
EU, how confident it is and what attention it calls for.

A note is marked as its warning is (the row's own marking) and drawn only from the
published copy of that level: a CLEAR warning's note from the CLEAR copy, an AMBER seizure
spike's from the AMBER copy. Notes are kept by content: a warning whose note would come out
the same is not rendered again (a sidecar `<note>.json` holds the content's digest), so a
nightly run renders only new and changed warnings, and a warning no longer in the table
loses its note.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extra_pipeline.markings import Marking, parse_marking
from extra_pipeline.products.rendering import (
    TEMPLATES_DIR,
    Edition,
    RenderedProduct,
    edition,
    products_config,
    render,
    slug,
)

TEMPLATE = "early_warning_note.html.j2"
#: how confident each rule's signal is, before the evidence says more (see `confidence`)
_BASE_CONFIDENCE = {
    "seizure_spike": "moderate",
    "governance_deterioration": "moderate",
    "fatf_listing": "high",
    "news_surge": "low",
}


@dataclass
class NotesRun:
    """What a run of `build_notes` did."""

    rendered: list[RenderedProduct] = field(default_factory=list)
    unchanged: int = 0
    removed: int = 0

    @property
    def pages(self) -> int:
        return sum(r.pages or 0 for r in self.rendered)


def build_notes(published_dir: Path, out_dir: Path, levels: list[Marking]) -> NotesRun:
    """Render the note of every warning visible at the highest of `levels`, each at its own
    marking (when that is one of `levels`), from the copy of that marking."""
    run = NotesRun()
    kept: set[Path] = set()
    with edition(published_dir, max(levels)) as top:
        signals = top.rows("select signal_id, marking from marts.early_warnings order by 1")
    by_level: dict[Marking, list[str]] = {}
    for signal in signals:
        level = parse_marking(signal["marking"])
        if level in levels:
            by_level.setdefault(level, []).append(signal["signal_id"])
    for level, signal_ids in sorted(by_level.items()):
        with edition(published_dir, level) as ed:
            for signal_id in signal_ids:
                context = note_context(ed, signal_id)
                stem = slug(signal_id)
                sidecar = out_dir / f"{stem}.{level.slug}.json"
                kept.update({sidecar, sidecar.with_suffix(".html"), sidecar.with_suffix(".pdf")})
                content = _digest(context)
                if _recorded(sidecar) == content and sidecar.with_suffix(".pdf").is_file():
                    run.unchanged += 1
                    continue
                run.rendered.append(render(TEMPLATE, context, out_dir, stem, level=level))
                sidecar.write_text(json.dumps({"content": content}), encoding="utf-8")
    for path in sorted(out_dir.glob("*.*")) if out_dir.is_dir() else []:
        if path not in kept and path.suffix in {".html", ".pdf", ".json"}:
            path.unlink()
            run.removed += path.suffix == ".json"
    return run


def note_context(ed: Edition, signal_id: str) -> dict[str, Any]:
    """What one note prints (without the time it is generated: see `build_notes`)."""
    config = products_config()
    (warning,) = ed.rows(
        "select w.*, c.name as country, c.region, m.label as market_label, "
        "m.empact_priority_label, m.socta_threat_label "
        "from marts.early_warnings w join marts.dim_country c using (iso3) "
        "left join marts.dim_market m using (market) where w.signal_id = ?",
        [signal_id],
    )
    year = ed.value("select max(year) from marts.threat_matrix")
    threat = ed.rows(
        "select t.score, t.rank, t.confidence, t.eu_exposure, t.trend_direction "
        "from marts.threat_matrix t where t.year = ? and t.iso3 = ? and t.market = ?",
        [year, warning["iso3"], warning["market"]],
    )
    profile = ed.rows(
        "select max_score, best_rank, top_markets, vulnerability, fatf_list "
        "from marts.country_profile where iso3 = ?",
        [warning["iso3"]],
    )
    rule = config["notes"]["rules"][warning["rule"]]
    evidence = json.loads(warning["evidence"]) if warning["evidence"] else {}
    return {
        "config": config,
        "facts": ed.facts(),
        "year": year,
        "warning": warning,
        "rule": rule,
        "evidence": evidence,
        "evidence_rows": _evidence_rows(evidence),
        "threat": threat[0] if threat else None,
        "profile": profile[0] if profile else None,
        "confidence": confidence(warning["rule"], evidence),
        "attention": rule["attention"][warning["severity"]],
    }


def confidence(rule: str, evidence: dict[str, Any]) -> str:
    """The signal's confidence: the rule's own, raised for a spike several states saw."""
    if rule == "seizure_spike" and len(evidence.get("states", [])) > 1:
        return "high"
    return _BASE_CONFIDENCE.get(rule, "low")


def _evidence_rows(evidence: dict[str, Any]) -> list[tuple[str, str]]:
    """The evidence as (name, value) rows; nested records (a spike's states) as JSON text."""
    return [
        (name.replace("_", " "), value if isinstance(value, str) else json.dumps(value))
        for name, value in evidence.items()
    ]


def _digest(context: dict[str, Any]) -> str:
    """The note's content: its data, the texts and the templates it is rendered with."""
    templates = [TEMPLATES_DIR / n for n in (TEMPLATE, "product_base.html.j2", "product.css")]
    text = json.dumps(context, sort_keys=True, default=str) + "".join(
        p.read_text(encoding="utf-8") for p in templates
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _recorded(sidecar: Path) -> str | None:
    try:
        return json.loads(sidecar.read_text(encoding="utf-8")).get("content")
    except (OSError, ValueError):
        return None
