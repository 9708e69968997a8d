"""The champion rule: which registered version the `champion` alias names, and when it moves.

The registered model `ames-sale-price` holds every version. The alias `champion` moves only
to a version that passed every blocking model check and whose test RMSE is strictly lower than
the champion's re-scored on the same test rows (an RMSE from another run's data measures
another test). Earlier versions stay, within the retention policy, so a rollback is one
`set_registered_model_alias` call.
"""

import fcntl
import hashlib
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from housing_assets.lib.ml.metrics import regression_metrics
from housing_assets.lib.registry.store import (
    TRACKING_ATTEMPTS,
    TRACKING_RETRY_SECONDS,
    with_retries,
)

RMSE_TAG = "test_rmse"
DATA_VERSION_TAG = "data_version"
DECISION_TAG = "champion_decision"
# A version's test RMSE on one run's test split, "<split key> <rmse>": recorded when a model step
# re-scores the champion or promotes a challenger, so the run's other model steps, deciding on
# the same rows, read it instead of scoring the champion again.
SPLIT_RMSE_TAG = "test_rmse_on_split"
LOCK_TIMEOUT_SECONDS = 600.0


class RegistryTarget(NamedTuple):
    """Where versions are registered and which alias names the champion."""

    model: str
    alias: str
    lock_path: Path  # the champion lock (`champion_lock`)


class ChampionUnavailable(RuntimeError):
    """The champion could not be read or loaded; the step fails rather than guess."""


class Challenger(NamedTuple):
    """A freshly registered version and what the champion decision needs to know of it."""

    version: str
    family: str
    test_rmse: float
    failed_gate_checks: tuple[str, ...]
    data_version: str | None = None


class ChampionDecision(NamedTuple):
    promoted: bool
    reason: str
    previous_version: str | None
    previous_rmse: float | None  # the champion re-scored on this run's test split
    challenger_rmse: float


def tag_version(client: MlflowClient, model_name: str, challenger: Challenger) -> None:
    """What the comparison table and a reader of the registry read back from a version."""
    client.set_model_version_tag(model_name, challenger.version, "model_family", challenger.family)
    client.set_model_version_tag(
        model_name, challenger.version, RMSE_TAG, repr(float(challenger.test_rmse))
    )
    if challenger.data_version:
        client.set_model_version_tag(
            model_name, challenger.version, DATA_VERSION_TAG, challenger.data_version
        )


def alias_not_found(error: MlflowException) -> bool:
    """MLflow's own answer that there is no such alias (or no such registered model yet)."""
    if error.error_code == "RESOURCE_DOES_NOT_EXIST":
        return True
    message = str(error.message)
    return (
        error.error_code == "INVALID_PARAMETER_VALUE"
        and "alias" in message
        and ("not found" in message)
    )


def current_champion(
    client: MlflowClient,
    model_name: str,
    alias: str,
    attempts: int = TRACKING_ATTEMPTS,
    retry_seconds: float = TRACKING_RETRY_SECONDS,
):
    """The version the alias points at, or None only when MLflow says there is no alias.

    Any other error (a timeout, a 5xx, a locked database) is retried a bounded number of times
    and then raised as ChampionUnavailable: counting it as "no champion" would promote any
    model that passes the gate.
    """

    def read():
        try:
            return client.get_model_version_by_alias(model_name, alias)
        except MlflowException as error:
            if alias_not_found(error):
                return None
            raise

    champion, error = with_retries(read, attempts, retry_seconds)
    if error is None:
        return champion
    raise ChampionUnavailable(
        f"Could not read {model_name}@{alias} from {client.tracking_uri} after {attempts} "
        f"attempts ({type(error).__name__}: {error}); the champion was left as it was"
    ) from error


RESET_CHAMPION_COMMAND = "housing-dev --reset-champion"


def load_registered(client: MlflowClient, model_name: str, version: str, scoring: bool = False):
    """A registered version from the client's store: its pyfunc, or with `scoring` what
    `rescore` prices model features with (a valuation pyfunc's model, whose `estimate` is its
    estimator's prediction; or a plain sklearn-flavour model)."""
    source = None
    try:
        source = client.get_model_version_download_uri(model_name, version)
        # The versions are logged by this project with its pinned requirements; MLflow's
        # comparison of them with every installed distribution costs over a second a process.
        model = mlflow.pyfunc.load_model(source, suppress_warnings=True)
        if not scoring:
            return model
        if model.metadata.flavors.get("python_function", {}).get("loader_module") == (
            "mlflow.sklearn"
        ):
            return mlflow.sklearn.load_model(source)
        return model.unwrap_python_model()
    except Exception as error:  # noqa: BLE001 - any failure to load is named and fails the step
        where = f"its files at {source}" if source else f"its files (store {client.tracking_uri})"
        raise ChampionUnavailable(
            f"Could not load {model_name} v{version}: {where} cannot be read "
            f"({type(error).__name__}: {error}). The champion was left as it was. Restore "
            f"those files, point the alias at a version that loads "
            f"(MlflowClient.set_registered_model_alias), or clear it with "
            f"`{RESET_CHAMPION_COMMAND}` so the next passing model becomes champion."
        ) from error


def reset_champion(client: MlflowClient, model_name: str, alias: str) -> str | None:
    """Clear the alias (the versions stay); returns the version it named, or None."""
    champion = current_champion(client, model_name, alias)
    if champion is None:
        return None
    client.delete_registered_model_alias(model_name, alias)
    return str(champion.version)


def load_champion(client: MlflowClient, model_name: str, alias: str, scoring: bool = False):
    """The champion's version and its valuation pyfunc (with `scoring`, what `rescore` reads),
    or (None, None) without a champion; one that cannot be loaded raises ChampionUnavailable,
    which names the fix."""
    champion = current_champion(client, model_name, alias)
    if champion is None:
        return None, None
    version = str(champion.version)
    return version, load_registered(client, model_name, version, scoring=scoring)


def rescore(model, X_test: pd.DataFrame, y_test: pd.Series) -> tuple[float, str | None]:
    """RMSE of a model on these rows, or (inf, why) when it cannot score them at all.

    A valuation is scored by its `estimate`: its estimator's prediction through the lookups
    the scoring server uses, which is how `train_model` scores a challenger's test split, so
    a challenger's recorded test RMSE (`SPLIT_RMSE_TAG`) and a later re-score agree to the bit.
    Any other model by `predict`."""
    predict = getattr(model, "estimate", None) or model.predict
    try:
        predictions = np.asarray(predict(X_test), dtype=float)
    except (ValueError, KeyError, TypeError) as error:
        return math.inf, f"{type(error).__name__}: {error}"
    if not np.all(np.isfinite(predictions)):
        return math.inf, "non-finite predictions"
    return regression_metrics(y_test, predictions)["rmse"], None


@contextmanager
def champion_lock(path: Path, timeout_seconds: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """One promotion at a time among the processes that share the state directory.

    Runs from the queue never overlap (the schedule skips while one is in flight), but a run
    launched from the CLI does not go through the queue; without this, two promotions could
    both read the old champion and the slower one would win, however good it is.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - started > timeout_seconds:
                    raise ChampionUnavailable(
                        f"Another promotion has held {path} for over {timeout_seconds:g} s"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def decide(
    challenger: Challenger, champion_version: str | None, champion_rmse: float | None, why=None
) -> ChampionDecision:
    """Promote only a challenger that passed every blocking check and beats the champion's
    RMSE on the same rows, strictly."""
    rmse = challenger.test_rmse

    def outcome(promoted: bool, reason: str) -> ChampionDecision:
        return ChampionDecision(promoted, reason, champion_version, champion_rmse, rmse)

    if challenger.failed_gate_checks:
        return outcome(
            False, f"failed blocking check(s): {', '.join(challenger.failed_gate_checks)}"
        )
    if champion_version is None:
        return outcome(True, "no champion yet")
    if why is not None:
        return outcome(
            True, f"champion v{champion_version} cannot score this run's test split ({why})"
        )
    if rmse < champion_rmse:
        return outcome(
            True,
            f"test RMSE {rmse:,.0f} beats champion v{champion_version} re-scored on the same "
            f"test split ({champion_rmse:,.0f})",
        )
    return outcome(
        False,
        f"test RMSE {rmse:,.0f} does not beat champion v{champion_version} re-scored on the "
        f"same test split ({champion_rmse:,.0f})",
    )


def split_key(split: str | None, X_test: pd.DataFrame, y_test: pd.Series) -> str | None:
    """`split` with a digest of the rows themselves: a step that loaded another table than its
    name says (a concurrent run publishing between two reads) gets another key."""
    if not split:
        return None
    digest = hashlib.sha256()
    for part in (X_test, y_test):
        digest.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
    return f"{split}/{digest.hexdigest()[:16]}"


def rmse_on_split(version, key: str | None) -> float | None:
    """The RMSE recorded on a version (`SPLIT_RMSE_TAG`) for these test rows, if any."""
    recorded = (version.tags or {}).get(SPLIT_RMSE_TAG, "") if key else ""
    scored_on, _, rmse = recorded.rpartition(" ")
    return float(rmse) if recorded and scored_on == key else None


def register_decision(
    client: MlflowClient,
    model_name: str,
    alias: str,
    challenger: Challenger,
    X_test: pd.DataFrame,
    y_test: pd.Series,
    lock_path: Path,
    families: tuple[str, ...],
    checked: tuple[str | None, object] | None = None,
    split: str | None = None,
) -> tuple[ChampionDecision, pd.DataFrame]:
    """Tag a registered version, decide on the champion and move the alias last.

    Under the champion lock: read the champion (a transient error fails, see
    `current_champion`), re-score it on this run's test split, decide, record the decision on
    the version, build the comparison table, and only then move the alias. A failure anywhere
    before that last call leaves the alias where it was. `checked` is what
    `load_champion(..., scoring=True)` read before the version was registered: if the alias
    still names that version, its loaded model is re-scored rather than loaded again.

    `split` names this test split (the run and the data version; the rows' digest is added,
    `split_key`): the champion's RMSE on it, and a promoted challenger's own test RMSE on it,
    are recorded on the version, and a champion that already holds an RMSE for the same rows
    is not scored again. That is the number a re-score gives: the same rows through the same
    `estimate`, which is how the challenger's own test RMSE was computed.
    """
    tag_version(client, model_name, challenger)
    key = split_key(split, X_test, y_test)
    with champion_lock(lock_path):
        champion = current_champion(client, model_name, alias)
        # The store may answer the version as an int (SQLite) or a string (REST).
        champion_version = str(champion.version) if champion else None
        champion_rmse, why = None, None
        if champion_version is not None:
            champion_rmse = rmse_on_split(champion, key)
            if champion_rmse is None:
                if checked is not None and checked[0] == champion_version:
                    model = checked[1]
                else:
                    model = load_registered(client, model_name, champion_version, scoring=True)
                champion_rmse, why = rescore(model, X_test, y_test)
                if why is None:
                    record_split_rmse(client, model_name, champion_version, key, champion_rmse)
        decision = decide(challenger, champion_version, champion_rmse, why)
        client.set_model_version_tag(model_name, challenger.version, DECISION_TAG, decision.reason)
        after = challenger.version if decision.promoted else decision.previous_version
        comparison = comparison_table(client, model_name, families, alias, after)
        if decision.promoted:
            record_split_rmse(client, model_name, challenger.version, key, challenger.test_rmse)
            client.set_registered_model_alias(model_name, alias, challenger.version)
    return decision, comparison


def record_split_rmse(
    client: MlflowClient, model_name: str, version: str, key: str | None, rmse: float
) -> None:
    """Best effort: a figure that cannot be recorded only means the next step scores again,
    and must not fail a decision (or a promotion) already made."""
    if not key:
        return
    try:
        client.set_model_version_tag(model_name, version, SPLIT_RMSE_TAG, f"{key} {float(rmse)!r}")
    except MlflowException:
        pass


COMPARED_METRICS = ("test_rmse", "test_mae", "test_r2", "test_mape")


def newest_version(client: MlflowClient, model_name: str, family: str):
    versions = client.search_model_versions(
        f"name = '{model_name}' and tags.model_family = '{family}'",
        max_results=1,
        order_by=["version_number DESC"],
    )
    return versions[0] if versions else None


def comparison_table(
    client: MlflowClient,
    model_name: str,
    families: tuple[str, ...],
    alias: str,
    champion_version: str | None,
) -> pd.DataFrame:
    """The newest version of each model family side by side with the champion.

    Reads one version per family and the champion, however long the registry's history.
    """
    rows = [(f"latest {family}", newest_version(client, model_name, family)) for family in families]
    if champion_version is not None:
        rows.append((alias, client.get_model_version(model_name, champion_version)))
    table = []
    for role, version in rows:
        if version is None:
            continue
        metrics = client.get_run(version.run_id).data.metrics
        table.append(
            {
                "role": role,
                "version": int(version.version),
                "family": version.tags.get("model_family", "unknown"),
                **{name: round(metrics[name], 4) for name in COMPARED_METRICS if name in metrics},
            }
        )
    return pd.DataFrame(table)
