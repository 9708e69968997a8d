"""What a whole-graph run is expected to hold, written out here rather than read from the
definitions, so a test fails when an asset or a freshness policy goes missing."""

from housing_assets.lib.analysis.eda import EDA_TABLES

ASSETS = {
    "raw_housing", "cleaned_housing", "drift_reference", "encoded_housing", "eda_report",
    *EDA_TABLES, "linear_price_model", "boosted_price_model", "price_estimates", "price_reasons",
    "price_comparables", "ratio_study",
}  # fmt: skip
# The models and the valuations: what goes stale when the schedule stops.
FRESH_ASSETS = {
    "linear_price_model", "boosted_price_model", "price_estimates", "price_reasons",
    "price_comparables", "ratio_study",
}  # fmt: skip
