"""Empty MLflow stores for tests that need one of their own.

A new SQLite store runs every MLflow migration the first time it is opened, which costs
seconds; a copy of a store that has run them opens at once. Each test process migrates one
template store and hands out copies of it.
"""

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from mlflow import MlflowClient

STORE_NAME = "mlflow.db"


@functools.cache
def _template() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="housing-mlflow-template-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    uri = f"sqlite:///{directory / STORE_NAME}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments()
    return directory / STORE_NAME


def empty_store(directory: Path) -> str:
    """An empty, migrated MLflow store at `directory`/mlflow.db (which must not exist yet);
    its tracking URI."""
    directory.mkdir(parents=True, exist_ok=True)
    destination = directory / STORE_NAME
    if destination.exists():
        raise FileExistsError(f"{destination} exists: an empty store goes where there is none")
    shutil.copyfile(_template(), destination)
    return f"sqlite:///{destination}"
