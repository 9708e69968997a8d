"""The fit workers: copies fitted in order, and no worker outlives a killed run."""

import subprocess
import sys
import textwrap

import numpy as np
from sklearn.linear_model import LinearRegression

from housing_assets.lib.ml.fitting import fit_all

KILLED_WHILE_STARTING = textwrap.dedent(
    """
    import os, signal, sys, time
    from housing_assets.lib.ml.fitting import start_workers
    start_workers(2)
    time.sleep(float(sys.argv[1]))
    print("started", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_fit_all_returns_one_fitted_copy_per_batch_in_order():
    X = np.arange(20, dtype=float).reshape(10, 2)
    batches = [(X, X[:, 0] * k) for k in (1.0, 2.0, 3.0)]
    template = LinearRegression()
    fitted = fit_all(template, batches)
    assert [round(float(m.predict(X[:1] + 1)[0] / (X[0, 0] + 1)), 9) for m in fitted] == [1, 2, 3]
    assert not hasattr(template, "coef_")  # the template itself is never fitted


def test_workers_exit_with_a_killed_run_even_while_starting():
    """Left alone, loky keeps a worker for 300 s after its parent dies, holding the parent's
    output pipes: whoever waits on them (a test, a run launcher) waits that long."""
    for delay in ("0.1", "2.0"):  # while the workers start, and once they are idle
        done = subprocess.run(
            [sys.executable, "-c", KILLED_WHILE_STARTING, delay],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == -9 and done.stdout == "started\n", done.stderr[-2000:]
