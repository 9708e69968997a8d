"""The MLflow store: the experiment, bounded retries, and logging models as registered versions.

MLflow's own HTTP client retries for minutes; here every call that may meet a store that is
down or locked is retried a bounded number of times and then named with its URI.
"""

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
import sklearn
from mlflow.models import ModelSignature, infer_signature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
from mlflow.utils.requirements_utils import warn_dependency_requirement_mismatches

from housing_assets.lib.data.columns import AMES_COLUMNS
from housing_assets.lib.ml.ranges import DEFAULT_LEVEL
from housing_assets.lib.ml.valuation import OUTPUT_COLUMNS, REQUIRED_COLUMNS

T = TypeVar("T")
TRACKING_ATTEMPTS = 3
TRACKING_RETRY_SECONDS = 1.0
INPUT_EXAMPLE_ROWS = 3


class TrackingUnavailable(RuntimeError):
    """The MLflow store did not answer; the message names its URI."""


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a `sqlite:///` tracking URI, None for any other store."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///"))


def with_retries(action: Callable[[], T], attempts: int, retry_seconds: float):
    """(result, None) from the first attempt that succeeds, else (None, the last error); the
    wait grows by `retry_seconds` after each failed attempt."""
    error: Exception | None = None
    for attempt in range(attempts):
        try:
            return action(), None
        except Exception as caught:  # noqa: BLE001 - the caller names and raises it
            error = caught
        if attempt + 1 < attempts:
            time.sleep(retry_seconds * (attempt + 1))
    return None, error


def ensure_experiment(tracking_uri: str, name: str, artifact_dir: Path | None = None) -> str:
    """Create the experiment if needed and return its id, retrying a bounded number of times.

    MLflow's own HTTP client retries for minutes by default; here the total wait is bounded, so
    a wrong URI fails the step quickly with the URI in the message.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    database = sqlite_path(tracking_uri)
    if artifact_dir is None and database is not None:
        artifact_dir = database.parent / "mlartifacts"

    def get_or_create() -> str:
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        location = artifact_dir.resolve().as_uri() if artifact_dir else None
        return client.create_experiment(name, artifact_location=location)

    experiment_id, error = with_retries(get_or_create, TRACKING_ATTEMPTS, TRACKING_RETRY_SECONDS)
    if error is None:
        return experiment_id
    raise TrackingUnavailable(
        f"MLflow tracking store {tracking_uri} is unreachable or invalid after "
        f"{TRACKING_ATTEMPTS} attempts: {type(error).__name__}: {error}"
    ) from error


def pip_requirements() -> list[str]:
    """Given explicitly: MLflow infers them by scanning the installed packages (slow)."""
    return [
        f"mlflow=={mlflow.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
        f"cloudpickle=={cloudpickle.__version__}",
    ]


def check_requirements_early() -> threading.Thread:
    """MLflow's check of a model's requirements against the installed distributions, which
    `log_model` runs, started now in a thread.

    Its first run in a process lists the files of every installed distribution (about a second;
    README, Cost) and MLflow keeps that listing. Started before a model's fits, it runs while
    the main thread waits for the fit workers, and the model's `log_model` finds it done.
    """
    thread = threading.Thread(
        target=warn_dependency_requirement_mismatches,
        args=(pip_requirements(),),
        name="check-requirements",
        daemon=True,
    )
    thread.start()
    return thread


RECORD_ENV_VARS = "MLFLOW_RECORD_ENV_VARS_IN_MODEL_LOGGING"


def untracked_environment() -> None:
    """Turn off MLflow's recording of the environment variables a model reads while its input
    example is checked, unless the environment asks for it.

    To record them, MLflow replaces `os.environ`'s getters for the whole process and then
    iterates the set they fill. Any other thread that reads the environment meanwhile (the
    system-metrics monitor of the model's run, the early requirements check) can change the
    set during that iteration, and `log_model` then fails with "Set changed size during
    iteration". The recorded names only serve Databricks' serving tips.
    """
    os.environ.setdefault(RECORD_ENV_VARS, "false")


def log_sklearn_model(estimator, X_example: pd.DataFrame, registered_model: str):
    """Log the fitted Pipeline with signature and input example, and register a version.

    Stored with cloudpickle, not MLflow 3's default skops, which is slow here (README):
    importing it imports every sklearn module to list the trusted types, the trusted types of
    a model are found by serialising it once more, and MLflow saves and then re-loads it to
    check. And it protects nothing in this setup: MLflow reads the trusted-types list back from
    the model's own MLmodel file, so the store must be trusted with either format. Loading is
    governed by MLFLOW_ALLOW_PICKLE_DESERIALIZATION (set it to false where the store is not
    trusted). MLflow logs a warning about the format on each save.
    """
    example = X_example.head(INPUT_EXAMPLE_ROWS)
    signature = infer_signature(example, estimator.predict(example))
    untracked_environment()
    return mlflow.sklearn.log_model(
        estimator,
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        name="model",
        signature=signature,
        input_example=example,
        pip_requirements=pip_requirements(),
        registered_model_name=registered_model,
    )


def valuation_signature() -> ModelSignature:
    """Output: estimate, low, high (with param `explain`, also base_value and reasons; with
    `comparables`, implied_value and comparables); the params `level`, `explain` and
    `comparables`.

    No input schema: a house arrives as the file or a JSON request writes it (1710, 1710.0 or
    "1710"; NA as null), which MLflow's typed columns would refuse, and its untyped (Any)
    columns only check that the required ones are present, one column at a time, at more than
    the model's own cost per house (README, Measured figures). The model checks the columns
    and parses the values itself and names the column at fault
    (`lib.ml.valuation.checked_houses`); the columns are in the model's metadata
    (`valuation_metadata`) and the input example shows them.
    """
    outputs = Schema([ColSpec("double", column) for column in OUTPUT_COLUMNS])
    params = ParamSchema(
        [
            ParamSpec("level", "double", DEFAULT_LEVEL),
            ParamSpec("explain", "boolean", False),
            ParamSpec("comparables", "boolean", False),
        ]
    )
    return ModelSignature(outputs=outputs, params=params)


def valuation_metadata() -> dict[str, list[str]]:
    """The input contract, in the MLmodel file: the source file's columns, and those a house
    must have."""
    return {"input_columns": list(AMES_COLUMNS), "required_columns": list(REQUIRED_COLUMNS)}


def log_valuation_model(model, example_houses: pd.DataFrame, registered_model: str):
    """Log the valuation pyfunc (`lib/valuation.HousePriceModel`) and register a version.

    The example is a few houses in the source file's format. The pyfunc is pickled with
    cloudpickle by reference to this package, which must be importable where it is loaded
    (the project's environment: `mlflow models serve --env-manager local`).
    """
    example = example_houses.head(INPUT_EXAMPLE_ROWS)
    untracked_environment()
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=model,
        signature=valuation_signature(),
        input_example=example,
        metadata=valuation_metadata(),
        pip_requirements=pip_requirements(),
        registered_model_name=registered_model,
    )
