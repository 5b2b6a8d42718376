"""`extra bench`: how fast the pipeline ingests a large drop and refreshes the marts, measured
against what DuckDB alone does with the same data in one process.

Everything happens in a temporary `EXTRA_HOME` (removed afterwards unless `--keep DIR`),
on the bundled offline sources:

1. **generate**: a deterministic synthetic `seizures` drop (the contract's canonical
   headers, realistic values, about 1% invalid rows of ten kinds, see `INVALID_KINDS`),
   written with numpy in fixed-size chunks: the same arguments give the same bytes.
2. **pipeline**: in a copy of the set-up home (see 5, copied for every later home so set-up
   runs once), the real drop job is timed on the file
   (archive, read, row rules and quarantine, GX gate, raw tables), then the nightly run
   that refreshes the marts. The drop must end `partial` with every row accounted for,
   or the benchmark fails: it has to measure real work.
3. **limit**: the same data work with DuckDB alone, in a copy of the setup warehouse:
   `read_csv`, the contract's row rules as one SQL pass, the inserts, and the `sql/`
   models in build order.
4. **incremental**: a 10,000-row drop plus the nightly run on top of M rows of history
   (the pipeline's accepted rows copied in SQL as earlier drops, untimed: see
   `replicate_history`), against the same on an empty warehouse.
5. **no-change refresh**: a fresh home's first nightly run is a full refresh (every
   source parsed, every model and published copy built: the set-up every later home is
   copied from); the nightly run again, with nothing new, is the no-change refresh.

`run_bench` returns one JSON-ready dict: the seconds, rows per second and peak memory of
every phase, the drop and nightly-run summaries, the machine, and the three ratios with
their targets. Heavy imports (Dagster definitions, Great Expectations) and first-use costs
are paid before any timed phase: the imports first, then a small untimed drop job and
DuckDB-alone pass.
"""

from __future__ import annotations

import csv
import hashlib
import os
import platform
import resource
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from graphlib import TopologicalSorter
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import yaml

from extra_pipeline.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    import dagster as dg

MARKETS_CSV = PROJECT_ROOT / "assets" / "reference" / "markets.csv"
CONTRACT_YAML = PROJECT_ROOT / "assets" / "contracts" / "seizures.yaml"


@cache
def _contract_columns() -> list[dict[str, Any]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(CONTRACT_YAML.read_text(encoding="utf-8"), Loader=loader)["columns"]


#: the seizures contract's canonical headers, in file order
SEIZURE_COLUMNS = tuple(column["name"] for column in _contract_columns())

#: the kinds of invalid row, one per block of 100 rows, in turn; each breaks exactly one rule
INVALID_KINDS = (
    "impossible_date", "future_date", "unknown_market", "negative_quantity",
    "non_numeric_quantity", "unknown_unit", "unknown_country", "empty_ref", "duplicate_ref",
    "non_integer_arrests",
)  # fmt: skip

#: the rule(s) the pipeline quarantines each kind under (`audit.quarantine.rule`)
KIND_RULES: Mapping[str, frozenset[str]] = {
    "impossible_date": frozenset({"date"}),
    "future_date": frozenset({"date_range"}),
    "unknown_market": frozenset({"market"}),
    "negative_quantity": frozenset({"minimum"}),
    "non_numeric_quantity": frozenset({"number"}),
    "unknown_unit": frozenset({"enum"}),
    "unknown_country": frozenset({"country"}),
    "empty_ref": frozenset({"required"}),
    "duplicate_ref": frozenset({"unique"}),
    "non_integer_arrests": frozenset({"integer", "number"}),
}

DEFAULT_ROWS = 1_000_000
DEFAULT_HISTORY = 5_000_000
MIN_ROWS = 1_000  # below this a drop has too few invalid rows to end `partial`
INCREMENT_ROWS = 10_000
WARMUP_ROWS = 2_000
#: rows per generated chunk: fixed, so the bytes do not depend on memory or batch size
CHUNK_ROWS = 100_000
MEMBER_STATE = "NL"
TARGETS = {"ingest_vs_limit": 3.0, "incremental_vs_empty": 1.5, "no_change_vs_full": 0.10}
_FIELD_BREAKERS = frozenset(',"\r\n;|')  # never inside a generated value (no CSV quoting)


class BenchError(RuntimeError):
    """The benchmark could not measure what it promises (a drop not ingested, a run failed)."""


# --------------------------------------------------------------------------- synthetic drop


@dataclass(frozen=True)
class SyntheticDrop:
    """A generated file and what is in it."""

    path: Path
    rows: int
    invalid: dict[str, int]  # kind -> rows
    sha256: str
    bytes: int

    @property
    def invalid_rows(self) -> int:
        return sum(self.invalid.values())


class _Grouped:
    """Spellings grouped by item (market, country...): a vectorised pick of one spelling per row."""

    def __init__(self, groups: Sequence[Sequence[str]]) -> None:
        self.values = np.array([s for g in groups for s in g], dtype=object)
        self.count = np.array([len(g) for g in groups], dtype=np.int64)
        self.start = np.concatenate([[0], np.cumsum(self.count)[:-1]])

    def pick(self, item: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        offset = rng.integers(0, 1 << 30, size=len(item)) % self.count[item]
        return self.values[self.start[item] + offset]


@dataclass(frozen=True)
class _Vocabulary:
    market_weights: np.ndarray
    markets: _Grouped
    commodities: _Grouped  # by market
    countries: _Grouped  # by country
    pools: dict[str, np.ndarray]  # origin/departure/destination/transit -> country indexes
    iso2: np.ndarray  # by country
    days: int  # days from _FIRST_DAY to _LAST_DAY
    dates: np.ndarray  # every day as ISO, then as DD/MM/YYYY, then as DD.MM.YYYY


# Realistic routes: where goods come from, leave from, go through and are bound for.
_ORIGINS = "CO EC PE BO BR PY MA AF PK IR MM CN IN MX TR LB SY NG ZA AL RS UA VE DO JM GH CI"
_DEPARTURES = "PA EC CO BR DO CR GY SN TG GH NG MA TR AE CN IN PK IR LB AL UA RS GB US"
_DESTINATIONS = "NL BE DE FR ES IT PT PL IE AT SE DK CZ GR HR SI RO BG HU"
_TRANSITS = "PA ES PT NL BE MA DZ TR GR BG RS AL ME HR CV SN GW DO JM AE EG"
#: how often each market is seized (every other market: 1)
_MARKET_WEIGHTS = {
    "cocaine_trade": 30, "cannabis_trade": 24, "synthetic_drug_trade": 14, "heroin_trade": 8,
    "excise_goods": 8, "arms_trafficking": 4, "counterfeit_goods": 4, "fauna_crimes": 2,
}  # fmt: skip
_COMMODITIES = {
    "cocaine_trade": ["cocaine hydrochloride", "cocaine", "crack cocaine", "coca paste"],
    "cannabis_trade": ["cannabis resin", "herbal cannabis", "hashish", "cannabis plants"],
    "heroin_trade": ["heroin", "opium", "morphine base"],
    "synthetic_drug_trade": ["MDMA tablets", "amphetamine paste", "methamphetamine",
                             "captagon", "ketamine", "BMK precursor"],
    "arms_trafficking": ["pistols", "assault rifles", "ammunition", "converted gas pistols"],
    "excise_goods": ["cigarettes", "raw tobacco", "water pipe tobacco"],
    "counterfeit_goods": ["counterfeit clothing", "falsified medicines", "counterfeit perfume"],
    "fauna_crimes": ["glass eels", "ivory", "protected birds"],
}  # fmt: skip
_UNITS = ("kg", "g", "t", "units", "tablets")
_UNIT_WEIGHTS = (0.50, 0.30, 0.03, 0.07, 0.10)
#: (log median, sigma, low, high) of the quantity per unit; masses stay under the GX gate's
#: 500 t bound on quantity_kg
_QUANTITY = {
    "kg": (np.log(15), 1.6, 0.1, 20_000),
    "g": (np.log(30), 1.5, 0.1, 100_000),
    "t": (np.log(1.5), 0.8, 0.1, 300),
    "units": (np.log(20), 1.4, 1, 100_000),
    "tablets": (np.log(500), 1.5, 1, 1_000_000),
}
_TRANSPORT = np.array(
    ["sea", "sea", "sea", "air", "air", "road", "road", "rail", "postal", "maritime",
     "vessel", "truck", "parcel", "courier"], dtype=object,
)  # fmt: skip
_LOCATIONS = np.array(
    ["NLRTM", "BEANR", "DEHAM", "ESALG", "ESVLC", "FRLEH", "ITGIT", "PTSIE", "GRPIR", "PLGDN",
     "Schiphol airport", "Port of Rotterdam", "Antwerp container terminal",
     "Madrid-Barajas airport", "Paris CDG airport", "A7 motorway", "Hamburg port"], dtype=object,
)  # fmt: skip
_INVALID_VALUES = {
    "impossible_date": ["31/02/2024", "30/02/2023", "2023-02-29", "31/04/2022", "31.06.2021"],
    "unknown_market": ["space tourism", "unicorn trade", "misc", "tbc", "n/a"],
    "non_numeric_quantity": ["about 5", "unknown", "n/a", "12 kg", "several"],
    "unknown_unit": ["barrels", "bags", "boxes", "lbs", "crates"],
    "unknown_country": ["Atlantis", "Wakanda", "Ruritania", "Narnia", "Elbonia"],
    "non_integer_arrests": ["2.5", "two", "1.5", "a few", "3.7"],
}
_COUNTS = np.array([str(n) for n in range(51)], dtype=object)
_FIRST_DAY, _LAST_DAY = date(2015, 1, 1), date(2025, 12, 31)


def _clean(values: Sequence[str]) -> list[str]:
    """Distinct non-empty spellings that need no CSV quoting and are no list separators."""
    return list(dict.fromkeys(v for v in values if v and not (_FIELD_BREAKERS & set(v))))


@cache
def _vocabulary() -> _Vocabulary:
    from babel import Locale

    from extra_pipeline.countries import LANGUAGES, default_harmoniser

    with MARKETS_CSV.open(encoding="utf-8", newline="") as handle:
        market_rows = list(csv.DictReader(handle))
    codes = [row["market"] for row in market_rows]
    weights = np.array([_MARKET_WEIGHTS.get(code, 1) for code in codes], dtype=float)
    markets = _Grouped(
        [
            # the code and label more often than each alias: the forms senders mostly use
            _clean([r["market"], r["market"], r["label"], *r["aliases"].split(";")[:6]])
            for r in market_rows
        ]
    )
    commodities = _Grouped(
        [_COMMODITIES.get(r["market"], [r["label"].lower()]) for r in market_rows]
    )

    harmoniser = default_harmoniser()
    iso3_of = dict(
        harmoniser.reference_table()[["iso2", "iso3"]].itertuples(index=False, name=None)
    )
    iso2 = sorted(set(" ".join([_ORIGINS, _DEPARTURES, _DESTINATIONS, _TRANSITS]).split()))
    locales = [Locale.parse(language) for language in LANGUAGES]
    spellings = []
    for code in iso2:
        names = [locale.territories.get(code, "") for locale in locales]
        # ISO2 most often, then ISO3, then the name in one of the drop languages; a name the
        # harmoniser would not resolve to this country is left out (never a surprise invalid)
        names = [n for n in _clean(names) if harmoniser.match(n).iso3 == iso3_of[code]]
        spellings.append([code] * 4 + [iso3_of[code]] * 2 + names)
    for unknown in _INVALID_VALUES["unknown_country"]:
        if harmoniser.match(unknown).kind == "country":
            raise BenchError(f"the unknown country {unknown!r} is a country after all")
    position = {code: i for i, code in enumerate(iso2)}
    pools = {
        name: np.array([position[c] for c in codes_.split()])
        for name, codes_ in [("origin", _ORIGINS), ("departure", _DEPARTURES),
                             ("destination", _DESTINATIONS), ("transit", _TRANSITS)]
    }  # fmt: skip

    days = np.arange(np.datetime64(_FIRST_DAY), np.datetime64(_LAST_DAY) + 1, dtype="datetime64[D]")
    iso = days.astype(str).astype(object)
    dmy = np.array([f"{d[8:10]}/{d[5:7]}/{d[0:4]}" for d in iso], dtype=object)
    dot = np.array([f"{d[8:10]}.{d[5:7]}.{d[0:4]}" for d in iso], dtype=object)
    return _Vocabulary(
        market_weights=weights / weights.sum(),
        markets=markets,
        commodities=commodities,
        countries=_Grouped(spellings),
        pools=pools,
        iso2=np.array(iso2, dtype=object),
        days=len(iso),
        dates=np.concatenate([iso, dmy, dot]),
    )


def _blank(values: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    values[rng.random(len(values)) < share] = ""
    return values


def _quantities(unit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One decimal for masses, whole numbers for counts, from a log-normal per unit."""
    out = np.empty(len(unit), dtype=object)
    for u, name in enumerate(_UNITS):
        rows = np.flatnonzero(unit == u)
        median, sigma, low, high = _QUANTITY[name]
        values = np.clip(rng.lognormal(median, sigma, len(rows)), low, high)
        if name in ("units", "tablets"):
            out[rows] = np.rint(values).astype(np.int64).astype(str).astype(object)
        else:
            tenths = np.maximum(np.rint(values * 10).astype(np.int64), 1)
            whole, decimal = (tenths // 10).astype(str), (tenths % 10).astype(str)
            out[rows] = np.strings.add(np.strings.add(whole, "."), decimal).astype(object)
    return out


def _chunk(
    vocab: _Vocabulary, seed: int, number: int, start: int, size: int, prefix: str
) -> tuple[str, dict[str, int]]:
    """Rows `start .. start+size-1` (0-based) as CSV text, and the invalid rows by kind."""
    rng = np.random.default_rng([seed, number])
    numbers = np.arange(start + 1, start + size + 1).astype(str)
    refs = np.strings.add(f"{prefix}-", np.strings.zfill(numbers, 8)).astype(object)
    day = rng.integers(0, vocab.days, size)
    form = rng.choice(3, size=size, p=[0.6, 0.3, 0.1])  # ISO, DD/MM/YYYY, DD.MM.YYYY
    dates = vocab.dates[form * vocab.days + day]
    market = rng.choice(len(vocab.market_weights), size=size, p=vocab.market_weights)
    unit = rng.choice(len(_UNITS), size=size, p=_UNIT_WEIGHTS)

    def country(pool: str) -> np.ndarray:
        indexes = vocab.pools[pool]
        return vocab.countries.pick(indexes[rng.integers(0, len(indexes), size)], rng)

    # transit lists as senders write them: ISO2 codes separated by `;`
    hops = rng.choice(4, size=size, p=[0.55, 0.30, 0.12, 0.03])
    transit = np.full(size, "", dtype=object)
    pool = vocab.pools["transit"]
    for leg in range(3):
        rows = np.flatnonzero(hops > leg)
        codes = vocab.iso2[pool[rng.integers(0, len(pool), len(rows))]]
        transit[rows] = codes if leg == 0 else transit[rows] + ";" + codes
    arrests = _COUNTS[np.minimum(rng.poisson(0.8, size), len(_COUNTS) - 1)]
    columns = {
        "seizure_ref": refs,
        "seizure_date": dates,
        "market": vocab.markets.pick(market, rng),
        "commodity": _blank(vocab.commodities.pick(market, rng), 0.05, rng),
        "quantity": _quantities(unit, rng),
        "unit": np.array(_UNITS, dtype=object)[unit],
        "origin_country": _blank(country("origin"), 0.10, rng),
        "departure_country": _blank(country("departure"), 0.20, rng),
        "destination_country": _blank(country("destination"), 0.05, rng),
        "transit_countries": transit,
        "transport_mode": _blank(_TRANSPORT[rng.integers(0, len(_TRANSPORT), size)], 0.05, rng),
        "location": _blank(_LOCATIONS[rng.integers(0, len(_LOCATIONS), size)], 0.10, rng),
        "arrests": _blank(arrests, 0.10, rng),
    }
    invalid = _spoil(columns, seed, start, size)
    text = "\n".join(map(",".join, zip(*(columns[c] for c in SEIZURE_COLUMNS), strict=True)))
    return text + "\n", invalid


def _spoil(columns: dict[str, np.ndarray], seed: int, start: int, size: int) -> dict[str, int]:
    """One invalid row per full block of 100 rows, at a seed-dependent offset (never the
    block's first row, so a duplicated ref repeats the valid row just before it); the kinds
    take turns. Returns the invalid rows by kind."""
    counts = dict.fromkeys(INVALID_KINDS, 0)
    first_block = start // 100
    for block in range(first_block, (start + size) // 100):
        row = block * 100 + 1 + (block * 7919 + seed * 104729) % 99 - start
        kind = INVALID_KINDS[(block + seed) % len(INVALID_KINDS)]
        turn = block // len(INVALID_KINDS)
        counts[kind] += 1
        variants = _INVALID_VALUES.get(kind, [""])
        value = variants[turn % len(variants)]
        if kind == "impossible_date":
            columns["seizure_date"][row] = value
        elif kind == "future_date":
            year, month, day = 2090 + turn % 9, 1 + turn % 12, 1 + turn % 28
            columns["seizure_date"][row] = (
                f"{year}-{month:02d}-{day:02d}" if turn % 2 else f"{day:02d}/{month:02d}/{year}"
            )
        elif kind == "unknown_market":
            columns["market"][row] = value
        elif kind == "negative_quantity":
            columns["quantity"][row] = "-" + columns["quantity"][row]
        elif kind == "non_numeric_quantity":
            columns["quantity"][row] = value
        elif kind == "unknown_unit":
            columns["unit"][row] = value
        elif kind == "unknown_country":
            where = ("origin_country", "departure_country", "destination_country", "transit")
            target = where[turn % len(where)]
            if target == "transit":
                columns["transit_countries"][row] = f"PA;{value}"
            else:
                columns[target][row] = value
        elif kind == "empty_ref":
            columns["seizure_ref"][row] = ""
        elif kind == "duplicate_ref":
            columns["seizure_ref"][row] = columns["seizure_ref"][row - 1]
        else:  # non_integer_arrests
            columns["arrests"][row] = value
    return counts


def write_seizures_drop(
    path: Path, rows: int, *, seed: int = 1, ref_prefix: str | None = None
) -> SyntheticDrop:
    """Write a synthetic `seizures` drop of `rows` rows as UTF-8 CSV; deterministic in
    (rows, seed, ref_prefix). Streams chunk by chunk: memory stays small at any size."""
    vocab = _vocabulary()
    prefix = ref_prefix or f"{MEMBER_STATE}-DOUANE-{seed}"
    digest = hashlib.sha256()
    invalid = dict.fromkeys(INVALID_KINDS, 0)
    size = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:

        def write(data: bytes) -> None:
            nonlocal size
            handle.write(data)
            digest.update(data)
            size += len(data)

        write((",".join(SEIZURE_COLUMNS) + "\n").encode("utf-8"))
        for number, start in enumerate(range(0, rows, CHUNK_ROWS)):
            text, counts = _chunk(vocab, seed, number, start, min(CHUNK_ROWS, rows - start), prefix)
            write(text.encode("utf-8"))
            for kind, count in counts.items():
                invalid[kind] += count
    return SyntheticDrop(path, rows, invalid, digest.hexdigest(), size)


# --------------------------------------------------------------------------- measuring


def _rss_bytes() -> int | None:
    """This process's resident memory now (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class Meter:
    """Times phases and samples resident memory every 50 ms in a background thread."""

    def __init__(self, say: Callable[[str], None] = lambda _: None) -> None:
        self.phases: dict[str, dict[str, Any]] = {}
        self._say = say
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-rss", daemon=True)

    def __enter__(self) -> Meter:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self._peak = max(self._peak, _rss_bytes() or 0)

    @contextmanager
    def phase(self, name: str, rows: int | None = None, *, timed: bool = True) -> Iterator[None]:
        self._say(f"{name}...")
        start_rss = _rss_bytes() or 0
        self._peak = start_rss
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        peak = max(self._peak, _rss_bytes() or 0)
        record: dict[str, Any] = {"seconds": round(seconds, 3)}
        if rows is not None:
            record["rows"] = rows
            record["rows_per_second"] = round(rows / seconds) if seconds > 0 else None
        record["rss_start_mib"] = _mib(start_rss)
        record["peak_rss_mib"] = _mib(peak)
        if not timed:
            record["timed"] = False  # set-up work: recorded, not part of any ratio
        self.phases[name] = record
        self._say(f"{name}: {seconds:.2f} s")

    def seconds(self, *names: str) -> float:
        return sum(self.phases[name]["seconds"] for name in names)


def _mib(size: int | float) -> float:
    return round(size / 2**20, 1)


def _max_rss_mib(who: int) -> float:
    return _mib(resource.getrusage(who).ru_maxrss * 1024)  # Linux reports KiB


def machine() -> dict[str, Any]:
    """Where the numbers were measured."""
    memory = None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    memory = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    versions = {}
    for package in ("duckdb", "dagster", "great-expectations", "pandas", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu_count": os.cpu_count(),
        "memory_gib": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        **versions,
    }


# --------------------------------------------------------------------------- the limit: DuckDB alone


def _norm(expression: str) -> str:
    """A cell's matching key in SQL: case and accents ignored, runs of anything else one space."""
    return f"trim(regexp_replace(lower(strip_accents({expression})), '[^a-z0-9]+', ' ', 'g'))"


def _column(name: str) -> str:
    return f"nullif(trim({name}), '')"


def _distinct_codes(column: str, lookup: str) -> str:
    """A CTE body: each distinct cell of `column` with its code from `lookup` (null if none);
    the cell is normalised once per distinct value, not once per row."""
    return (
        f"select v.cell, m.code from (select distinct {column} as cell from cells "
        f"where {column} is not null) as v left join {lookup} as m on m.key = {_norm('v.cell')}"
    )


_CELLS = ", ".join(SEIZURE_COLUMNS)
#: (column, SQL naming the first rule its cell breaks, or null): the seizures contract's rules
_RULES: tuple[tuple[str, str], ...] = (
    ("row", f"case when contains(concat_ws('', {_CELLS}), chr(65533)) then 'encoding' end"),
    ("seizure_ref", "case when seizure_ref is null then 'required' "
                    "when length(seizure_ref) > 64 then 'max_length' end"),
    ("seizure_ref", "case when ref_repeat then 'unique' end"),
    ("seizure_date", "case when seizure_date is null then 'required' "
                     "when date_value is null then 'date' "
                     "when date_value < date '2000-01-01' or date_value > $today then 'date_range' end"),
    ("market", "case when market is null then 'required' when market_code is null then 'market' end"),
    ("commodity", "case when length(commodity) > 200 then 'max_length' end"),
    ("quantity", "case when quantity is null then 'required' "
                 "when quantity_value is null or not isfinite(quantity_value) then 'number' "
                 "when quantity_value < 0 then 'minimum' end"),
    ("unit", "case when unit is null then 'required' when unit_code is null then 'enum' end"),
    ("origin_country", "case when origin_iso3 is null and origin_country is not null then 'country' end"),
    ("departure_country", "case when departure_iso3 is null and departure_country is not null then 'country' end"),
    ("destination_country", "case when destination_iso3 is null and destination_country is not null then 'country' end"),
    ("transit_countries", "case when transit_bad then 'country' end"),
    ("transport_mode", "case when mode_code is null and transport_mode is not null then 'enum' end"),
    ("location", "case when length(location) > 200 then 'max_length' end"),
    ("arrests", "case when arrests is null then null "
                "when arrests_value is null or not isfinite(arrests_value) then 'number' "
                "when arrests_value <> floor(arrests_value) then 'integer' "
                "when arrests_value < 0 then 'minimum' end"),
)  # fmt: skip
_RULE_COLUMNS = ", ".join(f"{sql} as rule_{i}" for i, (_, sql) in enumerate(_RULES))
_RULE_NAMES = ", ".join(f"rule_{i}" for i in range(len(_RULES)))
_ISSUES = ", ".join(
    f"{{'column': '{column}', 'rule': rule_{i}}}" for i, (column, _) in enumerate(_RULES)
)


#: the contract's row rules for seizures as one SQL pass over `landing`: per column, the first
#: rule the cell breaks (the pipeline's rule names), gathered into `issues`. Lookups (markets,
#: units, modes, country lists) are decided once per distinct cell, then joined to the rows.
_RULES_SQL = f"""
create or replace temp table checked as
with cells as (
    select rowid + 1 as row_number,
        {_column("seizure_ref")} as seizure_ref, {_column("seizure_date")} as seizure_date,
        {_column("market")} as market, {_column("commodity")} as commodity,
        {_column("quantity")} as quantity, {_column("unit")} as unit,
        {_column("origin_country")} as origin_country,
        {_column("departure_country")} as departure_country,
        {_column("destination_country")} as destination_country,
        {_column("transit_countries")} as transit_countries,
        {_column("transport_mode")} as transport_mode, {_column("location")} as location,
        {_column("arrests")} as arrests
    from landing
),
repeated as (
    select seizure_ref, min(row_number) as first_row from cells
    where seizure_ref is not null group by seizure_ref having count(*) > 1
),
markets as ({_distinct_codes("market", "market_map")}),
units as ({_distinct_codes("unit", "unit_map")}),
modes as ({_distinct_codes("transport_mode", "mode_map")}),
transit_lists as (
    select cell, items, codes,
        len(list_filter(codes, lambda x: x is null)) > 0 as bad,
        list_filter(codes, lambda c, i: list_position(codes, c) = i) as iso3
    from (
        select cell, items, list_transform(items, lambda x: map_extract_value(cmap.m, x)) as codes
        from (
            select cell, list_filter(list_transform(string_split_regex(cell, '[;|]'),
                                                    lambda x: trim(x)), lambda x: x <> '') as items
            from (select distinct transit_countries as cell from cells
                  where transit_countries is not null)
        )
        cross join (
            select map_from_entries(list(struct_pack(k := spelling, v := iso3))) as m
            from country_map
        ) as cmap
    )
),
typed as (
    select c.*,
        try_strptime(c.seizure_date, ['%Y-%m-%d', '%d/%m/%Y', '%d.%m.%Y', '%d-%m-%Y'])::date as date_value,
        coalesce(try_cast(c.quantity as double),
                 try_cast(replace(replace(c.quantity, '.', ''), ',', '.') as double)) as quantity_value,
        coalesce(try_cast(c.arrests as double),
                 try_cast(replace(replace(c.arrests, '.', ''), ',', '.') as double)) as arrests_value,
        mk.code as market_code, un.code as unit_code, tm.code as mode_code,
        o.iso3 as origin_iso3, dp.iso3 as departure_iso3, ds.iso3 as destination_iso3,
        tr.items as transit_items, tr.iso3 as transit_iso3, coalesce(tr.bad, false) as transit_bad,
        coalesce(c.row_number > rp.first_row, false) as ref_repeat
    from cells as c
    left join repeated as rp on rp.seizure_ref = c.seizure_ref
    left join markets as mk on mk.cell = c.market
    left join units as un on un.cell = c.unit
    left join modes as tm on tm.cell = c.transport_mode
    left join country_map as o on o.spelling = c.origin_country
    left join country_map as dp on dp.spelling = c.departure_country
    left join country_map as ds on ds.spelling = c.destination_country
    left join transit_lists as tr on tr.cell = c.transit_countries
),
rules as (
    select *, {_RULE_COLUMNS} from typed
)
select row_number, seizure_ref, date_value, market_code, commodity, quantity_value, unit_code,
    origin_country, origin_iso3, departure_country, departure_iso3, destination_country,
    destination_iso3, transit_items, transit_iso3, mode_code, location, arrests_value,
    case when coalesce({_RULE_NAMES}) is not null then
        list_filter([{_ISSUES}], lambda x: x.rule is not null) end as issues
from rules
"""

_INSERT_ACCEPTED_SQL = """
insert into raw.drop_seizures (drop_id, row_number, seizure_ref, seizure_date, market, commodity,
    quantity, unit, origin_country, origin_country_iso3, departure_country,
    departure_country_iso3, destination_country, destination_country_iso3, transit_countries,
    transit_countries_iso3, transport_mode, location, arrests, quantity_kg, extra_values)
select $drop_id, row_number, seizure_ref, date_value, market_code, commodity, quantity_value,
    unit_code, origin_country, origin_iso3, departure_country, departure_iso3,
    destination_country, destination_iso3, nullif(transit_items, []), nullif(transit_iso3, []),
    mode_code, location, arrests_value::bigint,
    quantity_value * case unit_code when 'kg' then 1 when 'g' then 0.001 when 't' then 1000 end,
    null
from checked
where issues is null
"""

_INSERT_QUARANTINE_SQL = """
insert into audit.quarantine (drop_id, row_number, column_name, rule, reason, raw_values)
select $drop_id, l.rowid + 1, i.issue.column, i.issue.rule,
    i.issue.column || ' breaks the rule ' || i.issue.rule, to_json(l)
from (select row_number, unnest(issues) as issue from checked where issues is not null) as i
join landing as l on l.rowid + 1 = i.row_number
"""


def _spelling_table(
    con: duckdb.DuckDBPyConnection, name: str, pairs: list[tuple[str, str]]
) -> None:
    """A lookup table `name(key, code)` of normalised spellings (normalised in SQL, as the cells are)."""
    con.execute(f"create or replace temp table {name}_raw (spelling varchar, code varchar)")
    con.executemany(f"insert into {name}_raw values (?, ?)", pairs)
    con.execute(
        f"create or replace temp table {name} as "
        f"select distinct {_norm('spelling')} as key, code from {name}_raw"
    )


def _contract_values(column: str) -> list[tuple[str, str]]:
    """(spelling, canonical value) of an enum column of the seizures contract."""
    spec = next(c for c in _contract_columns() if c["name"] == column)
    return [(s, value) for value, others in spec["values"].items() for s in (value, *others)]


def limit_pass(
    csv_path: Path,
    database: Path,
    *,
    meter: Meter,
    today: date,
    drop_id: str,
    period: str,
    prefix: str = "limit",
    models: bool = True,
) -> dict[str, Any]:
    """The same data work with DuckDB alone, in `database` (a copy of the set-up warehouse):
    read, rules, inserts and the SQL models, each timed as `<prefix>.<step>`."""
    from extra_pipeline.countries import default_harmoniser
    from extra_pipeline.drops.ingest import file_sha256
    from extra_pipeline.warehouse import qualified

    con = duckdb.connect(str(database))
    try:
        with meter.phase(f"{prefix}.read"):
            con.execute(
                "create or replace temp table landing as select * from read_csv(?, header = true, "
                "all_varchar = true, delim = ',', quote = '\"', escape = '\"')",
                [str(csv_path)],
            )
            (rows,) = con.execute("select count(*) from landing").fetchone()
        meter.phases[f"{prefix}.read"]["rows"] = rows
        with meter.phase(f"{prefix}.rules", rows):
            markets = pd.read_csv(MARKETS_CSV, dtype=str, keep_default_na=False)
            _spelling_table(
                con,
                "market_map",
                [
                    (spelling, row.market)
                    for row in markets.itertuples(index=False)
                    for spelling in (row.market, row.label, *row.aliases.split(";"))
                ],
            )
            _spelling_table(con, "unit_map", _contract_values("unit"))
            _spelling_table(con, "mode_map", _contract_values("transport_mode"))
            # every distinct country spelling, matched once by the pipeline's harmoniser
            distinct = con.execute(
                "select distinct trim(v) from (select origin_country as v from landing union "
                "select departure_country from landing union select destination_country from landing "
                "union select unnest(string_split_regex(transit_countries, '[;|]')) from "
                "(select distinct transit_countries from landing)) where trim(v) <> ''"
            ).fetchall()
            harmoniser = default_harmoniser()
            matches = [(v, harmoniser.match(v)) for (v,) in distinct]
            country_map = pd.DataFrame(
                {
                    "spelling": [v for v, _ in matches],
                    "iso3": [m.iso3 if m.kind == "country" else None for _, m in matches],
                },
                dtype=object,
            )
            con.register("country_frame", country_map)
            con.execute("create or replace temp table country_map as from country_frame")
            con.unregister("country_frame")
            con.execute(_RULES_SQL, {"today": today})
            accepted, quarantined = con.execute(
                "select count(*) filter (issues is null), count(*) filter (issues is not null) "
                "from checked"
            ).fetchone()
            issues_by_rule = dict(
                con.execute(
                    "select i.rule, count(*) from (select unnest(issues) as i from checked "
                    "where issues is not null) "
                    "group by all order by 1"
                ).fetchall()
            )
        with meter.phase(f"{prefix}.insert", rows):
            con.execute("begin transaction")
            con.execute(_INSERT_ACCEPTED_SQL, {"drop_id": drop_id})
            con.execute(_INSERT_QUARANTINE_SQL, {"drop_id": drop_id})
            con.execute(
                "insert into audit.drops (drop_id, member_state, dataset, file_name, sha256, bytes, "
                "format, encoding, status, rows_received, rows_accepted, rows_quarantined, reason, "
                "period, marking, synthetic, received_at) values (?, ?, 'seizures', ?, ?, ?, 'csv', "
                "'utf-8', ?, ?, ?, ?, '', ?, 'amber', true, ?)",
                [
                    drop_id, MEMBER_STATE, csv_path.name, file_sha256(csv_path),
                    csv_path.stat().st_size, "partial" if quarantined else "accepted", rows,
                    accepted, quarantined, period, datetime.now(UTC),
                ],
            )  # fmt: skip
            con.execute("commit")
        built: dict[str, int] = {}
        if models:
            with meter.phase(f"{prefix}.models"):
                tables = _run_models(con)
            for table in tables:
                (count,) = con.execute(f"select count(*) from {qualified(table)}").fetchone()
                built[table] = count
    finally:
        con.close()
    return {
        "rows_received": rows,
        "rows_accepted": accepted,
        "rows_quarantined": quarantined,
        "issues_by_rule": issues_by_rule,
        "models_rebuilt": built,  # table -> rows
    }


def _run_models(con: duckdb.DuckDBPyConnection, changed: str = "raw.drop_seizures") -> list[str]:
    """The `sql/` models that read `changed` (directly or through another model), in
    dependency order, as `create or replace table ... as <select>`: the rest are already
    built in the copied warehouse and would come out the same."""
    from extra_pipeline.methodology import bind_parameters
    from extra_pipeline.models import discover_models
    from extra_pipeline.warehouse import qualified

    existing = [
        f"{schema}.{name}"
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database()"
        ).fetchall()
    ]
    models = {m.table: m for m in discover_models(known_tables=existing)}
    order = TopologicalSorter(
        {table: [d for d in m.depends_on if d in models] for table, m in models.items()}
    ).static_order()
    stale, built = {changed}, []
    for table in order:
        if stale.isdisjoint(models[table].depends_on):
            continue
        bind_parameters(con, models[table].parameters)
        con.execute(f"create or replace table {qualified(table)} as {models[table].sql}")
        stale.add(table)
        built.append(table)
    return built


# --------------------------------------------------------------------------- the pipeline


def replicate_history(warehouse: Path, rows: int) -> int:
    """Add `rows` rows of seizures history to the warehouse: its own accepted seizures (the
    pipeline's output), copied as earlier drops with their own ids and periods, recorded in
    `audit.drops` as accepted. Returns the number of drops written."""
    from extra_pipeline.drops.contracts import load_contracts
    from extra_pipeline.drops.ingest import raw_table_ddl

    with duckdb.connect(str(warehouse)) as con:
        con.execute(raw_table_ddl(load_contracts()["seizures"]))
        con.execute("create temp table source as select * from raw.drop_seizures")
        (available,) = con.execute("select count(*) from source").fetchone()
        if not available:
            raise BenchError("no accepted seizures to copy as history")
        template = (
            "select * from audit.drops where dataset = 'seizures' and status = 'partial' "
            "order by received_at desc limit 1"
        )
        drops = 0
        for start in range(0, rows, available):
            take = min(available, rows - start)
            drop_id = f"nl-{2001 + drops}0101T000000-{drops:08x}"  # the drop id's own form
            con.execute(
                "insert into raw.drop_seizures by name select * replace (? as drop_id) "
                "from source order by drop_id, row_number limit ?",
                [drop_id, take],
            )
            con.execute(
                "insert into audit.drops by name select * replace (? as drop_id, ? as period, "
                "? as rows_received, ? as rows_accepted, 0 as rows_quarantined, "
                "'accepted' as status, null as superseded_by) from (" + template + ")",
                [drop_id, str(2001 + drops), take, take],  # a period each: none supersedes
            )
            drops += 1
    return drops


def _use_home(home: Path) -> Settings:
    """Point the environment at `home` (offline sources, its own Dagster home)."""
    from extra_pipeline.runner import prepare_dagster_home

    os.environ["EXTRA_HOME"] = str(home)
    os.environ["EXTRA_SOURCES"] = "offline"
    os.environ.pop("DAGSTER_HOME", None)
    settings = Settings.from_env()
    prepare_dagster_home(settings)
    return settings


_definitions_by_home: dict[Path, dg.Definitions] = {}


def _definitions(settings: Settings) -> dg.Definitions:
    """One home's definitions, built once, as a long-running code server holds them: the
    phases measure runs, not rebuilding the same definitions for each."""
    from extra_pipeline.definitions import build_definitions

    home = settings.extra_home
    if home not in _definitions_by_home:
        _definitions_by_home[home] = build_definitions(settings)
    return _definitions_by_home[home]


def _nightly(settings: Settings, **options: Any) -> dict[str, Any]:
    from extra_pipeline.runner import run_nightly

    summary = run_nightly(
        settings, progress=False, products=False, defs=_definitions(settings), **options
    )
    if not summary["success"]:
        raise BenchError(
            f"the nightly run {summary['run_id']} failed (steps: "
            f"{', '.join(summary['failed_steps']) or 'none'}): nothing to measure"
        )
    return summary


def _ingest(
    settings: Settings, drops: list[SyntheticDrop], *, period: str | None
) -> list[dict[str, Any]]:
    """The real drop job on `drops`; each must end `partial` with every row accounted for."""
    from extra_pipeline.runner import ingest_drop_files

    outcomes = ingest_drop_files(
        settings, [d.path for d in drops], member_state=MEMBER_STATE, dataset="seizures",
        period=period, defs=_definitions(settings),
    )  # fmt: skip
    for outcome, drop in zip(outcomes, drops, strict=True):
        accepted, quarantined = outcome.get("rows_accepted"), outcome.get("rows_quarantined")
        if (
            outcome.get("status") != "partial"
            or accepted is None
            or quarantined is None
            or accepted + quarantined != drop.rows
        ):
            detail = outcome.get("error") or outcome.get("reason") or ""
            raise BenchError(
                f"drop {drop.path.name} ended {outcome.get('status')!r} with {accepted} accepted + "
                f"{quarantined} quarantined of {drop.rows:,} rows{': ' + detail if detail else ''}; "
                "the benchmark must measure a real partial ingest"
            )
    return outcomes


def _drop_report(outcome: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("drop_id", "status", "rows_received", "rows_accepted", "rows_quarantined",
            "issues_by_rule", "phase_seconds", "timings")  # fmt: skip
    return {k: outcome[k] for k in keys if k in outcome}


def _run_report(summary: Mapping[str, Any], top: int = 8) -> dict[str, Any]:
    """What a nightly run did: skipped as up to date, or how many assets and its slowest
    steps (from the run history of the run's own Dagster home)."""
    import dagster as dg

    report: dict[str, Any] = {
        "up_to_date": bool(summary.get("up_to_date")),
        "assets_materialized": len(summary.get("materialized", ())),
    }
    if summary.get("reason"):
        report["reason"] = summary["reason"]
    if summary.get("run_id"):
        instance = dg.DagsterInstance.from_config(summary["dagster_home"])
        try:  # disposed, not `with`: see runner.dagster_instance
            stats = instance.get_run_step_stats(summary["run_id"])
        finally:
            instance.dispose()
        timed = [
            (s.step_key, s.end_time - s.start_time) for s in stats if s.start_time and s.end_time
        ]
        slowest = sorted(timed, key=lambda t: -t[1])[:top]
        report["slowest_steps"] = {key: round(seconds, 3) for key, seconds in slowest}
    return report


def _ratio(name: str, numerator: float, denominator: float) -> dict[str, Any]:
    value = numerator / denominator if denominator > 0 else None
    target = TARGETS[name]
    return {
        "value": None if value is None else round(value, 3),
        "target": target,
        "met": value is not None and value <= target,
    }


def _today() -> date:
    """The pipeline's `today` for a drop: the UTC date it is received."""
    return datetime.now(UTC).date()


def run_bench(
    *,
    rows: int = DEFAULT_ROWS,
    history: int = DEFAULT_HISTORY,
    seed: int = 1,
    keep: Path | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run every phase (see the module docstring) and return the results as a dict.

    Works in a temporary directory removed afterwards, or in `keep` (kept). The process
    environment (EXTRA_HOME, EXTRA_SOURCES, DAGSTER_HOME) is restored before returning.
    """
    saved = {k: os.environ.get(k) for k in ("EXTRA_HOME", "EXTRA_SOURCES", "DAGSTER_HOME")}
    try:
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            return _bench(keep.resolve(), rows, history, seed, say)
        with tempfile.TemporaryDirectory(prefix="extra-bench-") as root:
            return _bench(Path(root), rows, history, seed, say)
    finally:
        _definitions_by_home.clear()  # its homes are gone
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class _Drops:
    main: SyntheticDrop
    increment: SyntheticDrop
    warmup: SyntheticDrop


def _generate(data: Path, meter: Meter, rows: int, seed: int) -> _Drops:
    with meter.phase("generate.drop", rows):
        main = write_seizures_drop(data / "seizures.csv", rows, seed=seed)
    with meter.phase("generate.increment", INCREMENT_ROWS):
        increment = write_seizures_drop(
            data / "increment.csv", INCREMENT_ROWS, seed=seed + 1, ref_prefix=f"NL-INC-{seed}"
        )
    warmup = write_seizures_drop(data / "warmup.csv", WARMUP_ROWS, seed=seed + 99)
    return _Drops(main, increment, warmup)


def _bench(
    root: Path, rows: int, history: int, seed: int, say: Callable[[str], None]
) -> dict[str, Any]:

    notes = [
        "Heavy imports (Dagster definitions, Great Expectations) and first-use costs are paid "
        "before any timed phase, on both sides: warmup.imports, a small untimed drop job "
        "(warmup.drop_job) and DuckDB-alone pass (warmup.limit).",
        "refresh.full is the first nightly run of a fresh home (every source parsed, every "
        "model and published copy built, no drops yet); refresh.no_change the next run there.",
        "Timed phases exclude the untimed set-up ('timed': false). pipeline = pipeline.ingest + "
        "pipeline.marts; limit = limit.read + limit.rules + limit.insert + limit.models. "
        "limit.models rebuilds the models that read raw.drop_seizures; the others are already "
        "built in the copied set-up warehouse.",
        "peak_rss_mib.children covers the helper processes Dagster starts and waits for; a "
        "child forked from this process starts with its pages, so it can show this peak.",
        "The nightly runs here leave out the products that follow the published copies "
        "(early-warning notes, exports: run_nightly(products=False)): the benchmark measures "
        "ingestion and the marts; rendering is measured apart (README, Products).",
    ]
    with Meter(say) as meter:
        with meter.phase("warmup.imports", timed=False):
            import great_expectations  # noqa: F401

            import extra_pipeline.definitions  # noqa: F401

            _vocabulary()  # the generator's reference data (the country harmoniser, CLDR names)

        drops = _generate(root / "data", meter, rows, seed)

        # 5. The set-up home's first nightly run is a full refresh (every source parsed, every
        # model and published copy built); the next, with nothing new, is the no-change
        # refresh. The home is then copied for each measurement, so set-up is paid once.
        setup = root / "setup"
        settings = _use_home(setup)
        _definitions(settings)  # set-up: a code server holds its definitions before any run
        with meter.phase("refresh.full"):
            runs = {"refresh.full": _nightly(settings)}
        with meter.phase("refresh.no_change"):
            runs["refresh.no_change"] = _nightly(settings)
        pipeline_home = root / "pipeline"
        shutil.copytree(setup, pipeline_home)
        warehouse = Settings(extra_home=setup).warehouse_path
        limit_db, warmup_db = root / "limit" / "limit.duckdb", root / "limit" / "warmup.duckdb"
        limit_db.parent.mkdir(parents=True)
        for target in (limit_db, warmup_db):
            shutil.copyfile(warehouse, target)
            if warehouse.with_name(warehouse.name + ".wal").exists():  # not checkpointed yet
                shutil.copyfile(warehouse.with_name(warehouse.name + ".wal"), f"{target}.wal")
        empty_home = setup  # nothing copies from it any more

        # Warm-up, untimed: the drop job once (a small drop in the pipeline home, which
        # history joins later anyway) and a small DuckDB-alone pass.
        settings = _use_home(pipeline_home)
        with meter.phase("warmup.drop_job", WARMUP_ROWS, timed=False):
            _ingest(settings, [drops.warmup], period="2000")
        with meter.phase("warmup.limit", WARMUP_ROWS, timed=False):
            limit_pass(drops.warmup.path, warmup_db, meter=Meter(), today=_today(),
                       drop_id="nl-warmup", period="2025", prefix="warmup")  # fmt: skip
        warmup_db.unlink()

        # 2. the pipeline: the drop job, then the marts refresh
        with meter.phase("pipeline.ingest", rows):
            (outcome,) = _ingest(settings, [drops.main], period="2025")
        with meter.phase("pipeline.marts", rows):
            runs["pipeline.marts"] = _nightly(settings)

        # 3. the limit: DuckDB alone, the same file, rules and models
        limit = limit_pass(
            drops.main.path, limit_db, meter=meter, today=_today(), drop_id="nl-limit",
            period="2025",
        )  # fmt: skip
        limit["agrees_with_pipeline"] = (limit["rows_accepted"], limit["rows_quarantined"]) == (
            outcome.get("rows_accepted"),
            outcome.get("rows_quarantined"),
        )
        if not limit["agrees_with_pipeline"]:
            notes.append("The DuckDB-alone rules split the rows differently from the pipeline.")

        # The history, untimed: the pipeline's own accepted rows, copied in SQL as earlier
        # drops until there are M more rows, and the marts brought up to date with them.
        with meter.phase("incremental.history_load", history, timed=False):
            history_drops = replicate_history(settings.warehouse_path, history)
            _nightly(settings)

        # 4. a small drop on an empty warehouse, then on top of the history
        settings = _use_home(empty_home)
        with meter.phase("incremental.empty", INCREMENT_ROWS):
            (on_empty,) = _ingest(settings, [drops.increment], period="2026-Q1")
            runs["incremental.empty"] = _nightly(settings)
        settings = _use_home(pipeline_home)  # now holding the history
        with meter.phase("incremental.with_history", INCREMENT_ROWS):
            (on_history,) = _ingest(settings, [drops.increment], period="2026-Q1")
            runs["incremental.with_history"] = _nightly(settings)

    notes.append(
        f"The {history:,} rows of history are the pipeline drop's accepted rows, copied in SQL "
        f"as {history_drops} earlier drops (each its own period) so that loading them costs "
        "seconds; the 10,000-row drop on top goes through the real drop job and nightly run."
    )
    pipeline_seconds = meter.seconds("pipeline.ingest", "pipeline.marts")
    limit_seconds = meter.seconds("limit.read", "limit.rules", "limit.insert", "limit.models")
    return {
        "benchmark": "extra bench",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": rows,
        "history_rows": history,
        "increment_rows": INCREMENT_ROWS,
        "seed": seed,
        "drop": {
            "bytes": drops.main.bytes,
            "sha256": drops.main.sha256,
            "invalid_rows": drops.main.invalid_rows,
            "invalid_by_kind": drops.main.invalid,
        },
        "phases": meter.phases,
        "totals": {
            "pipeline_seconds": round(pipeline_seconds, 3),
            "limit_seconds": round(limit_seconds, 3),
        },
        "pipeline": {
            "ingest": _drop_report(outcome),
            "increment_on_empty": _drop_report(on_empty),
            "increment_on_history": _drop_report(on_history),
            "nightly_runs": {phase: _run_report(summary) for phase, summary in runs.items()},
        },
        "limit": limit,
        "peak_rss_mib": {
            "self": _max_rss_mib(resource.RUSAGE_SELF),
            "children": _max_rss_mib(resource.RUSAGE_CHILDREN),
        },
        "ratios": {
            "ingest_vs_limit": _ratio("ingest_vs_limit", pipeline_seconds, limit_seconds),
            "incremental_vs_empty": _ratio(
                "incremental_vs_empty",
                meter.seconds("incremental.with_history"),
                meter.seconds("incremental.empty"),
            ),
            "no_change_vs_full": _ratio(
                "no_change_vs_full",
                meter.seconds("refresh.no_change"),
                meter.seconds("refresh.full"),
            ),
        },
        "machine": machine(),
        "notes": notes,
    }


def format_table(result: Mapping[str, Any]) -> str:
    """The readable summary: one line per phase, then the ratios."""
    lines = [f"{'phase':<36} {'seconds':>9} {'rows':>11} {'rows/s':>11} {'peak MiB':>9}"]
    for name, phase in result["phases"].items():
        rows = f"{phase['rows']:,}" if phase.get("rows") is not None else ""
        rate = f"{phase['rows_per_second']:,}" if phase.get("rows_per_second") else ""
        label = name if phase.get("timed", True) else f"{name} (untimed)"
        lines.append(
            f"{label:<36} {phase['seconds']:>9.2f} {rows:>11} {rate:>11} {phase['peak_rss_mib']:>9.0f}"
        )
    lines.append("")
    for name, ratio in result["ratios"].items():
        verdict = "met" if ratio["met"] else "NOT met"
        lines.append(f"{name:<22} {ratio['value']!s:>8}  target <= {ratio['target']:g}  {verdict}")
    peak = result["peak_rss_mib"]
    lines.append(f"peak RSS: {peak['self']:.0f} MiB (children {peak['children']:.0f} MiB)")
    return "\n".join(lines)
