"""The sales a model run priced, kept with the run: what its ratio study is computed from.

Each model run logs its test-split and backtest sales with their estimates as one Parquet
artifact. The ratio study then reads any version's figures from the run that registered it,
so the champion's backtest, which needs a model fitted before the backtest year, is the one
measured when the champion was trained, not refitted.
"""

import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from housing_assets.lib.ml.ratio_study import SCORED_COLUMNS

SCORED_ARTIFACT = "ratio_study/scored_sales.parquet"


class ScoredSalesMissing(LookupError):
    """A run logged no scored sales (it predates the ratio study, or its files are gone)."""


def log_scored_sales(scored: pd.DataFrame) -> None:
    """Log the scored sales to the active MLflow run."""
    directory, name = SCORED_ARTIFACT.rsplit("/", 1)
    with tempfile.TemporaryDirectory() as temporary:
        path = Path(temporary) / name
        scored.loc[:, list(SCORED_COLUMNS)].to_parquet(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=directory)


def read_scored_sales(client: MlflowClient, run_id: str) -> pd.DataFrame:
    """The scored sales a run logged; ScoredSalesMissing names the run when there are none.
    Sales logged before the ranges were studied come without their range columns."""
    with tempfile.TemporaryDirectory() as temporary:
        try:
            path = client.download_artifacts(run_id, SCORED_ARTIFACT, temporary)
        except (MlflowException, OSError) as error:
            raise ScoredSalesMissing(
                f"MLflow run {run_id} has no {SCORED_ARTIFACT} ({type(error).__name__}: {error})"
            ) from error
        return pd.read_parquet(path)
