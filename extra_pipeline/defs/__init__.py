"""Dagster definitions, one concern per module; `extra_pipeline.definitions` assembles them."""
