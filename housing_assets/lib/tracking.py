"""MLflow helpers: the experiment, logging a fitted Pipeline, and the champion alias.

The registered model `ames-sale-price` holds every version. The alias `champion` moves only
to a version whose test RMSE beats the current champion's and that passed the quality gate;
earlier versions stay, so a rollback is one `set_registered_model_alias` call.
"""

import os
import time
from pathlib import Path
from typing import NamedTuple

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
import sklearn
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

TRACKING_ATTEMPTS = 3
TRACKING_RETRY_SECONDS = 1.0
RMSE_TAG = "test_rmse"
INPUT_EXAMPLE_ROWS = 3


class TrackingUnavailable(RuntimeError):
    """The MLflow store did not answer; the message names its URI."""


def ensure_experiment(tracking_uri: str, name: str, artifact_dir: Path | None = None) -> str:
    """Create the experiment if needed and return its id, retrying a bounded number of times.

    MLflow's own HTTP client retries for minutes by default; here the total wait is bounded, so
    a wrong URI fails the step quickly with the URI in the message.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    if artifact_dir is None and tracking_uri.startswith("sqlite:///"):
        artifact_dir = Path(tracking_uri.removeprefix("sqlite:///")).parent / "mlartifacts"
    error: Exception | None = None
    for attempt in range(TRACKING_ATTEMPTS):
        try:
            client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
            experiment = client.get_experiment_by_name(name)
            if experiment is not None:
                return experiment.experiment_id
            location = artifact_dir.resolve().as_uri() if artifact_dir else None
            return client.create_experiment(name, artifact_location=location)
        except Exception as caught:  # noqa: BLE001 - any failure here means the store is unusable
            error = caught
            if attempt + 1 < TRACKING_ATTEMPTS:
                time.sleep(TRACKING_RETRY_SECONDS * (attempt + 1))
    raise TrackingUnavailable(
        f"MLflow tracking store {tracking_uri} is unreachable or invalid after "
        f"{TRACKING_ATTEMPTS} attempts: {type(error).__name__}: {error}"
    ) from error


def pip_requirements() -> list[str]:
    """Given explicitly: inferring them costs about 6 s per model."""
    return [
        f"mlflow=={mlflow.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
        f"cloudpickle=={cloudpickle.__version__}",
    ]


def log_sklearn_model(estimator, X_example: pd.DataFrame, registered_model: str):
    """Log the fitted Pipeline with signature and input example, and register a version.

    Stored with cloudpickle, not MLflow 3's default skops. skops cost about 6 s per run here:
    importing it imports every sklearn module to list the trusted types, the trusted types of
    a model are found by serialising it once more, and MLflow saves and then re-loads it to
    check. And it protects nothing in this setup: MLflow reads the trusted-types list back from
    the model's own MLmodel file, so the store must be trusted with either format. Loading is
    governed by MLFLOW_ALLOW_PICKLE_DESERIALIZATION (set it to false where the store is not
    trusted). MLflow logs a warning about the format on each save.
    """
    example = X_example.head(INPUT_EXAMPLE_ROWS)
    signature = infer_signature(example, estimator.predict(example))
    return mlflow.sklearn.log_model(
        estimator,
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        name="model",
        signature=signature,
        input_example=example,
        pip_requirements=pip_requirements(),
        registered_model_name=registered_model,
    )


def tag_version(client: MlflowClient, model_name: str, version: str, kind: str, test_rmse: float):
    """What the champion decision and the comparison table read back from a version."""
    client.set_model_version_tag(model_name, version, "model_kind", kind)
    client.set_model_version_tag(model_name, version, RMSE_TAG, repr(float(test_rmse)))


class ChampionDecision(NamedTuple):
    promoted: bool
    reason: str
    previous_version: str | None
    previous_rmse: float | None


def current_champion(client: MlflowClient, model_name: str, alias: str):
    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None


def promote_if_better(
    client: MlflowClient,
    model_name: str,
    version: str,
    test_rmse: float,
    passed_quality_gate: bool,
    alias: str,
) -> ChampionDecision:
    """Move `alias` to `version` only if it passed the gate and beats the champion's RMSE.

    The champion's RMSE is read from its `test_rmse` version tag (see `tag_version`).
    """
    champion = current_champion(client, model_name, alias)
    previous_version = champion.version if champion else None
    previous_rmse = (
        float(champion.tags[RMSE_TAG]) if champion and RMSE_TAG in champion.tags else None
    )
    if not passed_quality_gate:
        return ChampionDecision(False, "failed the quality gate", previous_version, previous_rmse)
    if previous_rmse is not None and test_rmse >= previous_rmse:
        return ChampionDecision(
            False,
            f"test RMSE {test_rmse:,.0f} does not beat champion v{previous_version} "
            f"({previous_rmse:,.0f})",
            previous_version,
            previous_rmse,
        )
    client.set_registered_model_alias(model_name, alias, version)
    return ChampionDecision(True, "beats the champion", previous_version, previous_rmse)


COMPARED_METRICS = ("test_rmse", "test_mae", "test_r2", "test_mape")


def comparison_table(client: MlflowClient, model_name: str, alias: str) -> pd.DataFrame:
    """The newest version of each model kind side by side with the current champion."""
    versions = client.search_model_versions(f"name='{model_name}'")
    newest: dict[str, object] = {}
    for version in sorted(versions, key=lambda v: int(v.version)):
        newest[version.tags.get("model_kind", "unknown")] = version
    rows = [(f"latest {kind}", v) for kind, v in newest.items()]
    champion = current_champion(client, model_name, alias)
    if champion is not None:
        rows.append((alias, champion))
    table = []
    for role, version in rows:
        metrics = client.get_run(version.run_id).data.metrics
        table.append(
            {
                "role": role,
                "version": int(version.version),
                "kind": version.tags.get("model_kind", "unknown"),
                **{name: round(metrics[name], 4) for name in COMPARED_METRICS if name in metrics},
            }
        )
    return pd.DataFrame(table)
