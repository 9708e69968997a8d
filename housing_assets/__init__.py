"""housing_assets: a Dagster data and ML platform for the Ames Housing sale prices."""
