"""The FATF connector: the bundled curated CSVs against the shared real file, the statement
pages (fixtures modelled on the real fatf-gafi.org pages) over a real loopback HTTP server,
every trap, and the indicators and events of the offline run.

No real FATF HTML page is saved in this project. The fixtures below are modelled on the
structure of the real statement pages as publicly documented (Adobe AEM core components:
the statement name and date in the page heading, a "Paris, <date>" dateline, section
headings `h2.cmp-title__text`, one `h3.cmp-title__text` per jurisdiction, capitals and
`<b>` on the call-for-action page, and a closing "Jurisdictions no longer subject to
increased monitoring" section on the grey-list page), with the June 2025 content.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import shared_file
from pytest_httpserver import HTTPServer

from extra_pipeline.countries import default_harmoniser
from extra_pipeline.http import HttpClient, RetryPolicy
from extra_pipeline.snapshots import SnapshotStore
from extra_pipeline.sources.base import (
    ASSETS_DIR,
    PayloadError,
    Resource,
    SourceFetcher,
    SourceUnavailable,
    load_registry,
    read_bundled_file,
)
from extra_pipeline.sources.fatf import COLUMNS, FatfConnector

BUNDLE = ASSETS_DIR / "snapshots" / "fatf"
JUNE_FILE = "fatf_lists_2025-06.csv"
FEB_FILE = "fatf_lists_2025-02.derived.csv"
PAGES = "/en/publications/High-risk-and-other-monitored-jurisdictions"

# -- fixtures modelled on the real statement pages (June 2025 content) ---------------------

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8"/>
  <title>{title}</title>
  <script>window.dataLayer = [{{"page": "<h3 class='cmp-title__text'>not a heading</h3>"}}];</script>
</head>
<body class="page basicpage">
<div class="root container responsivegrid">
  <div class="cmp-container">
    <div class="title"><div class="cmp-title"><h1 class="cmp-title__text">{title}</h1></div></div>
    <div class="text"><div class="cmp-text"><p>Paris, {date} - {intro}</p></div></div>
{sections}
  </div>
</div>
<footer><h3>Follow us</h3></footer>
</body>
</html>
"""


def _section(heading: str, jurisdictions: list[str], *, bold: bool = False) -> str:
    parts = [
        f'    <div class="title"><div class="cmp-title"><h2 class="cmp-title__text">{heading}'
        "</h2></div></div>"
    ]
    for name in jurisdictions:
        label = f"<b>{name}</b>" if bold else name
        parts.append(
            '    <div class="title"><div class="cmp-title">'
            f'<h3 class="cmp-title__text">{label}</h3></div></div>\n'
            '    <div class="text"><div class="cmp-text"><p>Since its listing, the FATF '
            "has reviewed the action plan.</p></div></div>"
        )
    return "\n".join(parts)


def call_for_action_page(date: str = "13 June 2025") -> bytes:
    sections = "\n".join(
        [
            _section(
                "Jurisdictions subject to a FATF call on its members and other jurisdictions "
                "to apply countermeasures",
                ["DEMOCRATIC PEOPLE'S REPUBLIC OF KOREA (DPRK)", "IRAN"],
                bold=True,
            ),
            _section(
                "Jurisdiction subject to a FATF call on its members and other jurisdictions "
                "to apply enhanced due diligence measures proportionate to the risks",
                ["MYANMAR"],
                bold=True,
            ),
        ]
    )
    return _PAGE.format(
        title=f"High-Risk Jurisdictions subject to a Call for Action - {date}",
        date=date,
        intro="High-risk jurisdictions have significant strategic deficiencies.",
        sections=sections,
    ).encode()


GREY_JUNE_2025 = [
    "Algeria", "Angola", "Bolivia", "Bulgaria", "Burkina Faso", "Cameroon", "Côte d’Ivoire",
    "Democratic Republic of the Congo", "Haiti", "Kenya", "Lao PDR", "Lebanon", "Monaco",
    "Mozambique", "Namibia", "Nepal", "Nigeria", "South Africa", "South Sudan", "Syria",
    "Venezuela", "Vietnam", "Virgin Islands (UK)", "Yemen",
]  # fmt: skip


def increased_monitoring_page(date: str = "13 June 2025") -> bytes:
    sections = "\n".join(
        [
            _section("Jurisdictions under increased monitoring", GREY_JUNE_2025),
            _section(
                "Jurisdictions no longer subject to increased monitoring",
                ["Croatia", "Mali", "United Republic of Tanzania"],
            ),
        ]
    )
    return _PAGE.format(
        title=f"Jurisdictions under Increased Monitoring - {date}",
        date=date,
        intro="Jurisdictions under increased monitoring are actively working with the FATF.",
        sections=sections,
    ).encode()


ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>Page not found | FATF</title></head><body>"
    b"<h1 class='cmp-title__text'>Page not found</h1><p>The page you requested does not "
    b"exist.</p></body></html>"
)


# -- helpers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def connector() -> FatfConnector:
    return FatfConnector(load_registry()["fatf"])


def _resource(connector: FatfConnector, name: str) -> Resource:
    return next(r for r in connector.resources() if r.name == name)


def _read_shared_csv() -> list[dict[str, str]]:
    """The shared real file, read with the csv module (not the connector)."""
    with shared_file("fatf", JUNE_FILE).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# -- the registry and the bundled snapshot ----------------------------------------------


def test_resources_are_both_pages_of_every_registry_plenary(connector: FatfConnector) -> None:
    names = [r.name for r in connector.resources()]
    assert names == [
        "call_for_action.2025-02",
        "increased_monitoring.2025-02",
        "call_for_action.2025-06",
        "increased_monitoring.2025-06",
    ]
    urls = {r.name: r.url for r in connector.resources()}
    assert urls["call_for_action.2025-06"] == (
        f"https://www.fatf-gafi.org{PAGES}/Call-for-action-june-2025.html"
    )
    assert urls["increased_monitoring.2025-02"].endswith("/Increased-monitoring-february-2025.html")
    assert connector.config.max_age_days == 120


def test_registry_plenary_dates_are_checked() -> None:
    config = load_registry()["fatf"]
    bad = dataclasses.replace(
        config, options={**config.options, "plenaries": {"2025-06": "2025-07-01"}}
    )
    with pytest.raises(ValueError, match="plenary '2025-06'"):
        FatfConnector(bad)


def test_bundled_june_file_is_the_real_file_unmodified() -> None:
    bundled = (BUNDLE / JUNE_FILE).read_bytes()
    assert bundled == shared_file("fatf", JUNE_FILE).read_bytes()
    digest = hashlib.sha256(bundled).hexdigest()
    manifest = (BUNDLE / "manifest.yaml").read_text(encoding="utf-8")
    assert digest in "".join(re.findall(r"[0-9a-f]+", manifest))
    assert digest in (BUNDLE / "PROVENANCE.md").read_text(encoding="utf-8")


def test_derived_february_file_is_june_with_the_stated_changes_reversed() -> None:
    june = {(r["iso2"], r["list"]) for r in _read_shared_csv()}
    with (BUNDLE / FEB_FILE).open(encoding="utf-8", newline="") as handle:
        february = list(csv.DictReader(handle))
    assert {r["as_of_plenary"] for r in february} == {"2025-02"}
    stated = (june - {("BO", "increased_monitoring"), ("VG", "increased_monitoring")}) | {
        ("HR", "increased_monitoring"),
        ("ML", "increased_monitoring"),
        ("TZ", "increased_monitoring"),
    }
    assert {(r["iso2"], r["list"]) for r in february} == stated
    digest = hashlib.sha256((BUNDLE / FEB_FILE).read_bytes()).hexdigest()
    manifest = (BUNDLE / "manifest.yaml").read_text(encoding="utf-8")
    assert digest in "".join(re.findall(r"[0-9a-f]+", manifest))
    assert "DERIVED" in manifest and "derived" in (BUNDLE / "PROVENANCE.md").read_text()


def test_offline_fetch_reads_every_resource_from_the_bundle(
    connector: FatfConnector, tmp_path: Path
) -> None:
    fetcher = SourceFetcher(store=SnapshotStore(tmp_path), client=HttpClient(), mode="offline")
    acquired = fetcher.acquire(connector)
    frame = pd.concat(
        [connector.parse(a.resource, s.read()) for a in acquired for s in a.snapshots],
        ignore_index=True,
    )
    assert tuple(frame.columns) == COLUMNS
    assert {a.mode for a in acquired} == {"bundled"}
    assert not any(s.provenance.synthetic for a in acquired for s in a.snapshots)
    counts = frame.groupby(["plenary", "list"]).size().to_dict()
    assert counts == {
        ("2025-02", "call_for_action"): 3,
        ("2025-02", "increased_monitoring"): 25,
        ("2025-06", "call_for_action"): 3,
        ("2025-06", "increased_monitoring"): 24,
    }
    assert set(frame["form"]) == {"curated_csv"}
    # Namibia's alpha-2 survives as text, not as a missing value.
    namibia = frame[frame["country_name"] == "Namibia"]
    assert list(namibia["iso2"]) == ["NA", "NA"]
    assert {str(d) for d in frame["statement_date"]} == {"2025-02-21", "2025-06-13"}


def test_every_bundled_name_harmonises_to_its_iso2(connector: FatfConnector) -> None:
    """The names (not the codes) go through the harmoniser; they must land where iso2 says."""
    manifest = connector.bundled_manifest()
    harmoniser = default_harmoniser()
    for resource in connector.resources():
        (path,) = manifest.files[resource.name]
        frame = connector.parse(resource, read_bundled_file(path))
        for name, iso2 in zip(frame["country_name"], frame["iso2"], strict=True):
            by_name, by_code = harmoniser.match(name), harmoniser.match(iso2)
            assert by_name.kind == "country", name
            assert by_name.iso3 == by_code.iso3, (name, iso2)


# -- the statement pages ------------------------------------------------------------------


def test_call_for_action_page(connector: FatfConnector) -> None:
    resource = _resource(connector, "call_for_action.2025-06")
    payload = call_for_action_page()
    connector.validate(resource, payload)
    frame = connector.parse(resource, payload)
    assert list(frame["country_name"]) == [
        "DEMOCRATIC PEOPLE'S REPUBLIC OF KOREA (DPRK)",
        "IRAN",
        "MYANMAR",
    ]
    assert frame["iso2"].isna().all() and set(frame["form"]) == {"statement_page"}
    harmonised = default_harmoniser().harmonise(frame, "country_name")
    assert list(harmonised["iso3"]) == ["PRK", "IRN", "MMR"]


def test_increased_monitoring_page_stops_at_the_no_longer_section(
    connector: FatfConnector,
) -> None:
    resource = _resource(connector, "increased_monitoring.2025-06")
    frame = connector.parse(resource, increased_monitoring_page())
    assert list(frame["country_name"]) == GREY_JUNE_2025
    assert not {"Croatia", "Mali", "United Republic of Tanzania"} & set(frame["country_name"])
    harmonised = default_harmoniser().harmonise(frame, "country_name")
    assert set(harmonised["country_match"]) == {"country"}
    # The page and the curated CSV agree on who is listed.
    expected = {
        default_harmoniser().match(r["iso2"]).iso3
        for r in _read_shared_csv()
        if r["list"] == "increased_monitoring"
    }
    assert set(harmonised["iso3"]) == expected


@pytest.mark.parametrize(
    ("resource_name", "payload", "message"),
    [
        # the site served its error page with HTTP 200
        ("call_for_action.2025-06", ERROR_PAGE, "got an error page"),
        # the structure changed: the jurisdictions are no longer cmp-title headings
        (
            "increased_monitoring.2025-06",
            increased_monitoring_page().replace(b'h3 class="cmp-title__text"', b"h3"),
            "no jurisdiction list found.*structure has changed",
        ),
        # a redirect from an old URL to the newest statement
        (
            "increased_monitoring.2025-02",
            increased_monitoring_page(),
            "statement of June 2025, not of plenary 2025-02",
        ),
        # the other statement behind this resource's URL
        ("call_for_action.2025-06", increased_monitoring_page(), "call-for-action"),
        ("call_for_action.2025-06", b"   ", "empty payload"),
        ("call_for_action.2025-06", b"\xff\xfe<\x00h\x00", "not UTF-8"),
    ],
)
def test_pages_that_are_not_the_statement_are_refused(
    connector: FatfConnector, resource_name: str, payload: bytes, message: str
) -> None:
    with pytest.raises(PayloadError, match=message):
        connector.validate(_resource(connector, resource_name), payload)


# -- the curated CSV -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"iso2,country_name,as_of_plenary\nIR,Iran,2025-06\n", r"column\(s\) \['list'\] missing"),
        (b"iso2,country_name,list,as_of_plenary\nIR,Iran,call_for_action,2025-06", "truncated"),
        (b"iso2,country_name,list,as_of_plenary\nIR,Iran,black,2025-06\n", "list 'black'"),
        (b"iso2,country_name,list,as_of_plenary\nIR,Iran,call_for_action,June 2025\n", "YYYY-MM"),
        (b"iso2,country_name,list,as_of_plenary\nIRN,Iran,call_for_action,2025-06\n", "two-letter"),
        (b"iso2,country_name,list,as_of_plenary\nIR,Iran,call_for_action\n", "3 fields"),
        (b"iso2,country_name,list,as_of_plenary\n", "no rows"),
        (
            b"iso2,country_name,list,as_of_plenary\nIR,Iran,call_for_action,2025-06\n"
            b"IR,Iran,call_for_action,2025-06\n",
            "appears twice",
        ),
        # a complete file of another plenary: never an empty list
        (b"iso2,country_name,list,as_of_plenary\nIR,Iran,call_for_action,2025-02\n", "no row for"),
    ],
)
def test_curated_csv_traps(connector: FatfConnector, payload: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        connector.validate(_resource(connector, "call_for_action.2025-06"), payload)


# -- through the fetcher, over HTTP -------------------------------------------------------


def _served_connector(httpserver: HTTPServer) -> FatfConnector:
    config = load_registry()["fatf"].with_base_url(httpserver.url_for("/").rstrip("/"))
    return FatfConnector(
        dataclasses.replace(
            config,
            min_interval_seconds=0,
            options={**config.options, "plenaries": {"2025-06": "2025-06-13"}},
        )
    )


def _fetcher(tmp_path: Path, mode: str) -> SourceFetcher:
    return SourceFetcher(
        store=SnapshotStore(tmp_path / "snapshots"),
        client=HttpClient(retry=RetryPolicy(max_attempts=1), sleep=lambda _: None),
        mode=mode,  # type: ignore[arg-type]
        sleep=lambda _: None,
    )


def test_live_fetch_of_both_statement_pages(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(f"{PAGES}/Call-for-action-june-2025.html").respond_with_data(
        call_for_action_page(), content_type="text/html; charset=utf-8"
    )
    httpserver.expect_request(f"{PAGES}/Increased-monitoring-june-2025.html").respond_with_data(
        increased_monitoring_page(), content_type="text/html; charset=utf-8"
    )
    connector = _served_connector(httpserver)
    acquired = _fetcher(tmp_path, "live").acquire(connector)
    assert [a.mode for a in acquired] == ["live", "live"]
    frame = pd.concat(
        [connector.parse(a.resource, a.snapshots[0].read()) for a in acquired], ignore_index=True
    )
    assert frame.groupby("list").size().to_dict() == {
        "call_for_action": 3,
        "increased_monitoring": 24,
    }
    provenance = acquired[0].snapshots[0].provenance
    assert provenance.url.endswith("/Call-for-action-june-2025.html")
    assert provenance.sha256 == hashlib.sha256(call_for_action_page()).hexdigest()
    httpserver.check_assertions()


def test_error_page_with_http_200_fails_live_and_falls_back_in_auto(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request(f"{PAGES}/Call-for-action-june-2025.html").respond_with_data(
        ERROR_PAGE, content_type="text/html"
    )
    connector = _served_connector(httpserver)
    resource = _resource(connector, "call_for_action.2025-06")
    with pytest.raises(SourceUnavailable, match="error page"):
        _fetcher(tmp_path, "live").acquire_resource(connector, resource)
    # Nothing bad was stored; auto mode uses the bundled June CSV, loudly stale.
    item = _fetcher(tmp_path, "auto").acquire_resource(connector, resource)
    assert (item.mode, item.stale) == ("bundled", True)
    assert "error page" in item.note
    assert len(connector.parse(resource, item.snapshots[0].read())) == 3


def test_changed_page_structure_is_never_an_empty_list(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    changed = increased_monitoring_page().replace(b"cmp-title__text", b"cmp-heading")
    httpserver.expect_request(f"{PAGES}/Increased-monitoring-june-2025.html").respond_with_data(
        changed, content_type="text/html"
    )
    connector = _served_connector(httpserver)
    resource = _resource(connector, "increased_monitoring.2025-06")
    with pytest.raises(SourceUnavailable, match="no jurisdiction list found"):
        _fetcher(tmp_path, "live").acquire_resource(connector, resource)


# -- the offline run: indicators and events equal the real file --------------------------


def _shared_frame() -> pd.DataFrame:
    # keep_default_na=False: Namibia is "NA"
    return pd.read_csv(shared_file("fatf", JUNE_FILE), dtype=str, keep_default_na=False)


@pytest.mark.parametrize(
    ("iso2", "iso3"), [("KP", "PRK"), ("IR", "IRN"), ("MM", "MMR"), ("BO", "BOL"), ("NA", "NAM")]
)
def test_indicators_match_the_real_file(offline_run, iso2: str, iso3: str) -> None:
    shared = _shared_frame().set_index("iso2")
    expected_list = shared.loc[iso2, "list"]
    with offline_run.published() as con:
        rows = con.execute(
            "select indicator_id, year, edition, value, unit, scale, direction "
            "from marts.fct_indicator where source_id = 'fatf' and iso3 = ?",
            [iso3],
        ).fetchall()
    assert rows == [
        (f"fatf.{expected_list}", 2025, "2025-06", 1.0, "listed (1/0)", "index", "higher_is_worse")
    ]


def test_indicator_rows_are_exactly_the_june_lists(offline_run) -> None:
    shared = _shared_frame()
    harmoniser = default_harmoniser()
    expected = sorted(
        (f"fatf.{row.list}", harmoniser.match(row.iso2).iso3) for row in shared.itertuples()
    )
    with offline_run.published() as con:
        rows = con.execute(
            "select indicator_id, iso3 from marts.fct_indicator where source_id = 'fatf' "
            "order by all"
        ).fetchall()
        labels = dict(
            con.execute(
                "select indicator_id, licence from marts.dim_indicator where source_id = 'fatf'"
            ).fetchall()
        )
    assert rows == expected
    assert len(rows) == 27  # 3 call for action + 24 increased monitoring
    assert set(labels) == {"fatf.call_for_action", "fatf.increased_monitoring"}


def test_events_show_the_june_2025_changes(offline_run) -> None:
    with offline_run.published() as con:
        events = con.execute(
            "select event_type, iso3, event_date, value, detail, label from marts.fct_event "
            "where source_id = 'fatf' and event_type <> 'fatf.listed_as_of' order by all"
        ).fetchall()
        as_of = con.execute(
            "select count(*), min(event_date), max(event_date) from marts.fct_event "
            "where event_type = 'fatf.listed_as_of'"
        ).fetchone()
        (unique,) = con.execute(
            "select count(*) = count(distinct event_id) from marts.fct_event"
        ).fetchone()
    changes = {(e[0], e[1]) for e in events}
    assert changes == {
        ("fatf.listed", "BOL"),
        ("fatf.listed", "VGB"),
        ("fatf.delisted", "HRV"),
        ("fatf.delisted", "MLI"),
        ("fatf.delisted", "TZA"),
    }
    assert {str(e[2]) for e in events} == {"2025-06-13"}
    bolivia = next(e for e in events if e[1] == "BOL")
    assert bolivia[3] == 1.0 and json.loads(bolivia[4])["country_name"] == "Bolivia"
    assert "added to the FATF increased-monitoring (grey) list" in bolivia[5]
    croatia = next(e for e in events if e[1] == "HRV")
    assert croatia[3] == 0.0 and json.loads(croatia[4])["previous_list"] == "increased_monitoring"
    # The first plenary's membership (3 + 25), labelled "as of", never as new listings.
    assert as_of[0] == 28 and str(as_of[1]) == str(as_of[2]) == "2025-02-21"
    assert unique


def test_raw_fatf_has_no_unmatched_country(offline_run) -> None:
    materialisations = {
        event.asset_key.to_user_string(): event.materialization.metadata
        for event in offline_run.result.get_asset_materialization_events()
    }
    assert materialisations["raw/fatf"]["unmatched_countries"].value == []
    assert materialisations["raw/fatf"]["dagster/row_count"].value == 55
    evaluations = {
        (e.asset_key.to_user_string(), e.check_name): e.passed
        for e in offline_run.result.get_asset_check_evaluations()
    }
    # The GX suites of raw.fatf and marts.fct_event ran and passed.
    assert evaluations[("raw/fatf", "expectations")] is True
    assert evaluations[("marts/fct_event", "expectations")] is True
