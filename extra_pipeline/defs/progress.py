"""Concise terminal progress for `extra run`: one line per step, failed checks called out.

Selected by run config (`loggers: {progress: {}}`), so runs launched from the UI keep
Dagster's own console logger.
"""

import logging
import os
import sys
from functools import cache
from typing import Any, ClassVar, TextIO

import dagster as dg


@cache
def terminal() -> TextIO:
    """The operator's terminal. Dagster redirects stdout/stderr into compute logs while a
    step runs; a duplicate of the descriptor taken before that still reaches the terminal."""
    return os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1, encoding="utf-8")


class ProgressHandler(logging.Handler):
    """Step started, finished, failed, skipped; asset log lines at INFO; failed checks."""

    SHOWN: ClassVar[dict[str, str]] = {
        "STEP_START": "…",
        "STEP_SUCCESS": "✓",
        "STEP_FAILURE": "✗",
        "STEP_SKIPPED": "-",
    }

    def __init__(self, *, quiet: bool) -> None:
        super().__init__()
        self.quiet = quiet
        self.stream = terminal()

    def emit(self, record: logging.LogRecord) -> None:
        if self.quiet:
            return
        try:
            self._show(record)
        except Exception:  # progress must never fail a step
            self.handleError(record)

    def _show(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        step = meta.get("step_key") or meta.get("op_name") or ""
        if event is None:
            if record.levelno >= logging.INFO and step:
                print(
                    f"    {step}: {meta.get('orig_message', record.getMessage())}", file=self.stream
                )
            return
        mark = self.SHOWN.get(event.event_type_value)
        if mark:
            print(f"  {mark} {event.step_key}", file=self.stream)
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            if not data.passed:
                print(
                    f"  ! check {data.asset_key.to_user_string()}:{data.check_name} failed "
                    f"({data.severity.value})",
                    file=self.stream,
                )


@dg.logger(
    config_schema={"quiet": dg.Field(bool, default_value=False)},
    description="Concise progress for the terminal (extra run).",
)
def progress_logger(init_context: Any) -> logging.Logger:
    logger = logging.Logger("extra.progress", level=logging.DEBUG)  # step events are DEBUG records
    logger.addHandler(ProgressHandler(quiet=init_context.logger_config["quiet"]))
    return logger
