"""Every resource the assets use, built in one place from the settings."""

from collections.abc import Callable
from pathlib import Path

import dagster as dg

from extra_pipeline.http import HttpClient, RetryPolicy
from extra_pipeline.quality import GreatExpectationsResource
from extra_pipeline.settings import Settings
from extra_pipeline.snapshots import SnapshotStore
from extra_pipeline.sources.base import SourceFetcher
from extra_pipeline.warehouse import WarehouseResource


class SourcesResource(dg.ConfigurableResource):
    """How open sources are reached: the mode, the snapshot store and the HTTP client."""

    mode: str = "auto"
    snapshots_dir: str
    base_urls: dict[str, str] = {}  # noqa: RUF012 - pydantic copies field defaults
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 4
    backoff_base: float = 0.5

    def store(self) -> SnapshotStore:
        return SnapshotStore(Path(self.snapshots_dir))

    def fetcher(self, on_progress: Callable[[str], None]) -> SourceFetcher:
        client = HttpClient(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retry=RetryPolicy(max_attempts=self.max_attempts, backoff_base=self.backoff_base),
        )
        return SourceFetcher(self.store(), client, self.mode, on_progress)  # type: ignore[arg-type]


class PublishingResource(dg.ConfigurableResource):
    """Where the published copies go (one DuckDB file per marking level)."""

    published_dir: str


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The resources for a deployment described by `settings`."""
    return {
        "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
        "sources": SourcesResource(
            mode=settings.sources_mode,
            snapshots_dir=str(settings.snapshots_dir),
            base_urls=dict(settings.base_urls),
            connect_timeout=settings.http_connect_timeout,
            read_timeout=settings.http_read_timeout,
            max_attempts=settings.http_max_attempts,
        ),
        "great_expectations": GreatExpectationsResource(),
        "publishing": PublishingResource(published_dir=str(settings.published_dir)),
    }
