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
from housing_assets.assets.ingestion import (
    RAW_KEY,
    raw_sales,
    split_test_houses,
    split_test_pids,
    training_sales,
)
from housing_assets.checks import (
    CHAMPION_STUDY_MODEL,
    COMPARABLE_RULES,
    ESTIMATE_RULES,
    REASON_RULES,
    audit_failure,
    audited_output,
    blocking_failures,
    data_check_results,
    data_check_specs,
    ratio_check_results,
    ratio_check_specs,
)
from housing_assets.freshness import SCHEDULED_FRESHNESS
from housing_assets.lib.analysis.ratio_report import (
    RATIO_REPORT_NAME,
    build_ratio_report_html,
    cod_by_group,
    coverage_by_group,
    ratio_against_price,
)
from housing_assets.lib.analysis.report import write_report
from housing_assets.lib.analysis.valuation_page import Valuation, valuation_html
from housing_assets.lib.data.frames import fixed_sample
from housing_assets.lib.ml.comparables import MIN_COMPS, implied_values
from housing_assets.lib.ml.families import FAMILIES
from housing_assets.lib.ml.metrics import priced_accuracy
from housing_assets.lib.ml.ratio_study import (
    ALL_SALES,
    STATISTICS,
    TEST_SCOPE,
    VALIDATED_SALES,
    ratio_statistics,
)
from housing_assets.lib.ml.ratio_study import ratio_study as ratio_study_table
from housing_assets.lib.ml.workflow import explainable_linear, known_sales, scored_sales
from housing_assets.lib.registry.champion import (
    current_champion,
    load_champion,
    load_registered,
    newest_version,
)
from housing_assets.lib.registry.known_sales import log_known_sales, read_known_sales
from housing_assets.lib.registry.scored import ScoredSalesMissing, read_scored_sales
from housing_assets.metadata import markdown_table, table_metadata
from housing_assets.resources import MlflowTracking, SubjectsSource, Warehouse

ESTIMATES_KEY = dg.AssetKey("price_estimates")
ESTIMATE_CHECKS = data_check_specs(ESTIMATES_KEY, ESTIMATE_RULES)
# Above this many subjects, reasons and comparables are those of a fixed random sample.
EXPLAINED_MAX_ROWS = 1_000


def subject_houses(
    subjects: SubjectsSource,
    warehouse: Warehouse,
    priced: pd.Series | None = None,
    test_pids: pd.Series | None = None,
) -> tuple[pd.DataFrame, str]:
    """The houses to price and where they came from: the subjects file, else the test split
    (`test_pids` if the caller has them). With `priced` (parcel ids), only the houses among
    them, a fixed sample of EXPLAINED_MAX_ROWS; of the test split, only those houses' rows
    are read."""
    if subjects.location:
        loaded = subjects.load()
        houses = loaded.frame
        if priced is not None:
            houses = fixed_sample(houses[houses["PID"].isin(priced)], EXPLAINED_MAX_ROWS)
        return houses, f"{subjects.location} ({loaded.naming} naming)"
    pids = split_test_pids(warehouse) if test_pids is None else test_pids
    if priced is not None:
        pids = fixed_sample(pids[pids.isin(priced)], EXPLAINED_MAX_ROWS)
    return raw_sales(warehouse, pids), "the test split of the sales"


@dg.asset(
    group_name="valuation",
    kinds={"mlflow", "pandas", "duckdb"},
    deps=[RAW_KEY, "cleaned_housing", *(fam.asset for fam in FAMILIES.values())],
    check_specs=ESTIMATE_CHECKS,
    freshness_policy=SCHEDULED_FRESHNESS,
)
def price_estimates(
    context: dg.AssetExecutionContext,
    subjects: SubjectsSource,
    mlflow: MlflowTracking,
    warehouse: Warehouse,
) -> Iterator:
    """Estimate and calibrated range for each subject house, priced by the current champion."""
    houses, origin = subject_houses(subjects, warehouse)
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


REASONS_KEY = dg.AssetKey("price_reasons")
REASON_CHECKS = data_check_specs(REASONS_KEY, REASON_RULES)
COMPARABLES_KEY = dg.AssetKey("price_comparables")
COMPARABLE_CHECKS = data_check_specs(COMPARABLES_KEY, COMPARABLE_RULES)
VALUATION_PAGES = "valuations"


@dg.multi_asset(
    outs={
        REASONS_KEY.to_python_identifier(): dg.AssetOut(
            key=REASONS_KEY,
            group_name="valuation",
            kinds={"mlflow", "pandas", "duckdb"},
            description="Why each estimate of price_estimates is what it is: its base value, "
            "its ten largest feature contributions (log price and dollars) and one row for all "
            "other features.",
            freshness_policy=SCHEDULED_FRESHNESS,
        ),
        COMPARABLES_KEY.to_python_identifier(): dg.AssetOut(
            key=COMPARABLES_KEY,
            group_name="valuation",
            kinds={"mlflow", "pandas", "duckdb"},
            description="3 to 6 comparable known sales for each estimate of price_estimates, "
            "adjusted by the model, and the comps-implied value.",
            freshness_policy=SCHEDULED_FRESHNESS,
        ),
    },
    check_specs=[*REASON_CHECKS, *COMPARABLE_CHECKS],
    deps=[RAW_KEY],
)
def explained_estimates(
    context: dg.AssetExecutionContext,
    subjects: SubjectsSource,
    mlflow: MlflowTracking,
    warehouse: Warehouse,
    price_estimates: pd.DataFrame,
) -> Iterator:
    """The reasons and the comparable sales of the estimates in price_estimates, from the
    model version that priced them (one step: both read the houses' contributions)."""
    versions = price_estimates["model_version"].unique()
    if len(versions) != 1:
        raise dg.Failure(f"price_estimates holds {len(versions)} model versions: {list(versions)}")
    version = int(versions[0])
    client = mlflow.client()
    model = load_registered(client, settings.REGISTERED_MODEL, str(version))
    valuation = model.unwrap_python_model()
    tested = split_test_pids(warehouse)
    houses, origin = subject_houses(
        subjects, warehouse, priced=price_estimates["PID"], test_pids=tested
    )
    estimates = price_estimates.set_index("PID")["estimate"]
    estimate = estimates.loc[houses["PID"]].to_numpy()
    X = valuation.features(houses)
    explainable(context, valuation, warehouse)
    contributions = valuation.contributions(X)
    reasons = valuation.reasons(X, houses["PID"], estimate, contributions)
    comparables = comparable_sales(
        context, client, version, valuation, warehouse, X, houses, estimate, contributions
    )
    context.log.info(
        f"Reasons and comparables for {reasons['PID'].nunique()} of {len(price_estimates)} "
        f"estimates ({origin}) from {settings.REGISTERED_MODEL} v{version}"
    )
    reason_results = data_check_results(
        REASONS_KEY, REASON_RULES, reasons.assign(estimate=reasons["PID"].map(estimates))
    )
    comparable_results = data_check_results(
        COMPARABLES_KEY,
        COMPARABLE_RULES,
        comparables.assign(comp_in_test_split=comparables["comp_pid"].isin(tested)),
    )
    # Both tables from the same version or neither: a failed audit of one publishes nothing.
    failed = blocking_failures(REASON_CHECKS, reason_results) + blocking_failures(
        COMPARABLE_CHECKS, comparable_results
    )
    if failed:
        yield from reason_results
        yield from comparable_results
        raise audit_failure([REASONS_KEY, COMPARABLES_KEY], failed)
    page = {}
    if len(comparables):
        path = example_page(houses, price_estimates, reasons, comparables, version, valuation.level)
        page = {"example_valuation_page": dg.MetadataValue.path(str(path))}
    first = reasons["PID"].iloc[0]
    yield dg.Output(
        reasons,
        output_name=REASONS_KEY.to_python_identifier(),
        metadata={
            **table_metadata(reasons),
            "model_version": version,
            "explained_houses": int(reasons["PID"].nunique()),
            "subjects": origin,
            "first_house": markdown_table(reasons[reasons["PID"] == first], index=False),
        },
    )
    yield dg.Output(
        comparables,
        output_name=COMPARABLES_KEY.to_python_identifier(),
        metadata={
            **table_metadata(comparables),
            "model_version": version,
            **page,
            **comparables_accuracy(comparables, houses),
            "first_house": markdown_table(comparables[comparables["PID"] == first], index=False),
        },
    )
    yield from reason_results
    yield from comparable_results


def explainable(context, valuation, warehouse: Warehouse) -> None:
    """A linear champion registered before reasons gets them from this run's training split
    (the rows it was fitted on, if the sales have not changed); a booster's come from its
    trees."""
    if valuation.trees is None and getattr(valuation, "linear_reasons", None) is None:
        context.log.warning(
            "The champion stores no reasons; they are computed from this run's training split"
        )
        training = training_sales(warehouse)
        valuation.linear_reasons = explainable_linear(valuation.estimator, training.X)


def comparable_sales(
    context, client, version, valuation, warehouse, X, houses, estimate, contributions
):
    """The comparables of the explained houses, from the known sales the champion stores, or
    for a champion registered before comparables, the training split of this run's sales.
    The known sales' estimates and contributions are those logged to the version's run by an
    earlier run (`lib.registry.known_sales`), or computed now and logged for the next."""
    pool = getattr(valuation, "pool", None)
    if pool is None:
        context.log.warning(
            "The champion stores no known sales; comparables come from this run's training split"
        )
        pool = known_sales(training_sales(warehouse))
        return valuation.comparables_from(pool, X, houses["PID"], estimate, contributions)
    run_id = client.get_model_version(settings.REGISTERED_MODEL, str(version)).run_id
    known = read_known_sales(client, run_id, pool.pid)
    if known is None:
        known = valuation.known_sales_explained(pool)
        if not log_known_sales(client, run_id, pool.pid, *known):
            context.log.warning(f"Could not keep the known sales' figures with run {run_id}")
    return valuation.comparables_from(pool, X, houses["PID"], estimate, contributions, known=known)


def example_page(houses, estimates, reasons, comparables, version: int, level: float):
    """The valuation page of the first house explained (`lib.analysis.valuation_page`), as
    `housing-api value --pid PID --html DIR` writes it for any house."""
    first = houses.iloc[0]
    pid = int(first["PID"])
    priced = estimates.set_index("PID").loc[pid]
    own = reasons[reasons["PID"] == pid]
    valuation = Valuation(
        pid, str(first["Neighborhood"]), float(priced["estimate"]), float(priced["low"]),
        float(priced["high"]), level, float(priced["sale_price"]),
        float(own.loc[own["rank"] == 0, "contribution"].iloc[0]),
        own.loc[own["rank"] > 0, ["feature", "value", "contribution", "dollars"]],
        comparables[comparables["PID"] == pid],
        float(comparables.loc[comparables["PID"] == pid, "implied_value"].max()),
        f"{settings.REGISTERED_MODEL} v{version}",
    )  # fmt: skip
    path = settings.reports_dir() / VALUATION_PAGES / f"valuation_{pid}.html"
    write_report(valuation_html(valuation), path, 0)
    return path


def comparables_accuracy(comparables: pd.DataFrame, houses: pd.DataFrame) -> dict[str, float]:
    """How good the comps-implied value is by itself, beside the model's estimate, on the
    subjects that have comps and a sale price: COD and median APE."""
    implied = implied_values(comparables)
    price = houses.set_index("PID")["SalePrice"].astype(float).reindex(implied.index)
    known = price.notna() & (price > 0)
    figures = {
        "subjects_with_comps": int(len(implied)),
        "subjects_with_3_comps": int((implied["comps"] >= MIN_COMPS).sum()),
        "subjects": int(len(houses)),
        "flagged_share": float(comparables["flagged"].mean()) if len(comparables) else 0.0,
    }
    if known.sum() >= 1:
        comps = ratio_statistics(implied["implied_value"][known], price[known])
        model = ratio_statistics(implied["estimate"][known], price[known])
        figures.update(
            comps_implied_cod=comps["cod"],
            comps_implied_median_ape=comps["median_ape"],
            model_cod_same_subjects=model["cod"],
            model_median_ape_same_subjects=model["median_ape"],
        )
    return figures


RATIO_KEY = dg.AssetKey("ratio_study")
RATIO_CHECKS = ratio_check_specs(RATIO_KEY)


def champion_scored_sales(client, warehouse: Warehouse, log) -> tuple[pd.DataFrame, int, str]:
    """The champion's scored sales, its version and where they came from: those its own
    training run logged, or for a champion registered before the ratio study, the test split
    of this run's sales priced by it now (it then has no backtest)."""
    champion = current_champion(client, settings.REGISTERED_MODEL, settings.CHAMPION_ALIAS)
    if champion is None:
        raise dg.Failure(f"{settings.REGISTERED_MODEL} has no {settings.CHAMPION_ALIAS} yet")
    version = int(champion.version)
    try:
        return read_scored_sales(client, champion.run_id), version, f"MLflow run {champion.run_id}"
    except ScoredSalesMissing as missing:
        log.warning(f"{missing}; the champion v{version} is re-scored on the test split")
    _, model = load_champion(client, settings.REGISTERED_MODEL, settings.CHAMPION_ALIAS)
    houses = split_test_houses(warehouse)
    priced = model.predict(houses)
    scored = scored_sales(
        TEST_SCOPE, houses["PID"], houses, houses["SalePrice"].astype(float),
        priced["estimate"], priced["low"], priced["high"], model.unwrap_python_model().level,
    )  # fmt: skip
    return scored, version, "re-scored on this run's test split (no backtest)"


@dg.asset(
    group_name="valuation",
    kinds={"mlflow", "pandas", "duckdb", "plotly"},
    # After the valuations: the champion it judges is the one that priced them.
    deps=[ESTIMATES_KEY, *(fam.asset for fam in FAMILIES.values())],
    check_specs=RATIO_CHECKS,
    freshness_policy=SCHEDULED_FRESHNESS,
)
def ratio_study(
    context: dg.AssetExecutionContext, mlflow: MlflowTracking, warehouse: Warehouse
) -> Iterator:
    """The IAAO ratio study of the champion and each model family, on the test split and the
    backtest year: median ratio, COD, PRD, PRB, PPE5/10/20, FSD and median APE, and the price
    ranges' coverage and width, overall, per neighbourhood with enough sales and per price
    quartile."""
    client = mlflow.client()
    scored, sources = [], {}
    for fam in FAMILIES.values():
        # The family's newest registered version: this run's, unless its step failed first.
        newest = newest_version(client, settings.REGISTERED_MODEL, fam.name)
        if newest is None:
            context.log.warning(f"{settings.REGISTERED_MODEL} has no {fam.asset} version yet")
            continue
        try:
            sales_of = read_scored_sales(client, newest.run_id)
        except ScoredSalesMissing as missing:
            context.log.warning(f"{fam.asset} v{newest.version} is left out: {missing}")
            continue
        scored.append(sales_of.assign(model=fam.asset, model_version=int(newest.version)))
        sources[fam.asset] = f"v{newest.version}: MLflow run {newest.run_id}"
    champion, version, origin = champion_scored_sales(client, warehouse, context.log)
    scored.append(champion.assign(model=CHAMPION_STUDY_MODEL, model_version=version))
    sources[CHAMPION_STUDY_MODEL] = f"v{version}: {origin}"
    scored = pd.concat(scored, ignore_index=True)
    study = ratio_study_table(scored)
    results = ratio_check_results(RATIO_KEY, study)
    report_path = settings.reports_dir() / RATIO_REPORT_NAME
    # The page is replaced only by a study that will be published: a failed audit leaves both.
    if not blocking_failures(RATIO_CHECKS, results):
        charts = [ratio_against_price(scored), cod_by_group(study), coverage_by_group(study)]
        write_report(build_ratio_report_html(study, charts), report_path, len(charts))
    champion_overall = study[
        (study["model"] == CHAMPION_STUDY_MODEL)
        & (study["scope"] == TEST_SCOPE)
        & (study["group_kind"] == "overall")
    ].set_index("sample")
    headline = champion_overall.loc[ALL_SALES]
    figures = {f"champion_{name}": float(headline[name]) for name in STATISTICS}
    message = (
        f"Ratio study of {len(sources)} models on {len(scored):,} scored sales: "
        f"{len(study)} rows; champion v{version} on the test split: median ratio "
        f"{headline['median_ratio']:.3f}, COD {headline['cod']:.2f}, PRD {headline['prd']:.3f}, "
        f"PRB {headline['prb']:.3f}"
    )
    if VALIDATED_SALES in champion_overall.index:
        validated = champion_overall.loc[VALIDATED_SALES]
        figures["champion_validated_sales"] = int(validated["sales"])
        figures.update({f"champion_validated_{n}": float(validated[n]) for n in STATISTICS})
        message += f"; on its {validated['sales']} validated sales COD {validated['cod']:.2f}"
    context.log.info(message)
    output = dg.Output(
        study,
        metadata={
            **table_metadata(study),
            "champion_version": version,
            **figures,
            "scored_sales_from": dg.MetadataValue.json(sources),
            "report_path": dg.MetadataValue.path(str(report_path)),
            "overall": markdown_table(
                study[study["group_kind"] == "overall"].drop(columns=["group_kind", "group"]),
                index=False,
            ),
        },
    )
    yield from audited_output(RATIO_KEY, RATIO_CHECKS, results, output)
