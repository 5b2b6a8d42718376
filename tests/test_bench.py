"""`extra bench`: the synthetic drop, the DuckDB-alone limit against the real row rules, and
the command's JSON."""

import csv
import hashlib
import json
import re
import unicodedata
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from extra_pipeline import bench, cli
from extra_pipeline.countries import default_harmoniser
from extra_pipeline.drops.ingest import DropArea, DropRequest, ingest, raw_table_ddl
from extra_pipeline.warehouse import WarehouseResource

TODAY = datetime.now(UTC).date()
DATE_FORMS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y")
UNITS = {"kg", "g", "t", "units", "tablets"}


def _key(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(re.findall(r"[a-z0-9]+", text))


def _market_keys() -> set[str]:
    with bench.MARKETS_CSV.open(encoding="utf-8", newline="") as handle:
        return {
            _key(spelling)
            for row in csv.DictReader(handle)
            for spelling in (row["market"], row["label"], *row["aliases"].split(";"))
        }


def _date(text: str) -> date | None:
    for form in DATE_FORMS:
        try:
            return datetime.strptime(text, form).date()
        except ValueError:
            continue
    return None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def classify(row: dict[str, str], seen: set[str], markets: set[str]) -> list[str]:
    """The invalid kinds of one generated row, judged independently of the generator."""
    kinds = []
    ref = row["seizure_ref"]
    if not ref:
        kinds.append("empty_ref")
    elif ref in seen:
        kinds.append("duplicate_ref")
    seen.add(ref)
    day = _date(row["seizure_date"])
    if day is None:
        kinds.append("impossible_date")
    elif day > TODAY:
        kinds.append("future_date")
    if _key(row["market"]) not in markets:
        kinds.append("unknown_market")
    quantity = _number(row["quantity"])
    if quantity is None:
        kinds.append("non_numeric_quantity")
    elif quantity < 0:
        kinds.append("negative_quantity")
    if row["unit"] not in UNITS:
        kinds.append("unknown_unit")
    countries = [row[c] for c in ("origin_country", "departure_country", "destination_country")]
    countries += row["transit_countries"].split(";")
    harmoniser = default_harmoniser()
    if any(c and harmoniser.match(c).kind != "country" for c in countries):
        kinds.append("unknown_country")
    if row["arrests"] and not row["arrests"].isdigit():
        kinds.append("non_integer_arrests")
    return kinds


def test_the_synthetic_drop_is_deterministic_with_about_one_percent_invalid_rows(tmp_path):
    first = bench.write_seizures_drop(tmp_path / "a.csv", 3_050, seed=5)
    again = bench.write_seizures_drop(tmp_path / "b.csv", 3_050, seed=5)
    other = bench.write_seizures_drop(tmp_path / "c.csv", 3_050, seed=6)
    content = first.path.read_bytes()
    assert content == again.path.read_bytes()
    assert first.sha256 == again.sha256 == hashlib.sha256(content).hexdigest()
    assert first.bytes == len(content)
    assert other.sha256 != first.sha256

    with first.path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == bench.SEIZURE_COLUMNS
        rows = list(reader)
    assert len(rows) == 3_050
    seen: set[str] = set()
    markets = _market_keys()
    found = dict.fromkeys(bench.INVALID_KINDS, 0)
    for row in rows:
        kinds = classify(row, seen, markets)
        assert len(kinds) <= 1, (row, kinds)  # each invalid row breaks exactly one rule
        for kind in kinds:
            found[kind] += 1
    assert found == first.invalid
    assert all(count >= 3 for count in found.values()), found  # every kind, spread out
    assert sum(found.values()) == first.invalid_rows == 30  # one in each full block of 100


def test_duckdb_alone_splits_the_rows_exactly_as_the_pipeline(tmp_path, seizures):
    drop = bench.write_seizures_drop(tmp_path / "sent" / "seizures.csv", 4_000, seed=11)
    pipeline = WarehouseResource(path=str(tmp_path / "pipeline" / "extra.duckdb"))
    outcome = ingest(
        DropRequest(path=drop.path, member_state="NL", dataset="seizures"),
        warehouse=pipeline,
        area=DropArea(tmp_path / "drops"),
        today=TODAY,
    )
    limit = WarehouseResource(path=str(tmp_path / "limit" / "extra.duckdb"))
    with limit.connect() as con:
        con.execute(raw_table_ddl(seizures))
    result = bench.limit_pass(
        drop.path, Path(limit.path), meter=bench.Meter(), today=TODAY, drop_id="nl-limit",
        period="2025", models=False,
    )  # fmt: skip

    assert outcome.status == "partial"
    assert (result["rows_accepted"], result["rows_quarantined"]) == (
        outcome.rows_accepted,
        outcome.rows_quarantined,
    )
    assert result["rows_quarantined"] == drop.invalid_rows
    assert result["issues_by_rule"] == outcome.issues_by_rule
    for kind, count in drop.invalid.items():
        assert sum(outcome.issues_by_rule.get(r, 0) for r in bench.KIND_RULES[kind]) >= count

    def quarantined(path: str) -> list[tuple]:
        with duckdb.connect(path, read_only=True) as con:
            return con.execute(
                "select row_number, column_name, rule from audit.quarantine order by all"
            ).fetchall()

    assert quarantined(limit.path) == quarantined(pipeline.path)


def test_bench_prints_one_json_object_with_the_documented_keys(capfd, monkeypatch, tmp_path):
    monkeypatch.setenv("EXTRA_HOME", str(tmp_path / "untouched"))
    code = cli.main(["bench", "--rows", "2000", "--history", "5000", "--json"])
    captured = capfd.readouterr()  # fd-level: the nightly run writes progress to the terminal
    assert code == 0, captured.err[-3000:]
    result = json.loads(captured.out)

    assert result["rows"] == 2_000 and result["history_rows"] == 5_000
    for phase in ("pipeline.ingest", "pipeline.marts", "limit.read", "limit.rules",
                  "limit.insert", "limit.models", "incremental.empty",
                  "incremental.with_history", "refresh.full", "refresh.no_change"):  # fmt: skip
        record = result["phases"][phase]
        assert record["seconds"] > 0 and record["peak_rss_mib"] > 0
    assert result["phases"]["pipeline.ingest"]["rows_per_second"] > 0
    assert set(result["ratios"]) == {"ingest_vs_limit", "incremental_vs_empty", "no_change_vs_full"}
    for name, ratio in result["ratios"].items():
        assert ratio["target"] == bench.TARGETS[name]
        assert ratio["value"] > 0 and isinstance(ratio["met"], bool)
    assert result["peak_rss_mib"]["self"] > 0
    assert result["pipeline"]["ingest"]["status"] == "partial"
    assert result["limit"]["agrees_with_pipeline"] is True
    accepted = result["pipeline"]["ingest"]["rows_accepted"]
    assert result["limit"]["models_rebuilt"]["marts.fct_seizure"] == accepted
    assert result["machine"]["cpu_count"] >= 1 and result["machine"]["duckdb"]
    assert any("warm" in note for note in result["notes"])
    assert result["pipeline"]["nightly_runs"]["refresh.no_change"]["up_to_date"] is True
    assert result["pipeline"]["increment_on_history"]["status"] == "partial"
    assert not (tmp_path / "untouched").exists()  # everything happened in its own home


def test_bench_refuses_bad_arguments_in_one_line(capsys, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    for args, message in [
        (["--rows", "10"], "--rows must be between"),
        (["--history", "5"], "--history must be at least"),
        (["--keep", str(tmp_path / "full")], "must be a new or empty directory"),
    ]:
        assert cli.main(["bench", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("rows", [99, 100, 250])
def test_small_drops_have_an_invalid_row_per_full_block(tmp_path, rows):
    drop = bench.write_seizures_drop(tmp_path / "s.csv", rows, seed=1)
    assert drop.invalid_rows == rows // 100
