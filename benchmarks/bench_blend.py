"""Study: would a blend of the two families beat the champion? No fit, only logged sales.

Each model run logs its scored sales (`lib.registry.scored`): the test split, the 2010
backtest and the 5-fold out-of-fold estimates of the training split (`cv5`). The families'
cv5 rows are the same sales on the same folds, so a blend exp(w log boosted + (1 - w) log
linear) has honest out-of-fold estimates too. This prints, for the latest version of each
family in a state, the blend's RMSE and ratio statistics per scope and weight, and the weight
the training split's CV would choose (lowest cv5 RMSE): the test rows are only scored.

    .venv/bin/python benchmarks/bench_blend.py --home .housing
"""

import argparse
import os

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=".housing", help="a materialised state directory")
    args = parser.parse_args()
    os.environ["HOUSING_HOME"] = args.home

    import mlflow

    from housing_assets import settings
    from housing_assets.lib.ml.ratio_study import ratio_statistics
    from housing_assets.lib.registry.champion import newest_version
    from housing_assets.lib.registry.scored import read_scored_sales

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri())
    versions = {
        family: newest_version(client, settings.REGISTERED_MODEL, family)
        for family in ("boosted", "linear")
    }
    if any(v is None for v in versions.values()):
        raise SystemExit(f"{args.home} holds no version of each family: run the pipeline first")
    data = {v.tags.get("data_version") for v in versions.values()}
    if len(data) != 1 or None in data:
        raise SystemExit("the newest versions of the two families were trained on other data")
    scored = {family: read_scored_sales(client, v.run_id) for family, v in versions.items()}
    weights = np.round(np.arange(0, 1.01, 0.1), 1)
    chosen = None
    for scope in ("cv5", "test", "backtest"):
        boosted, linear = (
            s[s["scope"] == scope].set_index("PID") for s in (scored["boosted"], scored["linear"])
        )
        linear = linear.loc[boosted.index]
        price = boosted["sale_price"].to_numpy()
        print(f"{scope}: {len(boosted)} sales; w = the boosted model's weight in log price")
        rmse_by_weight = {}
        for w in weights:
            log_blend = w * np.log(boosted["estimate"]) + (1 - w) * np.log(linear["estimate"])
            estimate = np.exp(log_blend.to_numpy())
            rmse = float(np.sqrt(np.mean((estimate - price) ** 2)))
            rmse_by_weight[w] = rmse
            s = ratio_statistics(estimate, price)
            print(
                f"  w {w:.1f}  RMSE {rmse:8,.0f}  COD {s['cod']:5.2f}  PRD {s['prd']:.3f}  "
                f"PRB {s['prb']:+.3f}  median APE {s['median_ape']:.2f}%  "
                f"PPE10 {s['ppe10']:.1f}%"
            )
        if scope == "cv5":
            chosen = min(rmse_by_weight, key=rmse_by_weight.get)
        print(f"  the weight chosen on cv5 ({chosen:.1f}): RMSE {rmse_by_weight[chosen]:,.0f}")


if __name__ == "__main__":
    main()
