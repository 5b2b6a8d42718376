"""Run one SQL model on small hand-made input tables, the way the warehouse runs it.

    result = run_model("marts/threat_matrix", {"intermediate.threat_scenarios": frame, ...})

Each input is a DataFrame (its columns typed by pandas) or a SQL SELECT (for DuckDB types
pandas cannot say, such as lists and dates: `"select 'COL' as iso3, [1, 2] as xs"`), made
into `schema.table` in a fresh in-memory DuckDB. The model's parameters are the shipped
methodology's, with `parameters` overriding some. A table the model reads but the test does
not give fails loudly, naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from extra_pipeline.methodology import bind_parameters, load_methodology
from extra_pipeline.models import SQL_DIR, SqlModel, load_model
from extra_pipeline.warehouse import qualified, quote_ident

Input = pd.DataFrame | str


def model(name: str, sql_dir: Path = SQL_DIR) -> SqlModel:
    """`layer/name` as the loader sees it (parameters from the shipped methodology)."""
    layer, _, stem = name.partition("/")
    return load_model(sql_dir / layer / f"{stem}.sql", layer, load_methodology())


def run_model(
    name: str,
    inputs: Mapping[str, Input],
    *,
    parameters: Mapping[str, Any] | None = None,
    order_by: str | None = None,
) -> pd.DataFrame:
    """The model's SELECT over `inputs`, as a DataFrame (ordered by `order_by` if given)."""
    sql_model = model(name)
    missing = sorted(set(sql_model.depends_on) - set(inputs))
    if missing:
        raise AssertionError(f"{name} reads {', '.join(missing)}: give them to run_model")
    unknown = sorted(set(parameters or {}) - set(sql_model.parameters))
    if unknown:
        raise AssertionError(f"{name} does not read parameter(s) {', '.join(unknown)}")
    with duckdb.connect(":memory:") as con:
        for table, data in inputs.items():
            con.execute(f"create schema if not exists {quote_ident(table.split('.')[0])}")
            if isinstance(data, str):
                con.execute(f"create table {qualified(table)} as {data}")
            else:
                con.register("input_frame", data)
                con.execute(f"create table {qualified(table)} as select * from input_frame")
                con.unregister("input_frame")
        bind_parameters(con, {**sql_model.parameters, **(parameters or {})})
        sql = sql_model.sql.strip().rstrip(";")
        if order_by:
            sql = f"select * from ({sql}) order by {order_by}"
        return con.execute(sql).df()
