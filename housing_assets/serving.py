"""MLflow's own scoring server for the champion: `POST /invocations` with houses in the source
file's format answers estimate, low and high (see the README's Valuations section).

`mlflow models serve` resolves `models:/ames-sale-price@champion` once, when it starts: a later
promotion is picked up by restarting it. `--env-manager local` serves from this environment,
where the valuation pyfunc's code (this package) is importable; MLflow starts the server with
`uvicorn` from PATH, so the environment's bin directory goes first on it.
"""

import argparse
import os
import sys
from pathlib import Path

from housing_assets import settings

CHAMPION_URI = f"models:/{settings.REGISTERED_MODEL}@{settings.CHAMPION_ALIAS}"
DEFAULT_PORT = 5001


def scoring_server_command(
    host: str = "127.0.0.1", port: int = DEFAULT_PORT, model_uri: str = CHAMPION_URI
) -> list[str]:
    mlflow = Path(sys.executable).parent / "mlflow"
    return [str(mlflow), "models", "serve", "-m", model_uri, "--env-manager", "local",
            "-h", host, "-p", str(port), "--workers", "1"]  # fmt: skip


def scoring_server_env(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri())
    # A request prices a house or a few: OpenMP's threads cost more to wake than the trees take
    # to walk, and slow a prediction severalfold when the other core is busy.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def main(argv: list[str] | None = None) -> None:
    """`python -m housing_assets.serving` (`make serve`): the scoring server in the foreground."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    args = parser.parse_args(argv)
    command = scoring_server_command(args.host, args.port)
    os.execve(command[0], command, scoring_server_env())


if __name__ == "__main__":
    main()
