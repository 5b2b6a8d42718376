"""Open-source connectors, one module per source.

A source's registry file (`assets/sources/<source_id>.yaml`) names the module under this
package that holds its connector (`connector:`, by default the source id); the module's
`SourceConnector` subclass whose `source_id` is the source's id is its connector. Adding a
source is adding its registry file and its module: nothing here lists them.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping

from extra_pipeline.sources.base import SourceConfig, SourceConnector, load_registry


def connector_class(config: SourceConfig) -> type[SourceConnector]:
    """The connector class of one registered source; ValueError naming the registry file
    when its module or class cannot be found."""
    where = f"assets/sources/{config.source_id}.yaml"
    try:
        module = importlib.import_module(f"{__name__}.{config.connector}")
    except ModuleNotFoundError as error:
        raise ValueError(
            f"{where}: no connector module extra_pipeline/sources/{config.connector}.py ({error})"
        ) from None
    found = [
        member
        for _, member in inspect.getmembers(module, inspect.isclass)
        if issubclass(member, SourceConnector)
        and not inspect.isabstract(member)
        and getattr(member, "source_id", None) == config.source_id
    ]
    if len(found) != 1:
        raise ValueError(
            f"{where}: extra_pipeline/sources/{config.connector}.py must define exactly one "
            f"SourceConnector with source_id = {config.source_id!r} (found {len(found)})"
        )
    return found[0]


def connector_classes(
    registry: Mapping[str, SourceConfig] | None = None,
) -> dict[str, type[SourceConnector]]:
    """Every registered source's connector class, by source id, in source id order."""
    registry = load_registry() if registry is None else registry
    return {source_id: connector_class(registry[source_id]) for source_id in sorted(registry)}
