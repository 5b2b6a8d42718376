"""One drop end to end through `ingest()`: real files, a real DuckDB warehouse, real GX."""

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from extra_pipeline.drops.ingest import DropArea, DropError, DropRequest, ingest
from extra_pipeline.quality import Suite, load_suites, validate_table
from extra_pipeline.warehouse import WarehouseResource

HEADER = (
    "seizure_ref,seizure_date,market,commodity,quantity,unit,origin_country,transport_mode,arrests"
)
TODAY = date(2026, 11, 25)
GOOD_ROWS = [
    "ES-1,2025-03-01,cocaine,cocaine hydrochloride,120.5,kg,Colombia,sea,3",
    "ES-2,14/02/2025,Heroin trade,heroin,2500,g,AFG,road,1",
    "ES-3,01.01.2025,cannabis,resin,3,t,Maroc,sea,0",
]


@pytest.fixture
def area(tmp_path: Path) -> DropArea:
    return DropArea(tmp_path / "drops")


def write(
    tmp_path: Path, name: str, lines: list[str], *, sidecar: dict | None = None, encoding="utf-8"
) -> Path:
    path = tmp_path / "sent" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    if sidecar is not None:
        path.with_name(name + ".meta.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return path


def run(
    path: Path, warehouse: WarehouseResource, area: DropArea, *, gate=None, **request
) -> object:
    request.setdefault("member_state", "ES")
    return ingest(
        DropRequest(path=path, **request),
        warehouse=warehouse,
        area=area,
        today=TODAY,
        received_at=datetime(2026, 11, 25, 9, 0, tzinfo=UTC),
        gate=gate,
    )


def query(warehouse: WarehouseResource, sql: str, params: list | None = None) -> list[tuple]:
    with warehouse.connect() as con:
        return con.execute(sql, params or []).fetchall()


def test_a_clean_file_is_archived_accepted_recorded_and_reported(tmp_path, warehouse, area):
    path = write(tmp_path, "seizures.csv", [HEADER, *GOOD_ROWS], sidecar={"period": "2025-Q1"})
    outcome = run(path, warehouse, area)

    assert outcome.status == "accepted"
    assert (outcome.rows_received, outcome.rows_accepted, outcome.rows_quarantined) == (3, 3, 0)
    assert area.archive_path(outcome.sha256).read_bytes() == path.read_bytes()
    rows = query(
        warehouse,
        "select row_number, seizure_ref, market, quantity_kg, origin_country_iso3 "
        "from raw.drop_seizures where drop_id = ? order by row_number",
        [outcome.drop_id],
    )
    assert rows == [
        (1, "ES-1", "cocaine_trade", 120.5, "COL"),
        (2, "ES-2", "heroin_trade", 2.5, "AFG"),
        (3, "ES-3", "cannabis_trade", 3000.0, "MAR"),
    ]
    (drop,) = query(
        warehouse,
        "select status, member_state, dataset, period, marking, rows_received, rows_accepted, "
        "rows_quarantined from audit.drops",
    )
    assert drop == ("accepted", "ES", "seizures", "2025-Q1", "amber", 3, 3, 0)
    assert query(
        warehouse, "select marking from audit.table_markings where table_name = 'raw.drop_seizures'"
    ) == [("amber",)]
    assert Path(outcome.report_html).is_file() and ".amber." in outcome.report_html
    report = json.loads(Path(outcome.report_json).read_text())
    assert report["marking"] == "TLP:AMBER" and report["drop"]["status"] == "accepted"


def test_bad_rows_are_quarantined_with_their_rule_and_the_counts_reconcile(
    tmp_path, warehouse, area
):
    bad = [
        "ES-4,31/02/2025,cocaine,,10,kg,Colombia,sea,0",  # not a date
        "ES-5,2025-03-01,tulips,,10,kg,Colombia,sea,0",  # not a market
        "ES-6,2025-03-01,cocaine,,-4,kg,Colombia,sea,0",  # negative quantity
        "ES-1,2025-03-02,cocaine,,1,kg,Colombia,sea,0",  # duplicate reference
        "ES-7,2031-01-01,cocaine,,1,kg,Atlantis,sea,0",  # future date and not a country
    ]
    path = write(tmp_path, "seizures.csv", [HEADER, *GOOD_ROWS, *bad])
    outcome = run(path, warehouse, area)

    assert outcome.status == "partial"
    assert outcome.rows_received == outcome.rows_accepted + outcome.rows_quarantined == 8
    assert (outcome.rows_accepted, outcome.rows_quarantined) == (3, 5)
    issues = query(
        warehouse,
        "select row_number, column_name, rule from audit.quarantine where drop_id = ? order by all",
        [outcome.drop_id],
    )
    rules = {(row, column, rule) for row, column, rule in issues}
    assert (4, "seizure_date", "date") in rules
    assert (5, "market", "market") in rules
    assert (6, "quantity", "minimum") in rules
    assert (7, "seizure_ref", "unique") in rules
    assert (8, "origin_country", "country") in rules
    (raw,) = query(
        warehouse, "select raw_values from audit.quarantine where row_number = 5 limit 1"
    )
    assert json.loads(raw[0])["market"] == "tulips"  # the row as sent, by the sender's headers
    (counts,) = query(
        warehouse, "select rows_received, rows_accepted, rows_quarantined from audit.drops"
    )
    assert counts == (8, 3, 5)


def test_the_same_bytes_again_are_a_duplicate_and_load_nothing(tmp_path, warehouse, area):
    first = run(write(tmp_path, "a.csv", [HEADER, *GOOD_ROWS]), warehouse, area)
    again = write(tmp_path, "renamed.csv", [HEADER, *GOOD_ROWS])
    second = ingest(
        DropRequest(path=again, member_state="ES"), warehouse=warehouse, area=area, today=TODAY
    )
    assert second.status == "duplicate"
    assert second.duplicate_of == first.drop_id
    assert (second.rows_received, second.rows_accepted) == (0, 0)
    assert query(warehouse, "select count(*) from raw.drop_seizures") == [(3,)]


def test_a_newer_drop_for_the_same_period_supersedes_the_older(tmp_path, warehouse, area):
    older = run(
        write(tmp_path, "q1.csv", [HEADER, *GOOD_ROWS], sidecar={"period": "2025-Q1"}),
        warehouse,
        area,
    )
    newer = ingest(
        DropRequest(path=write(tmp_path, "q1-fixed.csv", [HEADER, *GOOD_ROWS[:2]], sidecar={"period": "2025-Q1"}),
                    member_state="ES"),
        warehouse=warehouse, area=area, today=TODAY,
    )  # fmt: skip
    assert newer.supersedes == [older.drop_id]
    states = dict(query(warehouse, "select drop_id, superseded_by from audit.drops"))
    assert states == {older.drop_id: newer.drop_id, newer.drop_id: None}
    # the older rows stay in raw, never deleted
    assert query(warehouse, "select count(*) from raw.drop_seizures") == [(5,)]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "unreadable"),
        (b"", "empty"),
        ((HEADER + "\n").encode(), "empty"),
        (
            b"seizure_ref,Seizure-Ref,seizure_date,market,quantity,unit\nA,B,2025-01-01,cocaine,1,kg\n",
            "ambiguous_headers",
        ),
        (b"colour,size\nred,3\n", "unknown_dataset"),
    ],
)
def test_an_unusable_file_is_rejected_whole_with_its_reason_and_still_archived(
    tmp_path, warehouse, area, content, code
):
    path = tmp_path / "sent.csv"
    path.write_bytes(content)
    outcome = run(path, warehouse, area)
    assert outcome.status == "rejected"
    assert outcome.rejection_code == code
    assert outcome.reason
    assert area.archive_path(outcome.sha256).read_bytes() == content
    assert query(warehouse, "select status, rejection_code from audit.drops") == [
        ("rejected", code)
    ]
    assert Path(outcome.report_html).is_file()


def test_unknown_columns_are_kept_aside_never_as_identifiers(tmp_path, warehouse, area):
    hostile = '"x""; DROP TABLE audit.drops; --"'
    path = write(
        tmp_path, "extra.csv", [f"{HEADER},{hostile}", *(f"{row},kept" for row in GOOD_ROWS)]
    )
    outcome = run(path, warehouse, area)
    assert outcome.status == "accepted"
    assert outcome.extra_columns == ['x"; DROP TABLE audit.drops; --']
    (extra,) = query(warehouse, "select extra_values from raw.drop_seizures where row_number = 1")
    assert json.loads(extra[0]) == {'x"; DROP TABLE audit.drops; --': "kept"}
    columns = {r[0] for r in query(warehouse, "describe raw.drop_seizures")}
    assert not any("DROP" in c for c in columns)
    assert query(warehouse, "select count(*) from audit.drops") == [(1,)]


def test_markup_and_formulas_stay_data_and_the_report_escapes_them(tmp_path, warehouse, area):
    rows = [
        "ES-1,2025-03-01,cocaine,<script>alert(1)</script>,1,kg,Colombia,sea,0",
        'ES-2,2025-03-01,cocaine,"=HYPERLINK(""http://example.org"",""x"")",1,kg,Colombia,sea,0',
        "ES-3,not a date,cocaine,<b>bold</b>,1,kg,Colombia,sea,0",
    ]
    outcome = run(write(tmp_path, "markup.csv", [HEADER, *rows]), warehouse, area)
    kept = dict(query(warehouse, "select seizure_ref, commodity from raw.drop_seizures"))
    assert kept == {
        "ES-1": "<script>alert(1)</script>",
        "ES-2": '=HYPERLINK("http://example.org","x")',
    }
    html = Path(outcome.report_html).read_text()
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html


def test_the_sidecar_sets_marking_and_period_and_flags_win(tmp_path, warehouse, area):
    sidecar = {
        "dataset": "seizures",
        "period": "2025",
        "marking": "TLP:RED",
        "contact": "unit@example.org",
    }
    path = write(tmp_path, "red.csv", [HEADER, *GOOD_ROWS], sidecar=sidecar)
    outcome = run(path, warehouse, area, period="2025-H1")
    assert (outcome.marking, outcome.period) == ("red", "2025-H1")
    assert query(
        warehouse, "select marking from audit.table_markings where table_name = 'raw.drop_seizures'"
    ) == [("red",)]


def test_handover_mistakes_are_errors_and_bad_metadata_is_a_recorded_rejection(
    tmp_path, warehouse, area
):
    path = write(tmp_path, "x.csv", [HEADER, *GOOD_ROWS])
    with pytest.raises(DropError, match="not an ISO 3166 alpha-2"):
        run(path, warehouse, area, member_state="Spain")
    secret = run(path, warehouse, area, marking="secret")
    assert (secret.status, secret.rejection_code, secret.marking) == (
        "rejected",
        "bad_metadata",
        "red",
    )
    assert "is not a TLP marking" in secret.reason
    broken = write(tmp_path, "y.csv", [HEADER, *GOOD_ROWS], sidecar=None)
    broken.with_name("y.csv.meta.json").write_text("{not json")
    outcome = ingest(
        DropRequest(path=broken, member_state="ES"), warehouse=warehouse, area=area, today=TODAY
    )
    assert (outcome.status, outcome.rejection_code) == ("rejected", "bad_sidecar")
    assert area.archive_path(outcome.sha256).is_file()  # archived before the sidecar was read
    # a rejected file may be sent again, corrected: it is not a duplicate
    broken.with_name("y.csv.meta.json").write_text('{"period": "2025"}')
    again = ingest(
        DropRequest(path=broken, member_state="ES"), warehouse=warehouse, area=area, today=TODAY
    )
    assert again.status == "accepted"


def test_duplicates_are_judged_within_one_senders_drops(tmp_path, warehouse, area):
    path = write(tmp_path, "shared.csv", [HEADER, *GOOD_ROWS])
    first = run(path, warehouse, area)
    other_state = ingest(
        DropRequest(path=path, member_state="NL"), warehouse=warehouse, area=area, today=TODAY
    )
    assert first.status == "accepted" and other_state.status == "accepted"
    assert other_state.duplicate_of is None


def test_a_retried_drop_returns_its_recorded_outcome(tmp_path, warehouse, area):
    path = write(tmp_path, "retry.csv", [HEADER, *GOOD_ROWS])
    request = DropRequest(path=path, member_state="ES", drop_id="es-20261125T090000-0123abcd")
    first = ingest(request, warehouse=warehouse, area=area, today=TODAY)
    second = ingest(request, warehouse=warehouse, area=area, today=TODAY)
    assert (second.drop_id, second.status, second.rows_accepted) == (first.drop_id, "accepted", 3)
    assert query(warehouse, "select count(*) from audit.drops") == [(1,)]
    assert query(warehouse, "select count(*) from raw.drop_seizures") == [(3,)]
    with pytest.raises(DropError, match="drop id"):
        ingest(replace(request, drop_id="../../etc"), warehouse=warehouse, area=area, today=TODAY)


def test_a_failing_quality_gate_quarantines_every_row_and_loads_nothing(tmp_path, warehouse, area):
    strict = tmp_path / "suites" / "drop_seizures.json"
    strict.parent.mkdir()
    strict.write_text(
        json.dumps(
            {
                "name": "drop_seizures",
                "meta": {"table": "raw.drop_seizures", "scope": "drop"},
                "expectations": [
                    {"type": "expect_table_row_count_to_be_between", "kwargs": {"max_value": 2}}
                ],
            }
        )
    )
    (suite,) = load_suites(strict.parent)

    def gate(dataset: str, database: Path, table: str):
        return validate_table(suite, database, table)

    path = write(tmp_path, "big.csv", [HEADER, *GOOD_ROWS])
    outcome = run(path, warehouse, area, gate=gate)
    assert outcome.status == "rejected" and outcome.rejection_code == "failed_expectations"
    assert (outcome.rows_received, outcome.rows_accepted, outcome.rows_quarantined) == (3, 0, 3)
    assert query(warehouse, "select distinct rule from audit.quarantine") == [("expectations",)]
    loaded = query(
        warehouse,
        "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = 'drop_seizures'",
    )
    assert loaded == [(0,)]  # nothing was loaded: the raw table was never even created


def test_every_shipped_drop_suite_passes_on_a_clean_drop(tmp_path, warehouse, area):
    suites: dict[str, Suite] = {
        s.meta["table"]: s for s in load_suites() if s.meta.get("scope") == "drop"
    }
    assert set(suites) == {"raw.drop_seizures", "raw.drop_criminal_networks"}
    verdicts = []

    def gate(dataset: str, database: Path, table: str):
        verdicts.append(validate_table(suites[f"raw.drop_{dataset}"], database, table))
        return verdicts[-1]

    path = write(tmp_path, "ok.csv", [HEADER, *GOOD_ROWS])
    outcome = run(path, warehouse, area, gate=gate)
    assert outcome.status == "accepted"
    assert verdicts and verdicts[0].success, [o for o in verdicts[0].failed]


def test_file_names_are_metadata_only(tmp_path, warehouse, area):
    path = write(tmp_path, "..%2F..%2Fetc%2Fpasswd;drop.csv", [HEADER, *GOOD_ROWS])
    outcome = run(path, warehouse, area)
    stored = [p for p in area.root.rglob("*") if p.is_file()]
    assert all(outcome.sha256 in p.name or p.suffix in (".html", ".json") for p in stored)
    assert query(warehouse, "select file_name from audit.drops") == [
        ("..%2F..%2Fetc%2Fpasswd;drop.csv",)
    ]
    with duckdb.connect(":memory:") as con:  # the name never became SQL either
        assert con.execute("select 1").fetchone() == (1,)


def test_repeated_extra_headers_keep_every_cell(tmp_path, warehouse, area):
    path = write(
        tmp_path, "notes.csv", [f"{HEADER},note,note", *(f"{row},a,b" for row in GOOD_ROWS)]
    )
    run(path, warehouse, area)
    (extra,) = query(warehouse, "select extra_values from raw.drop_seizures where row_number = 1")
    assert json.loads(extra[0]) == {"note": "a", "note (2)": "b"}
