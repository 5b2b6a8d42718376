"""Every resource the assets use, built in one place from the settings."""

from collections.abc import Callable
from pathlib import Path

import dagster as dg

from extra_pipeline.defs.operations import alerts_resource
from extra_pipeline.drops.ingest import DropArea
from extra_pipeline.drops.model import Limits
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


class DropsResource(dg.ConfigurableResource):
    """The drop area under EXTRA_HOME/drops and the limits every file is held to."""

    root: str
    max_bytes: int = Limits.max_bytes
    max_exact_bytes: int = Limits.max_exact_bytes
    max_rows: int = Limits.max_rows
    max_columns: int = Limits.max_columns
    #: a file younger than this may still be being written; the sensor waits for it
    settle_seconds: float = 5.0

    def area(self) -> DropArea:
        return DropArea(Path(self.root))

    def limits(self) -> Limits:
        return Limits(
            max_bytes=self.max_bytes,
            max_exact_bytes=self.max_exact_bytes,
            max_rows=self.max_rows,
            max_columns=self.max_columns,
        )


class PublishingResource(dg.ConfigurableResource):
    """Where the published copies go (one DuckDB file per marking level)."""

    published_dir: str


class ProductsResource(dg.ConfigurableResource):
    """Where the products read (the published copies) and write (EXTRA_HOME/outputs)."""

    published_dir: str
    outputs_dir: str


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
        "drop_area": DropsResource(root=str(settings.drops_dir)),
        "alerts": alerts_resource(settings),
        "products": ProductsResource(
            published_dir=str(settings.published_dir), outputs_dir=str(settings.outputs_dir)
        ),
    }
