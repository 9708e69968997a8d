"""Valuation: the current champion prices a batch of houses into a warehouse table.

The subjects are the houses of `HOUSING_SUBJECTS` (the source's format and validation), or by
default the test split's houses, so the table shows estimate, range and actual sale price side
by side. The asset runs after both models, so a run that moves the champion prices with the
new one; the table records the version and the alias it was scored with. It is published by
write-audit-publish like every table: a bad subjects file leaves the previous table.
"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from housing_assets import settings
from housing_assets.checks import (
    ESTIMATE_RULES,
    audited_output,
    data_check_results,
    data_check_specs,
)
from housing_assets.freshness import SCHEDULED_FRESHNESS
from housing_assets.lib.data.cleaning import sales
from housing_assets.lib.ml.families import FAMILIES
from housing_assets.lib.ml.metrics import priced_accuracy
from housing_assets.lib.ml.split import split_index
from housing_assets.lib.registry.champion import load_champion
from housing_assets.metadata import markdown_table, table_metadata
from housing_assets.resources import MlflowTracking, SubjectsSource

ESTIMATES_KEY = dg.AssetKey("price_estimates")
ESTIMATE_CHECKS = data_check_specs(ESTIMATES_KEY, ESTIMATE_RULES)


def split_test_houses(raw: pd.DataFrame) -> pd.DataFrame:
    """The raw rows of the test split's houses, in the split's order."""
    rows = sales(raw)
    _, test = split_index(rows)
    return rows.loc[test].reset_index(drop=True)


@dg.asset(
    group_name="valuation",
    kinds={"mlflow", "pandas", "duckdb"},
    deps=["cleaned_housing", *(fam.asset for fam in FAMILIES.values())],
    check_specs=ESTIMATE_CHECKS,
    freshness_policy=SCHEDULED_FRESHNESS,
)
def price_estimates(
    context: dg.AssetExecutionContext,
    subjects: SubjectsSource,
    mlflow: MlflowTracking,
    raw_housing: pd.DataFrame,
) -> Iterator:
    """Estimate and calibrated range for each subject house, priced by the current champion."""
    if subjects.location:
        loaded = subjects.load()
        houses = loaded.frame
        origin = f"{subjects.location} ({loaded.naming} naming)"
    else:
        houses = split_test_houses(raw_housing)
        origin = "the test split of the sales"
    version, model = load_champion(
        mlflow.client(), settings.REGISTERED_MODEL, settings.CHAMPION_ALIAS
    )
    if model is None:
        raise dg.Failure(f"{settings.REGISTERED_MODEL} has no {settings.CHAMPION_ALIAS} yet")
    level = model.unwrap_python_model().level
    priced = model.predict(houses)
    table = pd.DataFrame(
        {
            "PID": houses["PID"].to_numpy(),
            "estimate": priced["estimate"].to_numpy(),
            "low": priced["low"].to_numpy(),
            "high": priced["high"].to_numpy(),
            "sale_price": houses["SalePrice"].astype(float).to_numpy(),
            "model_version": int(version),
            "champion_alias": settings.CHAMPION_ALIAS,
        }
    )
    context.log.info(
        f"Priced {len(table)} houses from {origin} with {settings.REGISTERED_MODEL} "
        f"v{version} (@{settings.CHAMPION_ALIAS}), {level:.0%} ranges"
    )
    accuracy = priced_accuracy(*(table[c] for c in ("sale_price", "estimate", "low", "high")))
    output = dg.Output(
        table,
        metadata={
            **table_metadata(table),
            "subjects": origin,
            "champion_version": int(version),
            "interval_level": level,
            **accuracy,
            "preview": markdown_table(table.head(10), index=False),
        },
    )
    results = data_check_results(ESTIMATES_KEY, ESTIMATE_RULES, table)
    yield from audited_output(ESTIMATES_KEY, ESTIMATE_CHECKS, results, output)
