"""The champion never regresses, and MLflow's history stays bounded (real MLflow SQLite store).

Versions are real fitted models on the real split: a strong booster and a weak linear model
fitted on 150 rows, so "better" is measured, not declared.
"""

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE
from mlflow.tracking import MlflowClient
from sklearn.dummy import DummyRegressor

from housing_assets.lib.ml.families import family
from housing_assets.lib.ml.metrics import regression_metrics
from housing_assets.lib.ml.split import Split, split_sales
from housing_assets.lib.registry import champion as champion_rule
from housing_assets.lib.registry.champion import (
    Challenger,
    ChampionUnavailable,
    current_champion,
    register_decision,
)
from housing_assets.lib.registry.retention import collect_garbage, prune_mlflow
from housing_assets.lib.registry.store import ensure_experiment, log_sklearn_model
from housing_assets_tests.harness.mlflow_store import STORE_NAME, empty_store

MODEL = "ames-sale-price"
FAMILIES = ("linear", "boosted")


@pytest.fixture(scope="module")
def split(raw_frame) -> Split:
    return split_sales(raw_frame)


class Fitted(NamedTuple):
    """What the champion rule sees of a model: the estimator it logs and its test figures.
    (The ranges and the backtest, which `train_model` adds, are test_models'.)"""

    estimator: object
    metrics: dict[str, float]


def fit_plainly(name: str, split: Split) -> Fitted:
    estimator = family(name).build().fit(split.X_train, split.y_train)
    scores = regression_metrics(split.y_test, estimator.predict(split.X_test))
    return Fitted(estimator, {f"test_{k}": v for k, v in scores.items()})


@pytest.fixture(scope="module")
def strong(split):
    return fit_plainly("boosted", split)


@pytest.fixture(scope="module")
def weak(split):
    few = Split(split.X_train.head(150), split.X_test, split.y_train.head(150), split.y_test)
    return fit_plainly("linear", few)


class Store:
    """An MLflow SQLite store (a fresh one where there is none) with its own experiment and
    champion lock."""

    def __init__(self, home: Path):
        existing = home / STORE_NAME
        self.uri = f"sqlite:///{existing}" if existing.exists() else empty_store(home)
        self.lock = home / "champion.lock"
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        self.experiment_id = ensure_experiment(self.uri, "champion-tests")
        mlflow.set_tracking_uri(self.uri)

    def register(self, trained, X_example) -> str:
        with mlflow.start_run(experiment_id=self.experiment_id):
            mlflow.log_metrics(trained.metrics)
            info = log_sklearn_model(trained.estimator, X_example, MODEL)
        return str(info.registered_model_version)

    def champion(self) -> str | None:
        found = current_champion(self.client, MODEL, "champion")
        return str(found.version) if found else None

    def decide(self, challenger: Challenger, split: Split, name: str | None = None):
        return register_decision(
            self.client,
            MODEL,
            "champion",
            challenger,
            split.X_test,
            split.y_test,
            self.lock,
            FAMILIES,
            split=name,
        )


def challenger_of(version: str, trained, family: str, gate=()) -> Challenger:
    return Challenger(version, family, trained.metrics["test_rmse"], tuple(gate))


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path)


def test_the_first_passing_version_becomes_champion_then_only_a_better_one(
    store, split, strong, weak
):
    assert store.champion() is None  # MLflow's "not found" is the only "no champion"
    v_weak = store.register(weak, split.X_train)
    decision, _ = store.decide(challenger_of(v_weak, weak, "linear"), split)
    assert decision.promoted and decision.reason == "no champion yet"
    v_strong = store.register(strong, split.X_train)
    decision, comparison = store.decide(challenger_of(v_strong, strong, "boosted"), split)
    assert decision.promoted and store.champion() == v_strong
    # both figures are in the decision: the champion re-scored on these rows
    assert decision.previous_version == v_weak
    assert decision.previous_rmse == pytest.approx(weak.metrics["test_rmse"], rel=1e-9)
    assert decision.challenger_rmse == strong.metrics["test_rmse"]
    assert comparison["role"].tolist() == ["latest linear", "latest boosted", "champion"]
    assert comparison["version"].tolist() == [int(v_weak), int(v_strong), int(v_strong)]
    tags = store.client.get_model_version(MODEL, v_strong).tags
    assert tags["champion_decision"].startswith("test RMSE") and tags["model_family"] == "boosted"


def test_a_transient_error_reading_the_alias_fails_and_moves_nothing(
    store, split, strong, weak, monkeypatch
):
    v_strong = store.register(strong, split.X_train)
    store.decide(challenger_of(v_strong, strong, "boosted"), split)
    v_bad = store.register(weak, split.X_train)
    calls = []

    def unavailable(name, alias):
        calls.append(alias)
        raise MlflowException("503 Service Unavailable", TEMPORARILY_UNAVAILABLE)

    monkeypatch.setattr(champion_rule, "TRACKING_RETRY_SECONDS", 0.01)
    monkeypatch.setattr(store.client, "get_model_version_by_alias", unavailable)
    # even a challenger whose own figure is tiny is not promoted on a failed read
    paper = Challenger(v_bad, "linear", 1.0, ())
    with pytest.raises(
        ChampionUnavailable,
        match=r"Could not read ames-sale-price@champion .* after 3 attempts \(MlflowException: 503",
    ):
        store.decide(paper, split)
    assert len(calls) == 3
    monkeypatch.undo()
    assert store.champion() == v_strong


def test_a_champion_without_tags_is_rescored_not_replaced(store, split, strong, weak):
    v_strong = store.register(strong, split.X_train)
    store.client.set_registered_model_alias(MODEL, "champion", v_strong)  # set by hand, no tags
    assert "test_rmse" not in store.client.get_model_version(MODEL, v_strong).tags
    v_weak = store.register(weak, split.X_train)
    decision, _ = store.decide(challenger_of(v_weak, weak, "linear"), split)
    assert not decision.promoted and "does not beat champion" in decision.reason
    assert store.champion() == v_strong


def test_a_better_on_paper_challenger_from_other_data_is_not_promoted(store, split, strong, weak):
    v_strong = store.register(strong, split.X_train)
    store.decide(challenger_of(v_strong, strong, "boosted"), split)
    # the champion's stored figure came from a harder test: on paper anything beats it
    store.client.set_model_version_tag(MODEL, v_strong, "test_rmse", "1e9")
    v_weak = store.register(weak, split.X_train)
    decision, _ = store.decide(challenger_of(v_weak, weak, "linear"), split)
    assert not decision.promoted
    assert decision.previous_rmse == pytest.approx(strong.metrics["test_rmse"], rel=1e-9)
    assert store.champion() == v_strong


def test_a_failed_blocking_check_is_never_promoted(store, split, strong, weak):
    v_weak = store.register(weak, split.X_train)
    store.decide(challenger_of(v_weak, weak, "linear"), split)
    v_strong = store.register(strong, split.X_train)
    gate = ["predictions_finite_and_positive"]
    decision, _ = store.decide(challenger_of(v_strong, strong, "boosted", gate), split)
    assert not decision.promoted
    assert decision.reason == "failed blocking check(s): predictions_finite_and_positive"
    assert store.champion() == v_weak


def test_a_failure_after_registration_leaves_the_alias(store, split, strong, weak, monkeypatch):
    v_weak = store.register(weak, split.X_train)
    store.decide(challenger_of(v_weak, weak, "linear"), split)
    v_strong = store.register(strong, split.X_train)

    def broken(*args, **kwargs):
        raise RuntimeError("the registry went away")

    monkeypatch.setattr(champion_rule, "comparison_table", broken)
    with pytest.raises(RuntimeError, match="the registry went away"):
        store.decide(challenger_of(v_strong, strong, "boosted"), split)
    assert store.champion() == v_weak


def test_concurrent_promotions_end_with_the_better_model(store, split, strong, weak, monkeypatch):
    """The worse challenger decides first and slowly; the better one must still win."""
    v_old = store.register(weak, split.X_train)
    store.decide(challenger_of(v_old, weak, "linear"), split)
    slightly_better = weak._replace(
        metrics={**weak.metrics, "test_rmse": 0.99 * weak.metrics["test_rmse"]}
    )
    v_slow = store.register(weak, split.X_train)
    v_best = store.register(strong, split.X_train)
    slow_inside = threading.Event()
    real_decide = champion_rule.decide

    def decide(challenger, *args):
        outcome = real_decide(challenger, *args)
        if challenger.version == v_slow:
            slow_inside.set()
            time.sleep(1.5)  # holds its decision while the better challenger arrives
        return outcome

    monkeypatch.setattr(champion_rule, "decide", decide)
    clients = [
        Store(Path(store.lock).parent),  # each thread with its own client, like two processes
        Store(Path(store.lock).parent),
    ]
    errors = []

    def promote(s, challenger):
        try:
            s.decide(challenger, split)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    slow = threading.Thread(
        target=promote, args=(clients[0], challenger_of(v_slow, slightly_better, "linear"))
    )
    slow.start()
    assert slow_inside.wait(30)
    best = threading.Thread(
        target=promote, args=(clients[1], challenger_of(v_best, strong, "boosted"))
    )
    best.start()
    slow.join(60)
    best.join(60)
    assert errors == []
    assert store.champion() == v_best


# ---- retention ------------------------------------------------------------------------------


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def test_retention_keeps_the_champion_and_the_newest_versions(tmp_path, split, strong):
    store = Store(tmp_path)
    champion = store.register(strong, split.X_train)
    store.decide(challenger_of(champion, strong, "boosted"), split)
    dummy = DummyRegressor().fit(split.X_train[["Gr Liv Area"]], split.y_train)
    for i in range(8):  # a history of small versions of both families, each in its own run
        family = FAMILIES[i % 2]
        with mlflow.start_run(experiment_id=store.experiment_id, run_name=f"parent-{i}"):
            with mlflow.start_run(experiment_id=store.experiment_id, nested=True):
                info = log_sklearn_model(dummy, split.X_train[["Gr Liv Area"]], MODEL)
        store.client.set_model_version_tag(
            MODEL, info.registered_model_version, "model_family", family
        )
    database = tmp_path / "mlflow.db"
    artifacts = tmp_path / "mlartifacts"
    runs_before = len(store.client.search_runs([store.experiment_id], max_results=1000))
    size_before, artifacts_before = database.stat().st_size, tree_bytes(artifacts)
    assert runs_before == 1 + 16 and len(store.client.search_model_versions(f"name='{MODEL}'")) == 9

    report = prune_mlflow(
        store.client, MODEL, "champion", [store.experiment_id],
        older_than=datetime.now(UTC) + timedelta(seconds=1), keep_versions=2,
    )  # fmt: skip
    assert collect_garbage(store.uri)

    versions = store.client.search_model_versions(f"name='{MODEL}'")
    kept = sorted(int(v.version) for v in versions)
    assert kept == [1, 6, 7, 8, 9]  # the champion and the newest 2 of each family
    assert report.versions_deleted == 4 and report.logged_models_deleted == 4
    # the kept versions' runs and their parents stay; every other run is gone for good
    runs_after = store.client.search_runs([store.experiment_id], max_results=1000)
    assert len(runs_after) == 1 + 4 * 2
    assert report.runs_deleted == runs_before - len(runs_after)
    assert database.stat().st_size < size_before
    assert tree_bytes(artifacts) < artifacts_before
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    predictions = np.asarray(model.predict(split.X_test))
    assert np.sqrt(np.mean((predictions - split.y_test.to_numpy()) ** 2)) == pytest.approx(
        strong.metrics["test_rmse"], rel=1e-9
    )


def test_comparison_reads_a_bounded_number_of_versions(tmp_path, split, strong, monkeypatch):
    store = Store(tmp_path)
    version = store.register(strong, split.X_train)
    store.decide(challenger_of(version, strong, "boosted"), split)
    asked = []
    real = store.client.search_model_versions

    def search(*args, **kwargs):
        asked.append(kwargs.get("max_results"))
        return real(*args, **kwargs)

    monkeypatch.setattr(store.client, "search_model_versions", search)
    champion_rule.comparison_table(store.client, MODEL, FAMILIES, "champion", version)
    assert asked and all(n is not None and n <= 1 for n in asked)


def test_one_runs_model_steps_score_the_champion_once(store, split, strong, weak, monkeypatch):
    """The first step to re-score the champion on a run's test split records the figure on
    the version; the run's next step reads it, and a promoted challenger's own test RMSE on
    the split is recorded too. Another run's split is scored afresh."""
    scored = []
    rescore = champion_rule.rescore
    monkeypatch.setattr(
        champion_rule, "rescore", lambda model, X, y: scored.append(len(X)) or rescore(model, X, y)
    )
    v_weak = store.register(weak, split.X_train)
    store.decide(challenger_of(v_weak, weak, "linear"), split, "run-1/abc")
    v_strong = store.register(strong, split.X_train)
    decision, _ = store.decide(challenger_of(v_strong, strong, "boosted"), split, "run-1/abc")
    assert scored == [] and decision.promoted
    assert decision.previous_rmse == weak.metrics["test_rmse"]
    v_again = store.register(weak, split.X_train)
    decision, _ = store.decide(challenger_of(v_again, weak, "linear"), split, "run-1/abc")
    assert scored == [] and not decision.promoted
    recorded = strong.metrics["test_rmse"]
    assert decision.previous_rmse == recorded
    # the recorded figure is the re-score's, to the last bit
    loaded = champion_rule.load_registered(store.client, MODEL, v_strong, scoring=True)
    assert rescore(loaded, split.X_test, split.y_test) == (recorded, None)
    v_next = store.register(weak, split.X_train)
    decision, _ = store.decide(challenger_of(v_next, weak, "linear"), split, "run-2/abc")
    assert scored == [len(split.X_test)] and decision.previous_rmse == recorded
    tag = store.client.get_model_version(MODEL, v_strong).tags[champion_rule.SPLIT_RMSE_TAG]
    key = champion_rule.split_key("run-2/abc", split.X_test, split.y_test)
    assert key.startswith("run-2/abc/") and tag == f"{key} {recorded!r}"
    store.decide(challenger_of(store.register(weak, split.X_train), weak, "linear"), split)
    assert len(scored) == 2  # a decision without a split name always re-scores
    # the same name on other rows (a table published between two reads) is scored afresh
    other = split._replace(
        y_test=split.y_test.where(split.y_test.index != split.y_test.index[0], 1)
    )
    store.decide(
        challenger_of(store.register(weak, split.X_train), weak, "linear"), other, "run-2/abc"
    )
    assert len(scored) == 3


def test_a_split_figure_that_cannot_be_recorded_does_not_stop_a_promotion(
    store, split, strong, weak, monkeypatch
):
    set_tag = store.client.set_model_version_tag

    def failing(name, version, key, value):
        if key == champion_rule.SPLIT_RMSE_TAG:
            raise MlflowException("store unavailable", TEMPORARILY_UNAVAILABLE)
        return set_tag(name, version, key, value)

    monkeypatch.setattr(store.client, "set_model_version_tag", failing)
    v_weak = store.register(weak, split.X_train)
    store.decide(challenger_of(v_weak, weak, "linear"), split, "run-1/abc")
    v_strong = store.register(strong, split.X_train)
    decision, _ = store.decide(challenger_of(v_strong, strong, "boosted"), split, "run-1/abc")
    assert decision.promoted and store.champion() == v_strong
    assert decision.previous_rmse == pytest.approx(weak.metrics["test_rmse"], rel=1e-9)
    tags = store.client.get_model_version(MODEL, v_strong).tags
    assert champion_rule.SPLIT_RMSE_TAG not in tags and "champion_decision" in tags
