"""The plain-Python reference: the same cleaning and the same two models, no orchestrator.

No Dagster, no warehouse, no MLflow, no EDA: read, validate, clean, split, fit and score
both models. `bench_pipeline.py` times it in a fresh process beside the full Dagster run; the
ratio of the two is the orchestration (and tracking, and reporting) overhead.

    .venv/bin/python benchmarks/reference_pipeline.py [--source PATH]
"""

import argparse
import json

from housing_assets import settings
from housing_assets.lib.data.cleaning import clean_housing
from housing_assets.lib.data.ingest import load_source
from housing_assets.lib.ml.modeling import split_housing, train_and_score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(settings.SHIPPED_SOURCE))
    args = parser.parse_args()
    cleaned = clean_housing(load_source(args.source).frame).frame
    split = split_housing(cleaned)
    metrics = {
        family: train_and_score(family, split).metrics["test_rmse"]
        for family in ("linear", "boosted")
    }
    print(json.dumps({"rows": len(cleaned), "test_rmse": metrics}))


if __name__ == "__main__":
    main()
