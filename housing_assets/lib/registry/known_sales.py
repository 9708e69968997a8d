"""The champion's view of its known sales, kept with the run that registered it.

Comparables need each comp's estimate and contributions (`lib.ml.comparables`), which depend
only on the model version and the known sales it stores. The champion rarely changes between
runs, so the first run to explain with a version computes them for every known sale and logs
them to that version's MLflow run; later runs read them back instead of recomputing. A run
that cannot read or write them computes them itself: the cache only saves time.
"""

import tempfile
from pathlib import Path

import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

KNOWN_SALES_ARTIFACT = "comparables/known_sales_explained.npz"


def read_known_sales(client: MlflowClient, run_id: str, pid: np.ndarray):
    """(estimates, contributions) of the known sales `pid` logged to the run, or None if
    there are none or they are of other sales."""
    with tempfile.TemporaryDirectory() as temporary:
        try:
            path = client.download_artifacts(run_id, KNOWN_SALES_ARTIFACT, temporary)
        except (MlflowException, OSError):
            return None
        with np.load(path) as stored:
            if not np.array_equal(stored["pid"], pid):
                return None
            return stored["estimate"], stored["contributions"]


def log_known_sales(client: MlflowClient, run_id: str, pid, estimate, contributions) -> bool:
    """Log them to the (finished) run; False if the store refused."""
    directory, name = KNOWN_SALES_ARTIFACT.rsplit("/", 1)
    with tempfile.TemporaryDirectory() as temporary:
        path = Path(temporary) / name
        np.savez(path, pid=pid, estimate=estimate, contributions=contributions)
        try:
            client.log_artifact(run_id, str(path), artifact_path=directory)
        except (MlflowException, OSError):
            return False
    return True
