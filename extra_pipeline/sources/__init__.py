"""Open-source connectors, one module per source; `CONNECTORS` is the index by source id."""

from __future__ import annotations

from extra_pipeline.sources.base import SourceConnector
from extra_pipeline.sources.goci import GociConnector
from extra_pipeline.sources.wgi import WgiConnector

CONNECTORS: dict[str, type[SourceConnector]] = {
    connector.source_id: connector for connector in (GociConnector, WgiConnector)
}
