"""Crash safety: `extra run` SIGKILLed at any point leaves the published copies intact and
readable, and the next run converges to what an uninterrupted run publishes.

Real `extra` subprocesses, each in a session of its own, killed as a whole process group
(SIGKILL: no handler, no cleanup) at points found by watching the run, never after a blind
sleep: the drop archive (a drop is archived before anything else happens to it), the
progress lines `extra run` prints per step (`  … <step>` when a step starts), the
temporary files of the publish (`published/.<level>.<uuid>.tmp`) and of the exports
(`outputs/exports/.<level>.tmp-<uuid>`).

- A reference: the demo drops and `extra run --offline`, uninterrupted, once per module.
- A first refresh, from the same landing area (copied with its files' times: drop ids are
  made from them), killed five times: (a) while the second drop is being ingested, (a2)
  between a drop's commit and its file leaving the landing area, (b) as the largest mart
  starts, (c) halfway through the publish (CLEAR swapped in, GREEN being built), (d) while
  the exports are written; then run to completion.
- A republish over existing copies (one copy deleted, so the planner publishes again),
  killed while a temporary copy is being built after two copies have been swapped in; a
  reader holding the CLEAR copy open keeps its snapshot throughout; then run to completion.

After every kill each published copy under its final name opens read-only, lists its
tables and holds the rows its `audit.published_tables` says; after the last run the marts
of the CLEAR and RED copies equal the reference's row for row, every demo file is in
`audit.drops` exactly once (as in the reference), the last run is a success, and no run or
`duckdb_writer` slot of a dead process is left behind. A run that waits on the slot of a
killed run is recorded as a failure, then unblocked by hand (as an operator would) so that
the later kill points are still checked.

The reference is only a reference for the code it was built with: a checkout edited while
the module runs fails with the files that changed, not with differing marts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from extra_pipeline.markings import Marking
from extra_pipeline.settings import PROJECT_ROOT
from extra_pipeline.warehouse import WRITER_POOL, sql_string

EXTRA = [sys.executable, "-m", "extra_pipeline.cli"]
LEVELS = tuple(m.slug for m in Marking)  # clear, green, amber, amber+strict, red
#: the copies whose marts are compared row for row (RED holds every mart, CLEAR the public ones)
COMPARED = ("clear", "red")
RUN_TIMEOUT = 300.0

#: what each kill hit, for the record (printed with `pytest -s`)
EVIDENCE: list[str] = []


def note(text: str) -> None:
    EVIDENCE.append(text)
    print(f"[crash-safety] {text}")


# --- the command ------------------------------------------------------------------------


def extra_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXTRA_", "DAGSTER_"))}
    env["EXTRA_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def extra(*args: str, home: Path, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*EXTRA, *args], env=extra_env(home), cwd=PROJECT_ROOT, capture_output=True,
        text=True, encoding="utf-8", errors="replace", timeout=timeout,
    )  # fmt: skip


class Run:
    """`extra run --offline` in a session of its own, its output read as it comes.

    `dead`: runs of killed processes. While this run is waited on, a `duckdb_writer` slot
    that one of them still holds while this run waits for it is a wedge (nothing would ever
    free it): it is recorded in `problems` and the slot freed by hand, after `GRACE` s.
    """

    GRACE = 10.0

    def __init__(
        self, home: Path, dead: set[str] | None = None, problems: list[str] | None = None
    ) -> None:
        self.home = home
        self.dead = dead or set()
        self.problems = problems if problems is not None else []
        self.started = time.monotonic()
        self._blocked_since: float | None = None
        self._next_watch = 0.0
        self.proc = subprocess.Popen(
            [*EXTRA, "run", "--offline"], env=extra_env(home), cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
            errors="replace", start_new_session=True,
        )  # fmt: skip
        self.stdout: list[str] = []
        self.stderr: list[str] = []  # the progress lines
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def step_started(self, step: str) -> Callable[[], str | None]:
        line = f"  … {step}"
        return lambda: f"step {step} started" if line in list(self.stderr) else None

    def kill_when(self, trigger: Callable[[], str | None], *, timeout: float = RUN_TIMEOUT) -> str:
        """SIGKILL the run's process group as soon as `trigger` says something; what it saw."""
        deadline = time.monotonic() + timeout
        while not (seen := trigger()):
            if self.proc.poll() is not None:
                self._join()
                pytest.fail(
                    f"the run ended (exit {self.proc.returncode}) before the kill point:\n"
                    + self.tail()
                )
            if time.monotonic() > deadline:
                os.killpg(self.proc.pid, signal.SIGKILL)
                pytest.fail("the kill point was not reached in time:\n" + self.tail())
            self._watch()
            time.sleep(0.002)
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._join()
        assert self.proc.returncode == -signal.SIGKILL
        progress = [line for line in self.stderr if line.startswith(("  … ", "  ✓ "))]
        return (
            f"killed after {time.monotonic() - self.started:.1f} s on {seen}; "
            f"last progress: {progress[-2:] if progress else 'none (drops phase)'}"
        )

    def finish(self, timeout: float = RUN_TIMEOUT) -> float:
        """Wait for the run to end by itself; its exit status must be 0. Seconds taken."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self._join()
                pytest.fail("the run did not finish:\n" + self.tail())
            self._watch()
            time.sleep(0.05)
        self._join()
        assert self.proc.returncode == 0, self.tail()
        return time.monotonic() - self.started

    def tail(self) -> str:
        return "\n".join(self.stderr[-30:] + self.stdout[-10:])

    def _watch(self) -> None:
        """Every half second: is this run waiting on a slot a killed run still holds?"""
        if not self.dead or time.monotonic() < self._next_watch:
            return
        self._next_watch = time.monotonic() + 0.5
        state = dagster_state(self.home)
        holders = self.dead & set(state.claimed)
        if not (holders and set(state.pending) - self.dead):
            self._blocked_since = None
            return
        self._blocked_since = self._blocked_since or time.monotonic()
        if time.monotonic() - self._blocked_since > self.GRACE:
            self.problems.append(
                f"`extra run` waited {self.GRACE:.0f} s (it would wait forever, spinning) for "
                f"the duckdb_writer slot still held by killed run(s) {sorted(holders)}: the "
                f"waiting drops are ingested before the slots of dead runs are freed"
            )
            note(f"WEDGED: {self.problems[-1]}; the slot freed by hand to go on")
            free_slots(self.home, holders)
            self._blocked_since = None

    def _join(self) -> None:
        for reader in self._readers:
            reader.join(timeout=10)


# --- what the home holds -------------------------------------------------------------------


#: what `extra` runs: code, SQL models, suites, reference data and methodology
CHECKOUT_PARTS = ("extra_pipeline", "sql", "expectations", "assets")


def checkout_state() -> dict[str, tuple[int, int]]:
    """Every file `extra` reads from the checkout: (size, mtime) by path."""
    state = {}
    for part in CHECKOUT_PARTS:
        for path in (PROJECT_ROOT / part).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                stat = path.stat()
                state[str(path.relative_to(PROJECT_ROOT))] = (stat.st_size, stat.st_mtime_ns)
    return state


def assert_same_checkout(reference: Reference) -> None:
    now = checkout_state()
    changed = sorted(
        k for k in {*now, *reference.checkout} if now.get(k) != reference.checkout.get(k)
    )
    if changed:
        pytest.fail(
            "the checkout changed while the module ran (someone edited it): the reference "
            f"no longer says what an uninterrupted run gives; changed: {changed[:20]}"
        )


def copy_home(source: Path, target: Path) -> Path:
    """A copy of an EXTRA_HOME, files' times kept (a landing file's drop id is made from its
    modification time)."""
    shutil.copytree(source, target, symlinks=True)
    return target


def published(home: Path) -> dict[str, Path]:
    """The published copies under their final names."""
    folder = home / "published"
    return {
        level: folder / f"{level}.duckdb"
        for level in LEVELS
        if (folder / f"{level}.duckdb").is_file()
    }


def leftovers(home: Path) -> list[str]:
    """Anything in `published/` that is not a copy under its final name (temporary files)."""
    folder = home / "published"
    finals = {f"{level}.duckdb" for level in LEVELS}
    return (
        sorted(p.name for p in folder.iterdir() if p.name not in finals) if folder.is_dir() else []
    )


def open_copy(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to one file, in a database of its own (a plain connect() to a
    path this process already opened would share that database, and so a replaced file)."""
    con = duckdb.connect(":memory:")
    con.execute(f"attach {sql_string(str(path))} as c (read_only)")
    return con


def marts_digests(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, int]]:
    """Every `marts` table of the attached copy `c`: md5 of its rows in order, and count."""
    tables = con.execute(
        "select table_name from duckdb_tables() where database_name = 'c' "
        "and schema_name = 'marts' order by 1"
    ).fetchall()
    digests = {}
    for (table,) in tables:
        digest, count = con.execute(
            "select md5(coalesce(string_agg(r, chr(10) order by r), '')), count(*) "
            f'from (select row_::varchar as r from c.marts."{table}" row_)'
        ).fetchone()
        digests[table] = (digest, count)
    return digests


def copy_digests(path: Path) -> dict[str, tuple[str, int]]:
    with open_copy(path) as con:
        return marts_digests(con)


def check_copy(path: Path) -> list[str]:
    """A published copy is intact: it opens read-only, lists its tables, and every table
    holds the rows `audit.published_tables` recorded for it. Its tables."""
    with open_copy(path) as con:
        tables = [
            f"{s}.{t}"
            for s, t in con.execute(
                "select schema_name, table_name from duckdb_tables() where database_name = 'c' "
                "order by 1, 2"
            ).fetchall()
        ]
        recorded = con.execute(
            "select table_name, row_count from c.audit.published_tables"
        ).fetchall()
        assert recorded, f"{path.name} records no table"
        for table, count in recorded:
            schema, _, name = table.partition(".")
            (actual,) = con.execute(f'select count(*) from c."{schema}"."{name}"').fetchone()
            assert actual == count, f"{path.name}: {table} holds {actual} rows, recorded {count}"
    assert any(t.startswith("marts.") for t in tables), f"{path.name} lists no mart: {tables}"
    return tables


def check_published(home: Path) -> dict[str, list[str]]:
    """Every copy under its final name is intact; no temporary file sits under a final name."""
    copies = published(home)
    for name in leftovers(home):
        assert name.startswith(".") and ".tmp" in name, f"unexpected file in published/: {name}"
    return {level: check_copy(path) for level, path in copies.items()}


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Drops:
    """What the working file says about the drops (ids are stable: made from the files)."""

    drops: tuple[tuple, ...]
    quarantine: tuple[tuple, ...]
    loaded: tuple[tuple, ...]  # (table, drop_id, rows) of every raw drop table


def drops_state(home: Path) -> Drops:
    con = duckdb.connect(":memory:")
    try:
        con.execute(
            f"attach {sql_string(str(home / 'warehouse' / 'extra.duckdb'))} as w (read_only)"
        )
        drops = con.execute(
            "select drop_id, member_state, dataset, file_name, sha256, status, rows_received, "
            "rows_accepted, rows_quarantined, superseded_by, duplicate_of, period "
            "from w.audit.drops order by drop_id"
        ).fetchall()
        quarantine = con.execute(
            "select drop_id, count(*) from w.audit.quarantine group by 1 order by 1"
        ).fetchall()
        loaded = []
        for (table,) in con.execute(
            "select table_name from duckdb_tables() where database_name = 'w' "
            "and schema_name = 'raw' and table_name like 'drop\\_%' escape '\\' order by 1"
        ).fetchall():
            loaded += [
                (table, *row)
                for row in con.execute(
                    f'select drop_id, count(*) from w.raw."{table}" group by 1 order by 1'
                ).fetchall()
            ]
    finally:
        con.close()
    return Drops(tuple(drops), tuple(quarantine), tuple(loaded))


def landing_files(home: Path) -> list[str]:
    incoming = home / "drops" / "incoming"
    return sorted(str(p.relative_to(incoming)) for p in incoming.rglob("*") if p.is_file())


def archived(home: Path) -> list[Path]:
    folder = home / "drops" / "archive" / "sha256"
    return [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []


@dataclass(frozen=True)
class DagsterState:
    started_runs: tuple[str, ...]  # nightly or drop runs still marked in progress
    claimed: tuple[str, ...]  # runs holding a duckdb_writer slot
    pending: tuple[str, ...]  # runs with a step waiting for one


def dagster_state(home: Path) -> DagsterState:
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    try:
        started = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        info = instance.event_log_storage.get_concurrency_info(WRITER_POOL)
        return DagsterState(
            tuple(r.dagster_run.run_id for r in started),
            tuple(slot.run_id for slot in info.claimed_slots),
            tuple(step.run_id for step in info.pending_steps),
        )
    finally:
        instance.dispose()


def free_slots(home: Path, runs: set[str]) -> None:
    """What an operator would do by hand for a run whose process is gone."""
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    try:
        for run_id in runs:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    finally:
        instance.dispose()


# --- the reference -------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    home: Path
    marts: dict[str, dict[str, tuple[str, int]]]  # level -> table -> (digest, rows)
    drops: Drops
    seconds: float
    checkout: dict[str, tuple[int, int]]


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The landing area as `extra demo-data` leaves it, before any run."""
    home = tmp_path_factory.mktemp("crash") / "demo"
    done = extra("demo-data", home=home, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(landing_files(home)) == 22  # 11 drops, each with its sidecar
    return home


@pytest.fixture(scope="module")
def reference(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """An uninterrupted first refresh of the demo drops."""
    checkout = checkout_state()
    home = copy_home(demo_home, tmp_path_factory.mktemp("crash") / "reference")
    run = Run(home)
    seconds = run.finish()
    assert sorted(published(home)) == sorted(LEVELS)
    marts = {level: copy_digests(published(home)[level]) for level in COMPARED}
    assert "fct_indicator" in marts["clear"] and "fct_seizure" in marts["red"]
    drops = drops_state(home)
    assert len(drops.drops) == 11 and landing_files(home) == []
    note(f"reference: an uninterrupted first refresh took {seconds:.1f} s")
    return Reference(home, marts, drops, seconds, checkout)


def assert_converged(home: Path, reference: Reference) -> None:
    """What an uninterrupted run would have left: the same marts, every drop once, a
    successful last run, nothing of a dead run left holding the writer pool."""
    copies = check_published(home)
    assert sorted(copies) == sorted(LEVELS), f"copies: {sorted(copies)}"
    assert_same_checkout(reference)
    for level in COMPARED:
        got = copy_digests(published(home)[level])
        differ = sorted(
            t
            for t in {*got, *reference.marts[level]}
            if got.get(t) != reference.marts[level].get(t)
        )
        assert not differ, f"{level}: marts differ from the reference: {differ}"
    drops = drops_state(home)
    assert landing_files(home) == [], "demo files left in the landing area"
    assert len({d[0] for d in drops.drops}) == len(drops.drops) == 11
    assert sorted(d[3] for d in drops.drops) == sorted(d[3] for d in reference.drops.drops)
    for drop in drops.drops:
        assert drop[6] == drop[7] + drop[8], f"rows_received != accepted + quarantined: {drop}"
    assert drops == reference.drops, "drops, quarantine or loaded rows differ from the reference"
    status = extra("status", "--json", home=home, timeout=120)
    assert status.returncode in (0, 1), status.stderr  # 1: stale bundled sources need attention
    last = json.loads(status.stdout)["last_run"]
    assert last["status"] == "SUCCESS", last
    state = dagster_state(home)
    assert state == DagsterState((), (), ()), state


# --- the scenarios ---------------------------------------------------------------------------


def glob_first(folder: Path, pattern: str) -> Callable[[], str | None]:
    """A trigger: a file or folder in `folder` matching `pattern` (a temporary one)."""

    def seen() -> str | None:
        found = next(iter(sorted(folder.glob(pattern))), None) if folder.is_dir() else None
        return f"{found.relative_to(folder.parent)} present" if found else None

    return seen


def test_first_refresh_killed_at_five_points_converges(
    demo_home: Path, reference: Reference, tmp_path: Path
) -> None:
    home = copy_home(demo_home, tmp_path / "home")
    problems: list[str] = []
    dead: set[str] = set()  # runs of killed processes
    started = time.monotonic()

    def killed(point: str, run: Run, trigger: Callable[[], str | None]) -> None:
        note(f"({point}) {run.kill_when(trigger)}")
        dead.update(dagster_state(home).started_runs)

    # (a) the second drop being ingested: its file archived (the first thing that happens
    # to a drop), the first drop recorded
    def second_archived() -> str | None:
        found = archived(home)
        return f"drop file #{len(found)} archived" if len(found) >= 2 else None

    killed("a", Run(home), second_archived)
    assert published(home) == {} and leftovers(home) == []
    recorded, waiting = drops_state(home), len(landing_files(home)) // 2
    note(
        f"(a) after the kill: {len(recorded.drops)} drop(s) recorded, {len(archived(home))} "
        f"archived, {waiting} still in the landing area; {dagster_state(home)}"
    )
    assert len(recorded.drops) == 1 and waiting == 10  # the one being ingested still waits

    # (a2) a drop recorded (its report written after the commit), its file maybe not yet
    # removed from the landing area: taken again, it must not be recorded twice
    reports = home / "drops" / "reports"

    def second_reported() -> str | None:
        found = {p.name.split(".")[0] for p in reports.glob("*.json")}
        if len(found) < 2:
            return None
        return f"drop report #{len(found)} written, {len(landing_files(home)) // 2} files waiting"

    killed("a2", Run(home, dead, problems), second_reported)
    recorded, waiting = drops_state(home), len(landing_files(home)) // 2
    note(f"(a2) after the kill: {len(recorded.drops)} drop(s) recorded, {waiting} waiting")
    assert len(recorded.drops) == 2 and waiting in (9, 10)  # 10: its file not yet removed

    # (b) the remaining drops and the sources done, the largest mart starting
    run = Run(home, dead, problems)
    killed("b", run, run.step_started("marts__fct_indicator"))
    assert published(home) == {} and leftovers(home) == []
    assert landing_files(home) == [] and len(drops_state(home).drops) == 11
    note(f"(b) after the kill: {dagster_state(home)}")

    # (c) halfway through the publish: CLEAR swapped in, GREEN being built
    killed("c", Run(home, dead, problems), glob_first(home / "published", ".green.*.tmp"))
    copies = check_published(home)
    note(f"(c) after the kill: copies {sorted(copies)}, leftovers {leftovers(home)}")
    assert "clear" in copies and "green" not in copies
    assert copy_digests(published(home)["clear"]) == reference.marts["clear"]

    # (d) the publish done, the exports being written
    exports = home / "outputs" / "exports"
    killed("d", Run(home, dead, problems), glob_first(exports, ".*.tmp-*"))
    copies = check_published(home)
    note(f"(d) after the kill: copies {sorted(copies)}, {dagster_state(home)}")
    assert sorted(copies) == sorted(LEVELS)
    for level in COMPARED:
        assert copy_digests(published(home)[level]) == reference.marts[level]

    # the next run, to completion
    run = Run(home, dead, problems)
    seconds = run.finish()
    assert_converged(home, reference)
    assert sorted(p.name for p in exports.iterdir() if not p.name.startswith(".")) == [
        "amber",
        "clear",
    ]
    note(
        f"first refresh: converged; last run {seconds:.1f} s, the five kills and the recovery "
        f"{time.monotonic() - started:.1f} s; left in published/: {leftovers(home)}, in "
        f"outputs/exports/: {sorted(p.name for p in exports.iterdir() if p.name.startswith('.'))}"
    )
    assert not problems, problems


def test_republish_killed_mid_swap_keeps_copies_and_readers(
    reference: Reference, tmp_path: Path
) -> None:
    assert_same_checkout(reference)
    home = copy_home(reference.home, tmp_path / "home")
    (home / "published" / "red.duckdb").unlink()  # a copy missing: the planner publishes again
    before = {level: file_sha256(path) for level, path in published(home).items()}
    reader = open_copy(published(home)["clear"])  # opened before the run, held throughout
    snapshot = marts_digests(reader)
    built_at = reader.execute("select max(built_at) from c.audit.published_tables").fetchone()

    # (c') CLEAR and GREEN swapped in, AMBER being built on a copy of the previous AMBER
    run = Run(home)
    note(f"(c') {run.kill_when(glob_first(home / 'published', '.amber.*.tmp'))}")
    copies = check_published(home)
    replaced = sorted(
        level for level, sha in before.items() if file_sha256(published(home)[level]) != sha
    )
    note(
        f"(c') after the kill: copies {sorted(copies)}, replaced {replaced}, "
        f"leftovers {leftovers(home)}"
    )
    assert sorted(copies) == sorted(before), "a copy that existed before the run is gone"
    assert "amber" not in replaced and "amber+strict" not in replaced
    assert_same_checkout(reference)
    assert copy_digests(published(home)["clear"]) == reference.marts["clear"]
    assert marts_digests(reader) == snapshot  # the reader keeps its snapshot

    run = Run(home)
    seconds = run.finish()
    assert_converged(home, reference)
    assert marts_digests(reader) == snapshot
    assert reader.execute("select max(built_at) from c.audit.published_tables").fetchone() == (
        built_at
    )
    with open_copy(published(home)["clear"]) as fresh:  # a new connection sees the new copy
        now = fresh.execute("select max(built_at) from c.audit.published_tables").fetchone()
    assert now > built_at
    reader.close()
    note(
        f"republish: converged; the run after the kill took {seconds:.1f} s; "
        f"left in published/: {leftovers(home)}"
    )
