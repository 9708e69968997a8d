"""`housing-api value`: one house's valuation as a person reads it, from the local state.

Unlike the other subcommands it does not ask the webserver: it prices the house with the
current champion from the MLflow store, through the same pyfunc as the scoring server (with
`explain` and `comparables`). The house is a row of the warehouse's `raw_housing` (by
`--pid`) or of a file in the source format (`--file`, every house in it or those of `--pid`).
"""

import json
from pathlib import Path

import duckdb
import pandas as pd

from housing_assets import settings
from housing_assets.lib.analysis.valuation_page import (
    Valuation,
    from_prediction,
    valuation_html,
    valuation_text,
)


class ValuationError(RuntimeError):
    """The houses or the champion cannot be found; the message says which."""


def house_rows(pids: list[int], file: str | None) -> pd.DataFrame:
    if file:
        from housing_assets.lib.data.ingest import SourceError, load_source

        try:
            frame = load_source(file, priced=False).frame
        except SourceError as error:
            raise ValuationError(str(error)) from error
        where = file
    else:
        path = settings.warehouse_path()
        if not path.exists():
            raise ValuationError(f"no warehouse at {path}: run the pipeline first")
        with duckdb.connect(str(path), read_only=True) as connection:
            frame = connection.execute("select * from housing.raw_housing").fetchdf()
        where = f"{path} (housing.raw_housing)"
    if not pids:
        return frame
    missing = sorted(set(pids) - set(frame["PID"]))
    if missing:
        raise ValuationError(f"no house with PID {', '.join(map(str, missing))} in {where}")
    return frame.set_index("PID").loc[pids].reset_index()


def value(pids: list[int], file: str | None = None) -> list[Valuation]:
    import mlflow

    from housing_assets.lib.registry.champion import load_champion

    houses = house_rows(pids, file)
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri())
    version, model = load_champion(client, settings.REGISTERED_MODEL, settings.CHAMPION_ALIAS)
    if model is None:
        raise ValuationError(
            f"{settings.REGISTERED_MODEL} has no @{settings.CHAMPION_ALIAS} yet: run the pipeline"
        )
    valuation = model.unwrap_python_model()
    # The pyfunc itself rather than MLflow's wrapper: a champion registered before these
    # params had them in its signature drops them there without a word.
    answer = valuation.predict(None, houses, {"explain": True, "comparables": True})
    level = valuation.level
    name = f"{settings.REGISTERED_MODEL} v{version}"
    sold = pd.to_numeric(houses.get("SalePrice"), errors="coerce")
    return [
        from_prediction(
            houses["PID"].iloc[i],
            houses["Neighborhood"].iloc[i],
            answer.iloc[i],
            level,
            sold.iloc[i] if sold is not None else float("nan"),
            name,
        )  # fmt: skip
        for i in range(len(houses))
    ]


def as_json(valuation: Valuation) -> dict:
    fields = valuation._asdict()
    fields["reasons"] = valuation.reasons.to_dict(orient="records")
    fields["comparables"] = json.loads(valuation.comparables.to_json(orient="records"))
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in fields.items()}


def write_pages(valuations: list[Valuation], directory: Path) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for valuation in valuations:
        path = directory / f"valuation_{valuation.pid}.html"
        path.write_text(valuation_html(valuation), encoding="utf-8")
        paths.append(str(path))
    return paths


def printable(valuations: list[Valuation]) -> str:
    return "\n".join(valuation_text(v) for v in valuations)
