"""The ML pipeline: metrics, MLflow runs, the registry's champion, and no leakage."""

import json
import os
import time

import dagster as dg
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.dummy import DummyRegressor
from sklearn.model_selection import train_test_split

from housing_assets import settings
from housing_assets.lib.data.features import FEATURES
from housing_assets.lib.ml.families import BOOSTER_MAX_LEAF_NODES, FAMILIES, build_boosted_model
from housing_assets.lib.ml.split import TrainingDataError, split_index, split_sales
from housing_assets.lib.ml.workflow import train_model
from housing_assets.lib.registry.store import TrackingUnavailable, ensure_experiment
from housing_assets_tests.harness.errors import failure_text
from housing_assets_tests.harness.mlflow_store import empty_store

BOOSTER_GRID = FAMILIES["boosted"].tuning_grid

# cv_rmse comes from a tuning run only (`tune: true`).
# The metrics of a scheduled run (cv_rmse comes from a tuning run only).
METRIC_KEYS = {
    "test_rmse", "test_mae", "test_mape", "test_r2", "test_rmsle", "test_median_ae",
    "train_rmse", "train_r2", "test_interval_coverage", "test_interval_median_width",
    "backtest_rmse", "backtest_mae", "backtest_r2", "backtest_interval_coverage", "backtest_rows",
    # the ratio study's figures of each scope, on all sales and the validated sample
    # (lib.ml.ratio_study)
    *(f"{scope}{sample}_{name}" for scope in ("test", "backtest", "cv5")
      for sample in ("", "_validated")
      for name in ("median_ratio", "cod", "prd", "prb", "ppe10", "fsd")),
    "test_validated_sales", "backtest_validated_sales", "cv5_validated_sales",
}  # fmt: skip


def latest_metadata(instance, name):
    event = instance.get_latest_materialization_event(dg.AssetKey(name))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_split_is_the_seed_projects(cleaned_frame):
    train, test = split_index(cleaned_frame)
    assert (len(train), len(test)) == (2051, 879)
    assert not set(train) & set(test)
    # the seed split its DataFrame, in file order, with the same call
    seed_train, seed_test = train_test_split(cleaned_frame, test_size=0.3, random_state=42)
    assert list(train) == list(seed_train.index) and list(test) == list(seed_test.index)
    assert list(train[:3]) == [2210, 782, 2310]


@pytest.mark.parametrize("name", ["linear_price_model", "boosted_price_model"])
def test_model_metadata_and_quality(pipeline_run, name):
    result, instance = pipeline_run
    assert result.success
    meta = latest_metadata(instance, name)
    assert METRIC_KEYS <= set(meta) and "cv_rmse" not in meta
    assert meta["train_rows"] == 2051 and meta["test_rows"] == 879
    assert meta["test_r2"] >= 0.90
    assert meta["test_mae"] <= 14_500
    assert meta["model_uri"].startswith("models:/ames-sale-price/")
    assert meta["mlflow_run_url"].endswith(meta["mlflow_run_id"])
    assert meta["params"]["fit_rows"] == 2051  # the real data is below every sample cap


def test_tables_carry_row_count_and_schema_from_the_io_manager(pipeline_run):
    _, instance = pipeline_run
    cleaned = latest_metadata(instance, "cleaned_housing")
    assert cleaned["dagster/row_count"] == 2930
    schema = {c.name: c.type for c in cleaned["dagster/column_schema"].columns}
    assert len(schema) == cleaned["column_count"]
    assert schema["SalePrice"] == "int64" and schema["Neighborhood"] == "object"


def test_best_model_beats_the_targets(pipeline_run):
    _, instance = pipeline_run
    boosted = latest_metadata(instance, "boosted_price_model")
    assert boosted["test_r2"] >= 0.93
    assert boosted["test_mae"] <= 13_000
    assert boosted["test_rmse"] <= 22_500


def test_mlflow_runs_are_nested_and_tagged(pipeline_run):
    result, instance = pipeline_run
    client = MlflowClient(settings.mlflow_tracking_uri())
    experiment = client.get_experiment_by_name(settings.MLFLOW_EXPERIMENT)
    runs = client.search_runs(
        [experiment.experiment_id], f"tags.dagster_run_id = '{result.run_id}'"
    )
    by_name = {run.info.run_name: run for run in runs}
    parent = by_name["housing_pipeline"]
    assert parent.info.status == "FINISHED"
    for name in ("linear_price_model", "boosted_price_model"):
        child = by_name[name]
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        meta = latest_metadata(instance, name)
        assert child.info.run_id == meta["mlflow_run_id"]
        assert child.data.metrics["test_rmse"] == pytest.approx(meta["test_rmse"])
        model_metrics = {k for k in child.data.metrics if not k.startswith("system/")}
        assert model_metrics == METRIC_KEYS
        assert "alpha" in child.data.params or "max_leaf_nodes" in child.data.params
        # a link back to the Dagster run, and the run's CPU and memory (MLflow system metrics)
        assert child.data.tags["dagster_run_url"].endswith(f"/runs/{result.run_id}")
        assert {
            "system/cpu_utilization_percentage", "system/system_memory_usage_megabytes",
        } <= set(child.data.metrics)  # fmt: skip
        memory = client.get_metric_history(
            child.info.run_id, "system/system_memory_usage_megabytes"
        )
        assert memory and all(m.value > 0 for m in memory)
        # the data it was trained and tested on: the raw table, digested by the file's SHA-256
        sha256 = latest_metadata(instance, "raw_housing")["sha256"]
        inputs = {
            tag.value: entry.dataset
            for entry in child.inputs.dataset_inputs
            for tag in entry.tags
            if tag.key == "mlflow.data.context"
        }
        assert set(inputs) == {"training", "testing"}
        for context, rows in (("training", 2051), ("testing", 879)):
            dataset = inputs[context]
            assert dataset.digest == sha256[:36] and dataset.source_type == "duckdb_table"
            source = json.loads(dataset.source)
            assert source["table"] == "housing.raw_housing" and source["source_sha256"] == sha256
            assert source["warehouse"] == str(settings.warehouse_path())
            assert json.loads(dataset.profile)["num_rows"] == rows


def test_the_runs_model_steps_scored_the_champion_once_on_its_split(pipeline_run, raw_frame):
    """The golden run starts with no champion: the first model step is promoted and records
    its test RMSE on the run's split (named by the run, the source's SHA-256 and the rows);
    the second decides against that version's figure, which is its re-score on the same rows
    to the last bit. (That the second step reads it rather than scoring again is
    test_champion's.)"""
    from housing_assets.lib.registry.champion import (
        SPLIT_RMSE_TAG,
        load_registered,
        rescore,
        split_key,
    )

    result, instance = pipeline_run
    client = MlflowClient(settings.mlflow_tracking_uri())
    figures = [
        latest_metadata(instance, name)["champion_decision_figures"]
        for name in ("boosted_price_model", "linear_price_model")
    ]
    decided = [f for f in figures if f["champion_version_before"] is not None]
    assert len(decided) == 1
    first = client.get_model_version(
        settings.REGISTERED_MODEL, str(decided[0]["champion_version_before"])
    )
    sha = latest_metadata(instance, "raw_housing")["sha256"]
    split = split_sales(raw_frame)
    key, _, rmse = first.tags[SPLIT_RMSE_TAG].rpartition(" ")
    assert key == split_key(f"{result.run_id}/{sha}", split.X_test, split.y_test)
    assert decided[0]["champion_rmse_rescored"] == float(rmse)
    model = load_registered(client, settings.REGISTERED_MODEL, first.version, scoring=True)
    assert rescore(model, split.X_test, split.y_test) == (float(rmse), None)


def test_the_runs_second_model_step_took_the_first_ones_split(pipeline_run):
    """The golden run's model steps: the first (in the run's order) splits the raw table and
    the second takes that split rather than reading the table again."""
    result, instance = pipeline_run
    said = {
        entry.step_key: entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.step_key in {fam.asset for fam in FAMILIES.values()}
        and entry.user_message.startswith("Split ")
    }
    started = [
        entry.step_key
        for entry in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_START)
        if entry.step_key in said
    ]
    assert len(started) == 2
    taken = " (the split an earlier model step of this run made)"
    head = "Split 2930 sales 70/30: 2051 train, 879 test, 86 features"
    assert said == {started[0]: head, started[1]: head + taken}


def test_a_runs_split_is_made_once_per_data_version_and_let_go():
    """`ModelSplit` outside a run makes the split every time; in a run, the first step of a
    data version makes it, the later takers get the same object, and the last one lets it
    go, as does a newer version or the run's end."""
    from housing_assets.resources import ModelSplit

    made: list[str] = []

    def make(version):
        def split():
            made.append(version)
            return object()

        return split

    resource = ModelSplit()
    first = resource.take("a", make("a"), takers=2)
    second = resource.take("a", make("a"), takers=2)
    assert first[1] and second[1] and first[0] is not second[0]  # no run: no sharing
    assert made == ["a", "a"]

    made.clear()
    context = dg.build_init_resource_context()
    resource.setup_for_execution(context)
    first = resource.take("a", make("a"), takers=3)
    second = resource.take("a", make("a"), takers=3)
    third = resource.take("a", make("a"), takers=3)
    assert (second[0], second[1], third[0], third[1]) == (first[0], False, first[0], False)
    assert first[1] and made == ["a"]
    assert resource.take("a", make("a"), takers=3)[1] and made == ["a", "a"]  # let go at 3

    newer = resource.take("b", make("b"), takers=2)
    assert newer[1] and made == ["a", "a", "b"]  # another version is made, not taken
    assert resource.take("a", make("a"), takers=3)[1]  # ... and let the older go
    assert resource.take(None, make("-"), takers=2)[1]
    assert resource.take(None, make("-"), takers=2)[1]  # no version: never shared
    assert made == ["a", "a", "b", "a", "-", "-"]

    resource.take("c", make("c"), takers=2)
    resource.teardown_after_execution(context)
    assert resource.take("c", make("c"), takers=2)[1]
    assert made[-2:] == ["c", "c"]


def test_a_runs_steps_share_one_split_and_runs_do_not():
    """Through Dagster: the steps of one run get the object the first one made, and each run
    (with the same resource object) makes its own."""
    from housing_assets.resources import ModelSplit

    made: list[object] = []
    taken: list[tuple[object, bool]] = []

    def make():
        made.append(object())
        return made[-1]

    def reader(name: str) -> dg.AssetsDefinition:
        @dg.asset(name=name)
        def _reader(model_split: ModelSplit) -> None:
            # A third taker that never comes: what a run leaves must not reach the next.
            taken.append(model_split.take("sha", make, takers=3))

        return _reader

    resource = ModelSplit()
    for _ in range(2):
        result = dg.materialize(
            [reader("first"), reader("second")], resources={"model_split": resource}
        )
        assert result.success
    assert len(made) == 2
    assert taken == [(made[0], True), (made[0], False), (made[1], True), (made[1], False)]


def test_a_run_that_selects_one_model_has_one_model_step():
    from housing_assets.assets.models import model_steps

    def run(selection):
        return dg.DagsterRun(job_name="__ASSET_JOB", asset_selection=selection)

    linear, raw = dg.AssetKey("linear_price_model"), dg.AssetKey("raw_housing")
    assert model_steps(run(frozenset({linear, raw}))) == 1
    assert model_steps(run(frozenset({raw}))) == 0
    assert model_steps(run(None)) == len(FAMILIES)


def test_champion_is_the_best_and_prices_raw_rows(pipeline_run, raw_frame, cleaned_frame):
    """The champion, loaded by alias, prices houses as the source file gives them, exactly as
    the asset's fitted Pipeline priced the test split."""
    _, instance = pipeline_run
    client = MlflowClient(settings.mlflow_tracking_uri())
    champion = client.get_model_version_by_alias(settings.REGISTERED_MODEL, "champion")
    rmses = {
        n: latest_metadata(instance, n)["test_rmse"]
        for n in ("linear_price_model", "boosted_price_model")
    }
    assert float(champion.tags["test_rmse"]) == pytest.approx(min(rmses.values()))
    model = mlflow.pyfunc.load_model(f"models:/{settings.REGISTERED_MODEL}@champion")
    split = split_sales(raw_frame)
    asset_predictions = model.unwrap_python_model().estimator.predict(split.X_test)
    rmse = np.sqrt(np.mean((asset_predictions - split.y_test.to_numpy()) ** 2))
    assert rmse == pytest.approx(min(rmses.values()), rel=1e-9)
    # the same houses as rows of the source file, NA in optional columns and all
    pids = cleaned_frame.loc[split.X_test.index, "PID"]
    raw_rows = raw_frame.set_index("PID").loc[pids].reset_index()
    assert raw_rows["Pool QC"].isna().sum() > 800 and raw_rows["Lot Frontage"].isna().any()
    priced = model.predict(raw_rows)
    assert list(priced.columns) == ["estimate", "low", "high"]
    np.testing.assert_allclose(priced["estimate"], asset_predictions, rtol=1e-6)
    assert (priced["low"] < priced["estimate"]).all() and (
        priced["estimate"] < priced["high"]
    ).all()
    # the file's text as the README's Python example sends it (empty fields as "") is the same
    as_text = raw_rows.head(200).map(lambda v: "" if pd.isna(v) else str(v))
    assert (as_text["Pool QC"] == "").sum() > 150
    np.testing.assert_allclose(
        model.predict(as_text)["estimate"], asset_predictions[:200], rtol=1e-6
    )
    # coverage and width computed here equal what the asset logged
    meta = latest_metadata(instance, "boosted_price_model")
    if champion.tags["model_family"] == "boosted":
        inside = (split.y_test.to_numpy() >= priced["low"]) & (
            split.y_test.to_numpy() <= priced["high"]
        )
        assert inside.mean() == pytest.approx(meta["test_interval_coverage"], abs=1e-12)
        width = np.median(priced["high"] - priced["low"])
        assert width == pytest.approx(meta["test_interval_median_width"], rel=1e-9)


def test_ranges_meet_the_coverage_and_width_targets(pipeline_run):
    _, instance = pipeline_run
    for name in ("linear_price_model", "boosted_price_model"):
        meta = latest_metadata(instance, name)
        assert 0.88 <= meta["test_interval_coverage"] <= 0.93, name
        assert meta["test_interval_median_width"] <= 50_000, name
        assert meta["backtest_rows"] == 341  # the 2010 sales
        assert meta["backtest_r2"] > 0.88 and meta["backtest_rmse"] < 25_000, name
        assert 0.80 <= meta["backtest_interval_coverage"] <= 0.97, name


def test_a_miscalibrated_level_is_caught_by_the_coverage_check(pipeline_run, raw_frame):
    from housing_assets.checks import interval_check_result

    model = mlflow.pyfunc.load_model(f"models:/{settings.REGISTERED_MODEL}@champion")
    valuation = model.unwrap_python_model()
    split = split_sales(raw_frame)
    y = split.y_test.to_numpy()
    for level, passes in ((0.9, True), (0.5, False)):
        priced = valuation.ranges(split.X_test, level)
        coverage = float(np.mean((y >= priced["low"]) & (y <= priced["high"])))
        result = interval_check_result(dg.AssetKey("m"), coverage, nominal=0.9)
        assert result.passed is passes, (level, coverage)
        assert result.metadata["observed_coverage"].value == coverage


def test_a_champion_registered_before_the_shared_encoding_still_prices(raw_frame):
    """Champions pickled when the range model was a whole Pipeline (two fields) still load:
    unpickling a NamedTuple passes the stored fields to its constructor. Their classes are
    named by the module path they had before `lib/` was grouped."""
    import pickle

    from housing_assets.lib.ml.ranges import DIFFICULTY_TREES, MIN_SIGMA
    from housing_assets.lib.valuation import HousePriceModel, IntervalCalibration

    split = split_sales(raw_frame)
    X, y = split.X_train.head(600), split.y_train.head(600)
    estimator = build_boosted_model().set_params(regressor__model__max_iter=20).fit(X, y)
    residual = np.abs(np.log(y.to_numpy()) - np.log(estimator.predict(X)))
    old_difficulty = build_boosted_model().regressor.set_params(model__max_iter=DIFFICULTY_TREES)
    old_difficulty.fit(X, residual)
    old = IntervalCalibration.__new__(IntervalCalibration, old_difficulty, residual / 0.05)
    assert old.encoder is None and old.shares_encoding is False
    stored = pickle.dumps(HousePriceModel(estimator, old), protocol=0)  # names as text
    assert b"housing_assets.lib.ml.valuation" in stored  # what a new champion names
    old_path = stored.replace(b"housing_assets.lib.ml.valuation", b"housing_assets.lib.valuation")
    old_path = old_path.replace(b"housing_assets.lib.ml.ranges", b"housing_assets.lib.valuation")
    old_model = pickle.loads(old_path)
    priced = old_model.ranges(split.X_test.head(50))
    # its reasons come from its trees; comparables need the known sales it does not store
    contributions = old_model.contributions(split.X_test.head(50))
    np.testing.assert_allclose(
        contributions.base + contributions.values.sum(axis=1),
        np.log(priced["estimate"]),
        atol=1e-9,
    )
    from housing_assets.lib.ml.valuation import ValuationInputError

    with pytest.raises(ValuationInputError, match="registered before estimates had comparables"):
        old_model.comparables(split.X_test.head(2), np.arange(2), priced["estimate"].head(2))
    sigma = np.clip(old_difficulty.predict(split.X_test.head(50)), MIN_SIGMA, None)
    spread = np.exp(np.sort(residual / 0.05)[int(np.ceil(601 * 0.9)) - 1] * sigma)
    np.testing.assert_allclose(priced["high"] / priced["estimate"], spread, rtol=1e-9)
    np.testing.assert_allclose(
        priced["estimate"], estimator.predict(split.X_test.head(50)), rtol=1e-9
    )


def test_bad_houses_are_named_not_tracebacks(pipeline_run, ames_csv):
    from housing_assets.lib.ml.valuation import ValuationInputError

    model = mlflow.pyfunc.load_model(f"models:/{settings.REGISTERED_MODEL}@champion")
    house = pd.read_csv(ames_csv, nrows=1, dtype=str, keep_default_na=False, na_values=[""])
    assert model.predict(house)["estimate"].iloc[0] > 50_000  # text as in the file is fine
    house.loc[0, "Neighborhood"] = "Atlantis"  # an unknown level: handled by the encoders
    assert np.isfinite(model.predict(house)["estimate"].iloc[0])
    text = house.assign(**{"Gr Liv Area": "1,710 sq ft"})
    with pytest.raises(
        ValuationInputError,
        match=r"column 'Gr Liv Area' has 1 non-numeric value\(s\): '1,710 sq ft'",
    ):
        model.predict(text)
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"Lot Area"):
        model.predict(house.drop(columns=["Lot Area"]))
    with pytest.raises(ValuationInputError, match=r"no house to price \(0 rows\)"):
        model.predict(house.head(0))


def test_models_cross_validate_only_when_tuning(raw_frame):
    split = split_sales(raw_frame.sample(n=300, random_state=0))
    default = train_model("boosted", split)
    assert default.params["tuned"] is False and "tuning_rows" not in default.params
    assert default.params["max_leaf_nodes"] == BOOSTER_MAX_LEAF_NODES
    assert "cv_rmse" not in default.metrics
    tuned = train_model("boosted", split, tune_grid=True)
    assert tuned.params["tuned"] is True and tuned.params["tuning_rows"] == len(split.X_train)
    assert tuned.params["max_leaf_nodes"] in BOOSTER_GRID["regressor__model__max_leaf_nodes"]
    # the grid's best 3-fold score on the training rows, in dollars
    assert 10_000 < tuned.metrics["cv_rmse"] < 60_000
    assert tuned.metrics["cv_rmse"] != pytest.approx(tuned.metrics["test_rmse"])
    linear = train_model("linear", split)
    assert linear.params["tuned"] is False and "cv_rmse" not in linear.metrics
    linear_tuned = train_model("linear", split, tune_grid=True)
    assert 10_000 < linear_tuned.metrics["cv_rmse"] < 60_000
    # the same fit either way: tuning adds the CV estimate, the penalty is chosen by GCV
    assert linear_tuned.params["alpha"] == linear.params["alpha"]
    assert linear_tuned.metrics["test_rmse"] == linear.metrics["test_rmse"]


def test_learned_preprocessing_saw_only_training_rows(raw_frame):
    split = split_sales(raw_frame)
    trained = train_model("linear", split)
    preprocess = trained.estimator.regressor_.named_steps["preprocess"]
    imputer = preprocess.named_transformers_["numeric"].named_steps["simpleimputer"]
    columns = preprocess.transformers_[1][2]
    assert imputer.statistics_ == pytest.approx(split.X_train[columns].median().to_numpy())
    # Lot Frontage gaps are back in the features, and filled from training rows only.
    assert split.X_train["Lot Frontage"].isna().sum() > 0
    skewed = preprocess.named_transformers_["skewed"].named_steps["simpleimputer"]
    skewed_columns = preprocess.transformers_[0][2]
    assert skewed.statistics_ == pytest.approx(split.X_train[skewed_columns].median().to_numpy())
    assert set(split.X_train.columns) == set(FEATURES)


def test_served_features_equal_the_training_features_exactly(raw_frame):
    """The pyfunc describes a house exactly as training did, from the rows or from their text."""
    from housing_assets.lib.data.cleaning import sales
    from housing_assets.lib.ml.valuation import HousePriceModel

    split = split_sales(raw_frame)
    test_rows = split.X_test.index[:300]
    rows = sales(raw_frame).loc[test_rows].reset_index(drop=True)
    as_text = rows.map(lambda v: "" if pd.isna(v) else str(v))
    expected = split.X_test.loc[test_rows].reset_index(drop=True)
    assert expected["Lot Frontage"].isna().any() and (as_text["Pool QC"] == "").any()
    model = HousePriceModel(estimator=None, calibration=None)
    for houses in (rows, as_text, rows.sample(frac=1, axis=1, random_state=0)):
        pd.testing.assert_frame_equal(model.features(houses), expected, check_exact=True)


def test_the_lookup_encoding_equals_the_fitted_transformer(raw_frame):
    """The fast single-house path encodes exactly as the booster's fitted preprocessing."""
    from housing_assets.lib.ml.families import booster_preprocess
    from housing_assets.lib.ml.lookup import DISTINCT_LOOKUP_ROWS, lookup_encoding

    split = split_sales(raw_frame)
    fitted = booster_preprocess().fit(split.X_train)
    lookups = lookup_encoding(fitted)
    odd = split.X_test.head(5).copy()
    odd["Neighborhood"] = ["Atlantis", None, "NAmes", "Blueste", "Greens"]  # unknown, gap, rare
    odd["Exter Qual"] = ["Zz", None, "Gd", "TA", "Ex"]
    # a batch looks up each distinct level once; a few houses look up each value
    many_odd = pd.concat([odd] * 20, ignore_index=True)
    assert len(odd) <= DISTINCT_LOOKUP_ROWS < len(many_odd)
    for X in (split.X_train, split.X_test, split.X_test.head(1), odd, many_odd):
        np.testing.assert_array_equal(lookups.transform(X), fitted.transform(X))
    assert np.isnan(lookups.transform(odd)[:2, FEATURES.index("Exter Qual")]).all()
    np.testing.assert_array_equal(
        lookups.transform(many_odd), np.tile(lookups.transform(odd), (20, 1))
    )
    # a transformer of another layout (the linear model's splines) has no lookup form
    linear = FAMILIES["linear"].build().fit(split.X_train.head(400), split.y_train.head(400))
    assert lookup_encoding(linear.regressor_.named_steps["preprocess"]) is None


def test_too_few_training_rows(raw_frame):
    with pytest.raises(TrainingDataError, match=r"Only 98 training rows .* at least 100"):
        split_sales(raw_frame.head(140))


def test_unreachable_tracking_uri_fails_fast_with_uri():
    uri = "http://127.0.0.1:9"
    started = time.monotonic()
    with pytest.raises(
        TrackingUnavailable, match=r"MLflow tracking store http://127.0.0.1:9 is unreachable"
    ):
        ensure_experiment(uri, "housing_assets")
    assert time.monotonic() - started < 120


def test_invalid_tracking_uri_names_it():
    with pytest.raises(TrackingUnavailable, match=r"store nonsense://x is unreachable or invalid"):
        ensure_experiment("nonsense://x", "housing_assets")


def test_model_asset_failure_keeps_champion(pipeline_run):
    """A model asset whose tracking store is down fails with the URI; the champion stays."""
    from housing_assets.assets.models import model_assets
    from housing_assets.resources import FitWorkers, MlflowTracking, ModelSplit, warehouse

    client = MlflowClient(settings.mlflow_tracking_uri())
    before = client.get_model_version_by_alias(settings.REGISTERED_MODEL, "champion").version
    cleaned = [dg.SourceAsset("raw_housing"), dg.SourceAsset("cleaned_housing")]

    result = dg.materialize(
        [model_assets[0], *cleaned],
        resources={
            "fit_workers": FitWorkers(),
            "model_split": ModelSplit(),
            "warehouse": warehouse(),
            "mlflow": MlflowTracking(
                experiment_name="housing_assets", tracking_uri="http://127.0.0.1:9"
            ),
        },
        raise_on_error=False,
    )
    assert not result.success
    messages = failure_text(result)
    assert "http://127.0.0.1:9" in messages
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri())
    after = client.get_model_version_by_alias(settings.REGISTERED_MODEL, "champion").version
    assert after == before


def test_asset_runs_without_the_hook_end_their_mlflow_run(tmp_path, raw_frame):
    """UI or CLI asset runs use Dagster's implicit job, which has no hook: the resource ends it."""
    from housing_assets.assets.models import model_assets
    from housing_assets.resources import FitWorkers, MlflowTracking, ModelSplit, Warehouse

    uri = empty_store(tmp_path)
    tables = Warehouse(database=str(tmp_path / "warehouse.duckdb"))
    tables.publish({"raw_housing": raw_frame})
    result = dg.materialize(
        [model_assets[0], dg.SourceAsset("raw_housing"), dg.SourceAsset("cleaned_housing")],
        resources={
            "fit_workers": FitWorkers(),
            "model_split": ModelSplit(),
            "warehouse": tables,
            "mlflow": MlflowTracking(experiment_name="housing_assets", tracking_uri=uri),
        },
    )
    assert result.success
    assert mlflow.active_run() is None
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("housing_assets")
    runs = client.search_runs(
        [experiment.experiment_id], f"tags.dagster_run_id = '{result.run_id}'"
    )
    assert {run.info.run_name: run.info.status for run in runs} == {
        "__ephemeral_asset_job__": "FINISHED",
        "linear_price_model": "FINISHED",
    }


def test_the_early_requirements_check_leaves_log_model_nothing_to_list(monkeypatch):
    """The model step starts MLflow's requirements check in a thread before its fits: that
    thread lists the installed distributions, and the check `log_model` then runs on the same
    requirements lists nothing again. MLflow keeps the listing in a module global, reset here
    so the test does not depend on what ran before it in this process; the test fails if that
    global or the check moves."""
    import importlib_metadata
    from mlflow.utils import requirements_utils

    from housing_assets.lib.registry.store import check_requirements_early, pip_requirements

    monkeypatch.setattr(requirements_utils, "_MODULES_TO_PACKAGES", None)
    listed = []
    original = importlib_metadata.packages_distributions
    monkeypatch.setattr(
        importlib_metadata, "packages_distributions", lambda: listed.append(1) or original()
    )
    check_requirements_early().join()
    assert listed == [1]
    requirements_utils.warn_dependency_requirement_mismatches(pip_requirements())
    assert listed == [1]


class EnvironmentWatcher(DummyRegressor):
    """A model that notes, each time it predicts, whether `os.environ`'s getter is Python's."""

    seen: list[bool] = []

    def predict(self, X, *args, **kwargs):
        EnvironmentWatcher.seen.append(os._Environ.__getitem__ is PYTHONS_GETITEM)
        return super().predict(X, *args, **kwargs)


PYTHONS_GETITEM = os._Environ.__getitem__


@pytest.mark.parametrize(("asked", "patched"), [(None, False), ("true", True)])
def test_logging_a_model_leaves_the_environment_alone_unless_asked(
    tmp_path, monkeypatch, asked, patched
):
    """MLflow checks a logged model's input example by predicting with it, and to record the
    environment variables it reads it replaces `os.environ`'s getters for the whole process:
    a thread reading the environment then made `log_model` fail ("Set changed size during
    iteration"). The project turns the recording off unless the environment asks for it."""
    from housing_assets.lib.registry.store import RECORD_ENV_VARS, log_sklearn_model

    if asked is None:
        monkeypatch.delenv(RECORD_ENV_VARS, raising=False)
    else:
        monkeypatch.setenv(RECORD_ENV_VARS, asked)
    mlflow.set_tracking_uri(empty_store(tmp_path))
    X = pd.DataFrame({"Gr Liv Area": [1000.0, 2000.0, 1500.0]})
    model = EnvironmentWatcher().fit(X, [1.0, 2.0, 3.0])
    EnvironmentWatcher.seen.clear()
    with mlflow.start_run(experiment_id=mlflow.create_experiment("watched")):
        log_sklearn_model(model, X, "watched")
    assert EnvironmentWatcher.seen, "MLflow predicted with the input example"
    assert any(not python for python in EnvironmentWatcher.seen) is patched
    assert os.environ[RECORD_ENV_VARS] == (asked or "false")
