"""One member-state drop, end to end: archive, read, map, validate, record, report.

The order is the promise made to the authorities: the original bytes are archived
(content-addressed) before anything else; a file that cannot be read is rejected whole
with a reason; otherwise every row is accepted or quarantined with the rule it broke, and
`rows_received = rows_accepted + rows_quarantined` holds for every drop. The same bytes
again are a `duplicate` and write no rows; a newer drop for the same state, dataset and
period supersedes the older one without deleting it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from extra_pipeline.countries import default_harmoniser
from extra_pipeline.drops.contracts import Contract, detect_dataset, load_contracts, match_headers
from extra_pipeline.drops.model import DropOutcome, DropRejected, Limits
from extra_pipeline.drops.report import write_report
from extra_pipeline.drops.rules import Checked, check_table, output_schema, sql_literal
from extra_pipeline.drops.staging import StagedTable, scratch, stage_drop
from extra_pipeline.markings import Marking, MarkingError, highest, parse_marking
from extra_pipeline.warehouse import WarehouseResource, quote_ident, record_marking

#: drops are AMBER unless their sidecar or the sender says otherwise (DESIGN, Markings)
DEFAULT_DROP_MARKING = Marking.AMBER
DEFAULT_LIMITS = Limits()
SIDECAR_SUFFIX = ".meta.json"
#: the accepted rows' table in a drop's scratch results file (what the gate checks)
ACCEPTED_TABLE = "accepted"
_DROP_ID = re.compile(r"^[a-z]{2}-\d{8}T\d{6}-[0-9a-f]{8}$")
_PERIOD = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4]|-H[12])?$")


class GateResult(Protocol):
    """What the quality gate answers (a `quality.SuiteResult`)."""

    success: bool

    @property
    def failed(self) -> list[Any]: ...


#: the quality gate: (dataset, scratch database, accepted table) -> result; the GX suite
#: of the contract, run where the rows are
Gate = Callable[[str, Path, str], GateResult]


class DropError(ValueError):
    """A mistake in how a drop was handed over (bad member state, marking, period...)."""


@dataclass(frozen=True)
class Sidecar:
    """`<file>.meta.json`: what the sender says about the file."""

    dataset: str | None = None
    period: str | None = None
    marking: str | None = None
    contact: str | None = None
    synthetic: bool = False
    encoding: str | None = None

    @classmethod
    def read(cls, data_file: Path) -> Sidecar | None:
        path = data_file.with_name(data_file.name + SIDECAR_SUFFIX)
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DropRejected(
                "bad_sidecar", f"{path.name} is not valid UTF-8 JSON: {error}"
            ) from None
        if not isinstance(raw, dict):
            raise DropRejected("bad_sidecar", f"{path.name} must hold a JSON object")
        unknown = set(raw) - {"dataset", "period", "marking", "contact", "synthetic", "encoding"}
        if unknown:
            raise DropRejected(
                "bad_sidecar", f"{path.name} has unknown keys: {', '.join(sorted(unknown))}"
            )
        text = {k: (str(v) if v is not None else None) for k, v in raw.items() if k != "synthetic"}
        synthetic = raw.get("synthetic", False)
        if isinstance(synthetic, str):
            synthetic = synthetic.strip().lower() in ("true", "yes", "1")
        return cls(**text, synthetic=bool(synthetic))


@dataclass(frozen=True)
class DropRequest:
    """One file to ingest, with what the sender (flags, then sidecar) says about it."""

    path: Path
    member_state: str
    dataset: str | None = None
    period: str | None = None
    marking: str | None = None
    contact: str | None = None
    synthetic: bool = False
    encoding: str | None = None
    #: the partition key when Dagster runs it; otherwise made from state, time and content
    drop_id: str | None = None


@dataclass(frozen=True)
class DropArea:
    """The drop folders under EXTRA_HOME/drops: incoming (per state), archive, reports, and
    the scratch space of drops being processed."""

    root: Path

    @property
    def incoming(self) -> Path:
        return self.root / "incoming"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def work(self) -> Path:
        """Scratch databases of drops being processed (each removed when its drop is done)."""
        return self.root / "work"

    def archive_path(self, sha256: str) -> Path:
        return self.archive / "sha256" / sha256[:2] / sha256

    def archive_file(self, source: Path) -> tuple[str, int, Path]:
        """Copy `source` into the archive under its sha256 (streamed, atomic); the stored
        name is generated, never the sender's. Returns (sha256, bytes, archived path)."""
        self.archive.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        handle, temporary = tempfile.mkstemp(dir=self.archive, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as out, source.open("rb") as src:
                while chunk := src.read(1024 * 1024):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            final = self.archive_path(sha)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                os.unlink(temporary)
            else:
                os.replace(temporary, final)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        return sha, size, final


def normalise_member_state(code: str) -> str:
    """The reporting state as ISO 3166 alpha-2 (`EL` and `UK` as the EU writes them accepted)."""
    text = (code or "").strip().upper()
    match = default_harmoniser().match(text)
    if len(text) != 2 or match.kind != "country":
        raise DropError(
            f"member state {code!r} is not an ISO 3166 alpha-2 country code (e.g. ES, NL, DE)"
        )
    reference = default_harmoniser().reference_table().set_index("iso3")
    return str(reference.loc[match.iso3, "iso2"])


def resolve_request(request: DropRequest) -> DropRequest:
    """Flags win over the sidecar; the marking defaults to AMBER; everything is checked."""
    sidecar = Sidecar.read(request.path) or Sidecar()
    period = request.period or sidecar.period
    if period is not None and not _PERIOD.match(period.strip()):
        raise DropError(f"period {period!r} must look like 2025, 2025-03, 2025-Q1 or 2025-H2")
    marking_text = request.marking or sidecar.marking
    try:
        marking = parse_marking(marking_text, missing=DEFAULT_DROP_MARKING)
    except MarkingError as error:
        raise DropError(str(error)) from None
    return replace(
        request,
        member_state=normalise_member_state(request.member_state),
        dataset=request.dataset or sidecar.dataset,
        period=period.strip() if period else None,
        marking=marking.label,
        contact=request.contact or sidecar.contact,
        synthetic=request.synthetic or sidecar.synthetic,
        encoding=request.encoding or sidecar.encoding,
    )


def new_drop_id(member_state: str, sha256: str, received_at: datetime) -> str:
    """`es-20261125T101500-1a2b3c4d`: readable and sortable; the suffix hashes the content
    and the exact receipt time, so the same file sent twice in one second gets two ids."""
    salt = hashlib.sha256(f"{sha256}/{received_at.isoformat()}".encode()).hexdigest()[:8]
    return f"{member_state.lower()}-{received_at.strftime('%Y%m%dT%H%M%S')}-{salt}"


def raw_table(dataset: str) -> str:
    return f"raw.drop_{dataset}"


def ingest(
    request: DropRequest,
    *,
    warehouse: WarehouseResource,
    area: DropArea,
    contracts: Mapping[str, Contract] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    today: date | None = None,
    received_at: datetime | None = None,
    gate: Gate | None = None,
) -> DropOutcome:
    """Ingest one file (see the module docstring for the guarantees)."""
    contracts = contracts if contracts is not None else load_contracts()
    received_at = received_at or datetime.now(UTC)
    member_state = normalise_member_state(request.member_state)  # the handover itself: an error
    if request.drop_id is not None and not _DROP_ID.match(request.drop_id):
        raise DropError(f"drop id {request.drop_id!r} is not of the form cc-YYYYMMDDTHHMMSS-hex")

    # 1. The original bytes are safe before anything else happens to them.
    clock = _PhaseClock()
    sha, size, archived = area.archive_file(request.path)
    clock.lap("archive")
    drop_id = request.drop_id or new_drop_id(member_state, sha, received_at)
    with warehouse.connect() as con:
        stored = _stored_outcome(con, drop_id)
    if stored is not None:
        return stored  # a retried run of a drop already recorded: the same answer, nothing new
    base = DropOutcome(
        drop_id=drop_id,
        member_state=member_state,
        dataset=request.dataset,
        file_name=request.path.name,
        sha256=sha,
        bytes=size,
        status="rejected",
        period=request.period,
        marking=Marking.RED.slug,  # until what the sender said is known to be valid
        received_at=received_at.isoformat(),
        synthetic=request.synthetic,
    )
    # What the sender said (sidecar, flags) is part of the drop: if it is wrong, the drop is
    # rejected and recorded, never silently dropped.
    try:
        request = resolve_request(replace(request, member_state=member_state))
        if request.dataset is not None and request.dataset not in contracts:
            raise DropError(
                f"dataset {request.dataset!r} has no contract (known: {', '.join(sorted(contracts))})"
            )
    except (DropRejected, DropError) as error:
        code = error.code if isinstance(error, DropRejected) else "bad_metadata"
        outcome = replace(base, reason=str(error), rejection_code=code)
        return _finish(outcome, warehouse, area, request, None)
    base = replace(
        base, dataset=request.dataset, period=request.period,
        marking=parse_marking(request.marking).slug, synthetic=request.synthetic,
    )  # fmt: skip

    with warehouse.connect() as con:
        # Duplicates are judged within the sender's own drops, against drops that loaded rows:
        # a rejected file may be sent again, and one state never learns what another sent.
        earlier = con.execute(
            "select drop_id, marking from audit.drops where sha256 = ? and member_state = ? "
            "and status in ('accepted', 'partial') order by received_at limit 1",
            [sha, member_state],
        ).fetchone()
    if earlier:
        outcome = replace(
            base, status="duplicate", duplicate_of=earlier[0],
            marking=highest([base.marking, earlier[1]]).slug,
            reason=f"the same bytes were received before as drop {earlier[0]}: nothing new was loaded",
        )  # fmt: skip
        return _finish(outcome, warehouse, area, request, None)

    # 2. Read and map in the drop's scratch database; a whole-file problem rejects the
    # drop with its reason.
    with scratch(area.work, drop_id) as work:
        try:
            if size > limits.max_bytes:
                raise DropRejected(
                    "too_large", f"the file is {size:,} bytes; the limit is {limits.max_bytes:,}"
                )
            staged = stage_drop(work.connect(), archived, limits=limits, encoding=request.encoding)
            clock.lap("read")
            dataset = request.dataset or detect_dataset(contracts, staged.headers)
            if dataset is None:
                raise DropRejected(
                    "unknown_dataset",
                    "the headers match no contract (or several): name the dataset with --dataset or in the sidecar "
                    f"(known: {', '.join(sorted(contracts))})",
                )
            contract = contracts[dataset]
            headers = match_headers(contract, staged.headers)
        except DropRejected as rejected:
            outcome = replace(base, reason=rejected.message, rejection_code=rejected.code)
            return _finish(outcome, warehouse, area, request, None)

        # 3. Every row accepted or quarantined, then the file as a whole through its gate.
        checked = check_table(
            work.connect(),
            contract,
            staged.table,
            {column: f"c{position}" for position, column in headers.mapping.items()},
            today=today or received_at.date(),
            accepted=f"results.{ACCEPTED_TABLE}",
        )
        clock.lap("rules")
        gate_failure = ""
        if gate is not None and checked.rows_accepted:
            work.release()  # the gate's engine opens the results file itself
            verdict = gate(dataset, work.path, ACCEPTED_TABLE)
            clock.lap("gate")
            if not verdict.success:
                # Every row passed the row rules but the file as a whole did not: nothing is
                # loaded, and each row is quarantined with the checks that failed.
                gate_failure = "failed its data-quality suite: " + ", ".join(
                    sorted(
                        {
                            f"{o.expectation}({o.column})" if o.column else o.expectation
                            for o in verdict.failed
                        }
                    )
                )
        results = _drop_results(
            work.connect(), work.path, drop_id, staged, checked, headers.extras, gate_failure
        )
        rows_accepted = results.accepted_rows
        rows_quarantined = staged.rows_received - rows_accepted
        status = (
            "accepted" if rows_quarantined == 0 else ("partial" if rows_accepted else "rejected")
        )
        outcome = replace(
            base,
            dataset=dataset,
            status=status,
            rows_received=staged.rows_received,
            rows_accepted=rows_accepted,
            rows_quarantined=rows_quarantined,
            format=staged.format,
            encoding=staged.encoding,
            extra_columns=list(headers.extras.values()),
            issues_by_rule=results.issues_by_rule,
            reason=gate_failure
            or (
                ""
                if status != "rejected"
                else "no row passed the contract's rules: see the quarantined rows"
            ),
            rejection_code=None
            if status != "rejected"
            else ("failed_expectations" if gate_failure else "no_valid_rows"),
        )
        work.release()  # the warehouse attaches the results file to copy them
        clock.lap("quarantine")
        outcome = replace(outcome, phase_seconds=clock.laps)
        return _finish(outcome, warehouse, area, request, results, contract=contract)


class _PhaseClock:
    """Seconds spent in each phase of one drop (shown in the run's metadata and `extra bench`)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.laps[phase] = round(now - self._last, 3)
        self._last = now


@dataclass(frozen=True)
class _Results:
    """A drop's results in its scratch database, ready to copy: the `accepted` rows (with
    `extra_values` by row number where the file had extra columns) and `quarantine_rows`
    (audit.quarantine's columns), plus the issues for the sender's report."""

    database: Path
    accepted: str
    accepted_rows: int
    extras: bool
    quarantined_issues: pd.DataFrame
    issues_by_rule: dict[str, int]


def _drop_results(
    con: Any,
    database: Path,
    drop_id: str,
    staged: StagedTable,
    checked: Checked,
    extras: Mapping[int, str],
    gate_failure: str,
) -> _Results:
    """Build `quarantine_rows` (and `extra_values`, if the file has extra columns) in the
    scratch database, beside the `accepted` rows.

    Quarantine records keep the row as sent, keyed by the file's own headers, as JSON
    (`raw_values`); the sender's extra columns ride along with accepted rows the same way
    (`extra_values`). Headers are data here, never identifiers.
    """
    con.execute(
        "create or replace temp table _unreadable (row_number bigint, column_name varchar, rule varchar, reason varchar, raw_text varchar)"
    )
    if staged.unreadable:
        con.executemany(
            "insert into _unreadable values (?, ?, ?, ?, ?)",
            [
                (i.row_number, i.column, i.rule, i.reason, staged.unreadable_text.get(i.row_number))
                for i in staged.unreadable
            ],
        )
    # A repeated header must not hide a cell: `note, note` are kept as `note`, `note (2)`.
    pairs = ", ".join(f"?, c.c{position}" for position in range(len(staged.headers)))
    raw_values = f"json_object({pairs})" if pairs else "'{}'"
    gated = (
        f"union all select a.row_number, null, 'expectations', {sql_literal(f'the file {gate_failure}')} "
        f"from {checked.accepted} a"
        if gate_failure
        else ""
    )
    con.execute(
        f"""create or replace table results.quarantine_rows as
        select ? as drop_id, q.row_number, q.column_name, q.rule, q.reason,
               coalesce(case when u.raw_text is not null then json_object('_raw', u.raw_text) end,
                        {raw_values}, '{{}}')::varchar as raw_values
        from (select row_number, column_name, rule, reason from {checked.issues} {gated}
              union all select row_number, column_name, rule, reason from _unreadable) q
        left join {staged.table} c on c.row_number = q.row_number
        left join _unreadable u on u.row_number = q.row_number
        order by q.row_number, q.column_name nulls first""",
        [drop_id, *_unique_names(staged.headers)],
    )
    if extras and not gate_failure:
        pairs = ", ".join(f"?, c{position}" for position in extras)
        con.execute(
            f"create or replace table results.extra_values as select row_number, "
            f"json_object({pairs})::varchar as extra_values from {staged.table}",
            _unique_names([extras[p] for p in extras]),
        )
    issues = con.execute(
        "select drop_id, row_number, column_name, rule, reason, raw_values from results.quarantine_rows"
    ).df()
    by_rule = con.execute(
        "select rule, count(*) from results.quarantine_rows group by rule order by rule"
    ).fetchall()
    return _Results(
        database=database,
        accepted=ACCEPTED_TABLE,
        accepted_rows=0 if gate_failure else checked.rows_accepted,
        extras=bool(extras) and not gate_failure,
        quarantined_issues=issues,
        issues_by_rule={str(rule): int(count) for rule, count in by_rule},
    )


def _stored_outcome(con: Any, drop_id: str) -> DropOutcome | None:
    """The outcome already recorded for `drop_id`, if any."""
    row = con.execute(
        "select member_state, dataset, file_name, sha256, bytes, status, period, marking, "
        "received_at, rows_received, rows_accepted, rows_quarantined, reason, rejection_code, "
        "duplicate_of, synthetic, format, encoding from audit.drops where drop_id = ?",
        [drop_id],
    ).fetchone()
    if row is None:
        return None
    (state, dataset, name, sha, size, status, period, marking, received, received_rows,
     accepted, quarantined, reason, code, duplicate_of, synthetic, fmt, encoding) = row  # fmt: skip
    return DropOutcome(
        drop_id=drop_id, member_state=state, dataset=dataset, file_name=name, sha256=sha,
        bytes=size, status=status, period=period, marking=marking, received_at=str(received),
        rows_received=received_rows, rows_accepted=accepted, rows_quarantined=quarantined,
        reason=reason or "", rejection_code=code, duplicate_of=duplicate_of, synthetic=synthetic,
        format=fmt, encoding=encoding,
    )  # fmt: skip


def _unique_names(names: list[str]) -> list[str]:
    """`note, note` -> `note, note (2)`: a repeated extra header must not overwrite a cell."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


def _finish(
    outcome: DropOutcome,
    warehouse: WarehouseResource,
    area: DropArea,
    request: DropRequest,
    results: _Results | None,
    *,
    contract: Contract | None = None,
) -> DropOutcome:
    """Record the drop in one transaction (rows copied from its scratch database), then
    write the sender's report."""
    started = time.perf_counter()
    with warehouse.connect() as con:
        if results is not None:
            con.execute("attach ? as drop_scratch (read_only)", [str(results.database)])
        con.execute("begin transaction")
        try:
            if results is not None and contract is not None and results.accepted_rows:
                table = raw_table(contract.dataset)
                con.execute(raw_table_ddl(contract))
                outputs = ", ".join(quote_ident(n) for n, _ in output_schema(contract))
                extra = "e.extra_values" if results.extras else "null"
                join = (
                    "left join drop_scratch.extra_values e on e.row_number = a.row_number"
                    if results.extras
                    else ""
                )
                con.execute(
                    f"insert into {table} (drop_id, row_number, {outputs}, extra_values) "
                    f"select ?, a.row_number, {', '.join('a.' + quote_ident(n) for n, _ in output_schema(contract))}, {extra} "
                    f"from drop_scratch.{results.accepted} a {join}",
                    [outcome.drop_id],
                )
                current = con.execute(
                    "select marking from audit.table_markings where table_name = ?", [table]
                ).fetchone()
                marking = highest([outcome.marking, *(current or ())])
                (count,) = con.execute(f"select count(*) from {table}").fetchone()
                record_marking(con, table, marking, asset_key="raw/drops", row_count=int(count))
            if results is not None:
                con.execute(
                    "insert into audit.quarantine (drop_id, row_number, column_name, rule, reason, raw_values) "
                    "select drop_id, row_number, column_name, rule, reason, raw_values from drop_scratch.quarantine_rows"
                )
            if outcome.status in ("accepted", "partial") and outcome.period:
                superseded = con.execute(
                    "update audit.drops set superseded_by = ? where member_state = ? and dataset = ? "
                    "and period = ? and status in ('accepted', 'partial') and superseded_by is null "
                    "returning drop_id",
                    [outcome.drop_id, outcome.member_state, outcome.dataset, outcome.period],
                ).fetchall()
                outcome = replace(outcome, supersedes=sorted(r[0] for r in superseded))
            con.execute(
                "insert into audit.drops values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null)",
                [
                    outcome.drop_id, outcome.member_state, outcome.dataset, outcome.file_name, outcome.sha256,
                    outcome.bytes, outcome.format, outcome.encoding, outcome.status, outcome.rows_received,
                    outcome.rows_accepted, outcome.rows_quarantined, outcome.reason, outcome.rejection_code,
                    outcome.duplicate_of, outcome.period, outcome.marking, outcome.synthetic, request.contact,
                    outcome.extra_columns, outcome.received_at,
                ],
            )  # fmt: skip
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        finally:
            if results is not None:
                con.execute("detach drop_scratch")
    if outcome.phase_seconds:
        outcome = replace(
            outcome,
            phase_seconds={
                **outcome.phase_seconds,
                "load": round(time.perf_counter() - started, 3),
            },
        )
    started = time.perf_counter()
    issues = results.quarantined_issues if results is not None else None
    html, json_path = write_report(outcome, issues, area.reports)
    laps = {**outcome.phase_seconds, "report": round(time.perf_counter() - started, 3)}
    return replace(outcome, report_html=str(html), report_json=str(json_path), phase_seconds=laps)


def raw_table_ddl(contract: Contract) -> str:
    """`create table if not exists raw.drop_<dataset>`: the contract's typed columns, with
    the drop and row each came from and the sender's extra columns as JSON."""
    schema = output_schema(contract)
    columns = ", ".join(
        f"{quote_ident(name)} {type_}"
        for name, type_ in [
            ("drop_id", "varchar"),
            ("row_number", "bigint"),
            *schema,
            ("extra_values", "varchar"),
        ]
    )
    return f"create table if not exists {raw_table(contract.dataset)} ({columns})"


def drop_tables_ddl(contracts: Mapping[str, Contract] | None = None) -> dict[str, str]:
    """The DDL of every drop raw table, so models reading them work before the first drop."""
    contracts = contracts if contracts is not None else load_contracts()
    return {raw_table(c.dataset): raw_table_ddl(c) for c in contracts.values()}


def remove_from_landing(path: Path, sha256: str) -> None:
    """Once archived and recorded, the file (and its sidecar) leave the landing area, unless
    the sender has meanwhile replaced it under the same name: that new file stays for the
    next pickup."""
    try:
        if file_sha256(path) != sha256:
            return
    except FileNotFoundError:
        return
    for candidate in (path, path.with_name(path.name + SIDECAR_SUFFIX)):
        with suppress(FileNotFoundError):
            candidate.unlink()


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def copy_to_landing(source: Path, area: DropArea, member_state: str) -> Path:
    """Place a file in `incoming/<CC>/` (used by `extra demo-data` and tests)."""
    target = area.incoming / member_state.upper() / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target
