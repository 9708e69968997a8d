"""Data: the source columns, ingestion, row-wise cleaning (the one feature path), encoding,
quality rules, drift and the warehouse reads."""
