"""The one place the environment is read.

Every setting has a documented variable (see `.env.example` and the README); code asks a
`Settings` object, never `os.environ`, so tests and the CLI can build one explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

SourcesMode = Literal["auto", "live", "offline"]
SOURCES_MODES: tuple[SourcesMode, ...] = ("auto", "live", "offline")

#: The repository root: static assets, SQL models and suites are read from here.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class SettingsError(ValueError):
    """A setting has a value the pipeline cannot use."""


@dataclass(frozen=True)
class Settings:
    """Where state lives and how sources are reached."""

    extra_home: Path
    sources_mode: SourcesMode = "auto"
    #: per-source base URL overrides, keyed by source id (from EXTRA_<SOURCE>_BASE_URL)
    base_urls: Mapping[str, str] = field(default_factory=dict)
    http_connect_timeout: float = 10.0
    http_read_timeout: float = 60.0
    http_max_attempts: int = 4
    #: where a failed run's alert is also posted (JSON), if anywhere
    alert_webhook_url: str = ""
    #: the Dagster UI's address, for links in alerts
    ui_url: str = "http://127.0.0.1:3000"
    #: retries of an asset that fetches over HTTP, and the first delay (seconds) before one
    source_retries: int = 2
    source_retry_delay: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build the settings from the environment (or the mapping given)."""
        env = os.environ if environ is None else environ
        home = Path(env.get("EXTRA_HOME") or PROJECT_ROOT / ".extra").expanduser().resolve()
        mode = (env.get("EXTRA_SOURCES") or "auto").strip().lower()
        if mode not in SOURCES_MODES:
            raise SettingsError(f"EXTRA_SOURCES={mode!r} is not one of {', '.join(SOURCES_MODES)}")
        base_urls = {
            key[len("EXTRA_") : -len("_BASE_URL")].lower(): value.rstrip("/")
            for key, value in env.items()
            if key.startswith("EXTRA_") and key.endswith("_BASE_URL") and value
        }
        return cls(
            extra_home=home,
            sources_mode=mode,  # type: ignore[arg-type]
            base_urls=base_urls,
            http_connect_timeout=_float(env, "EXTRA_HTTP_CONNECT_TIMEOUT", 10.0),
            http_read_timeout=_float(env, "EXTRA_HTTP_READ_TIMEOUT", 60.0),
            http_max_attempts=int(_float(env, "EXTRA_HTTP_MAX_ATTEMPTS", 4)),
            alert_webhook_url=(env.get("EXTRA_ALERT_WEBHOOK") or "").strip(),
            ui_url=(env.get("EXTRA_UI_URL") or "http://127.0.0.1:3000").strip(),
            source_retries=int(_float(env, "EXTRA_SOURCE_RETRIES", 2)),
            source_retry_delay=_float(env, "EXTRA_SOURCE_RETRY_DELAY", 30.0),
        )

    # Everything below lives under EXTRA_HOME: nothing is written anywhere else.
    @property
    def warehouse_path(self) -> Path:
        return self.extra_home / "warehouse" / "extra.duckdb"

    @property
    def published_dir(self) -> Path:
        return self.extra_home / "published"

    @property
    def outputs_dir(self) -> Path:
        """The products: reports, bulletins, early-warning notes, exports."""
        return self.extra_home / "outputs"

    @property
    def alerts_dir(self) -> Path:
        """One JSON file per failed run (and `alerts.log`), for whoever is on call."""
        return self.extra_home / "alerts"

    @property
    def drops_dir(self) -> Path:
        return self.extra_home / "drops"

    @property
    def snapshots_dir(self) -> Path:
        return self.extra_home / "snapshots"

    @property
    def dagster_home(self) -> Path:
        return Path(os.environ.get("DAGSTER_HOME") or self.extra_home / "dagster")

    def published_path(self, level: str) -> Path:
        """The published copy for a marking level, e.g. `published/amber+strict.duckdb`."""
        return self.published_dir / f"{level.lower()}.duckdb"


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
