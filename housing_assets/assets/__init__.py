"""Dagster wiring, one module per stage. Each asset reads its inputs, calls `lib` and attaches
metadata; the logic itself lives in `housing_assets.lib`."""
