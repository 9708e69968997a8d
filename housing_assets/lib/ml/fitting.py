"""Fits on both cores: copies of one estimator fitted on several (X, y), in two worker processes.

This module imports only scikit-learn and joblib on purpose: a worker process imports the
module of the function it runs, and the rest of the package would bring MLflow with it, which
costs seconds per worker at every run's start.
"""

import os
import threading
import time

from joblib import Parallel, delayed, parallel_config
from sklearn.base import clone
from threadpoolctl import threadpool_limits

# One fit per core, each single-threaded: on a shared 2-core machine OpenMP's spinning
# threads slowed a fit severalfold when another process wanted a core.
FIT_JOBS = 2


_WATCHED = threading.Event()


def _exit_with_parent(parent: int) -> None:
    """In a worker, as it starts: exit as soon as `parent`, the process that started it, is
    gone (it may be gone already, before the worker got this far).

    loky keeps an idle worker for minutes; a run process that is killed (SIGKILL, an OOM kill)
    would otherwise leave its workers behind, holding its output pipes open.
    """
    if _WATCHED.is_set():
        return
    _WATCHED.set()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def workers():
    """The worker pool's settings: every fit, tuning search and warm-up uses the same, so they
    share one pool of workers (other settings would make joblib start a new one)."""
    return parallel_config(backend="loky", initializer=_exit_with_parent, initargs=(os.getpid(),))


def _fit(template, X, y):
    with threadpool_limits(limits=1, user_api="openmp"):
        return clone(template).fit(X, y)


def fit_all(template, batches: list, jobs: int = FIT_JOBS) -> list:
    """Copies of `template` fitted on each (X, y) of `batches`, in order."""
    with workers():
        return Parallel(n_jobs=jobs)(delayed(_fit)(template, X, y) for X, y in batches)


def _ready() -> None:
    import pandas  # noqa: F401 - the imports a fit needs, paid before the first fit
    import sklearn.ensemble  # noqa: F401


def start_workers(jobs: int = FIT_JOBS) -> threading.Thread:
    """Start the worker processes in the background; `fit_all` then finds them ready.

    A worker's start (a fresh interpreter importing scikit-learn and pandas) costs seconds;
    started when a run starts, it overlaps the steps before the first fit.
    """

    def start() -> None:
        with workers():
            Parallel(n_jobs=jobs)(delayed(_ready)() for _ in range(jobs))

    thread = threading.Thread(
        target=start,
        name="start-fit-workers",
        daemon=True,
    )
    thread.start()
    return thread
