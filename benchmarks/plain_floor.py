"""The plain floor: the mission's core work as a plain script, with no project code.

Read the CSV, impute, one-hot and ordinal encode, split 70/30, fit and score a ridge and a
400-tree histogram booster on log price. Nothing from `housing_assets` is imported, so this is
what the same work costs without the platform: `bench_pipeline.py` times it pair by pair with
the whole graph and reports the ratio (the budget is 3.5x), and `bench_models.py` times its
two fits beside each model step (the budget is 3x).

    .venv/bin/python benchmarks/plain_floor.py [--source data/AmesHousing.csv]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

SOURCE = Path(__file__).resolve().parents[1] / "data" / "AmesHousing.csv"
TARGET = "SalePrice"
DROPPED = ("Order", "PID", TARGET)


def linear_model(numeric: list[str], nominal: list[str]) -> TransformedTargetRegressor:
    preprocess = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "nominal",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="None"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                nominal,
            ),
        ]
    )
    ridge = RidgeCV(alphas=np.logspace(-1, 3, 21), gcv_mode="svd")
    return TransformedTargetRegressor(
        regressor=make_pipeline(preprocess, ridge), func=np.log, inverse_func=np.exp
    )


def boosted_model(numeric: list[str], nominal: list[str]) -> TransformedTargetRegressor:
    preprocess = ColumnTransformer(
        [
            ("numeric", "passthrough", numeric),
            (
                "nominal",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan),
                nominal,
            ),
        ]
    )
    booster = HistGradientBoostingRegressor(
        learning_rate=0.05,
        max_iter=400,
        max_leaf_nodes=15,
        early_stopping=False,
        categorical_features=[False] * len(numeric) + [True] * len(nominal),
        random_state=42,
    )
    return TransformedTargetRegressor(
        regressor=make_pipeline(preprocess, booster), func=np.log, inverse_func=np.exp
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(SOURCE))
    args = parser.parse_args()
    frame = pd.read_csv(args.source)
    features = frame.drop(columns=[c for c in DROPPED if c in frame.columns])
    nominal = [c for c in features.columns if features[c].dtype == object]
    numeric = [c for c in features.columns if c not in nominal]
    features[nominal] = features[nominal].fillna("None")
    X_train, X_test, y_train, y_test = train_test_split(
        features, frame[TARGET].astype(float), test_size=0.3, random_state=42
    )
    scores, fit_seconds = {}, {}
    for name, build in (("linear", linear_model), ("boosted", boosted_model)):
        started = time.perf_counter()
        model = build(numeric, nominal).fit(X_train, y_train)
        fit_seconds[name] = time.perf_counter() - started
        predicted = model.predict(X_test)
        scores[name] = {
            "rmse": float(np.sqrt(mean_squared_error(y_test, predicted))),
            "r2": float(r2_score(y_test, predicted)),
        }
    print(json.dumps({"rows": len(frame), "scores": scores, "fit_seconds": fit_seconds}))


if __name__ == "__main__":
    main()
