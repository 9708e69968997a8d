"""Pure pandas / scikit-learn / plotly logic. Nothing in this package imports dagster.

Keeping the logic here, away from the Dagster wiring in `housing_assets.assets`, makes every
step testable on a five-row DataFrame and reusable from a plain script (see benchmarks/).
"""
