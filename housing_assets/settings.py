"""Where things live. One function per location, called everywhere; nothing else reads env vars.

All run state sits under one git-ignored directory, `.housing/` at the project root, or
`HOUSING_HOME` when set: the Dagster instance, the DuckDB warehouse, the MLflow store, its
artifacts and the reports. Nothing is written into the package or into `data/`.
"""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_SOURCE = PROJECT_ROOT / "data" / "AmesHousing.csv"
# The code location, its repository and its job, as the GraphQL API and `housing-dev` name them.
LOCATION_NAME = "housing_assets"
REPOSITORY_NAME = "__repository__"
JOB_NAME = "housing_pipeline"
MLFLOW_EXPERIMENT = "housing_assets"
REGISTERED_MODEL = "ames-sale-price"
CHAMPION_ALIAS = "champion"


def is_url(location: str) -> bool:
    """Whether a source or store location is an http(s) URL rather than a path."""
    return location.startswith(("http://", "https://"))


def state_dir() -> Path:
    home = os.environ.get("HOUSING_HOME")
    return Path(home).resolve() if home else PROJECT_ROOT / ".housing"


def dagster_home() -> Path:
    return state_dir() / "dagster"


def warehouse_path(home: Path | None = None) -> Path:
    """The warehouse users query (read-only for them; replaced whole when a run ends)."""
    return (home or state_dir()) / "warehouse.duckdb"


def pipeline_warehouse_path(home: Path | None = None) -> Path:
    """The warehouse file the runs write; no one else opens it."""
    return (home or state_dir()) / "pipeline" / "warehouse.duckdb"


def reports_dir() -> Path:
    return state_dir() / "reports"


def mlflow_artifacts_dir() -> Path:
    return state_dir() / "mlartifacts"


def mlflow_tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` if set (e.g. a tracking server), else SQLite under the state dir."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir() / 'mlflow.db'}"


def source_location() -> str:
    """`HOUSING_SOURCE` (a path or an http(s) URL) if set, else the shipped CSV."""
    return os.environ.get("HOUSING_SOURCE") or str(SHIPPED_SOURCE)


def subjects_location() -> str | None:
    """`HOUSING_SUBJECTS`: the houses to price (a path or URL in the source's format); unset,
    `price_estimates` prices the test split's houses."""
    return os.environ.get("HOUSING_SUBJECTS") or None


def mlflow_ui_url() -> str:
    """Base URL of the MLflow UI for links in metadata: `MLFLOW_UI_URL` when set (e.g. the
    address users reach a tracking server at, behind a proxy or outside compose's network),
    else the tracking server itself, else the local UI started next to Dagster."""
    explicit = os.environ.get("MLFLOW_UI_URL")
    if explicit:
        return explicit.rstrip("/")
    uri = mlflow_tracking_uri()
    if is_url(uri):
        return uri.rstrip("/")
    return "http://127.0.0.1:5000"


def dagster_ui_url() -> str:
    """Base URL of the Dagster UI for links from MLflow runs: `DAGSTER_UI_URL` when set, else
    the local UI `make run` starts."""
    return os.environ.get("DAGSTER_UI_URL", "http://127.0.0.1:3000").rstrip("/")


def champion_lock_path() -> Path:
    """The lock that serialises champion promotions among processes sharing the state."""
    return state_dir() / "champion.lock"


def alerts_log() -> Path:
    return state_dir() / "alerts" / "run_failures.log"


def alert_webhook_url() -> str | None:
    """Optional: failed runs are also POSTed as JSON to `HOUSING_ALERT_WEBHOOK_URL`."""
    return os.environ.get("HOUSING_ALERT_WEBHOOK_URL") or None
