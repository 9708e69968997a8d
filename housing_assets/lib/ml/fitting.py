"""Fits on both cores: copies of one estimator fitted on several (X, y), in two worker processes.

This module imports only scikit-learn and joblib on purpose: a worker process imports the
module of the function it runs, and the rest of the package would bring MLflow with it, which
costs seconds per worker at every run's start.
"""

from joblib import Parallel, delayed
from sklearn.base import clone
from threadpoolctl import threadpool_limits

# One fit per core, each single-threaded: on a shared 2-core machine OpenMP's spinning
# threads slowed a fit severalfold when another process wanted a core.
FIT_JOBS = 2


def _fit(template, X, y):
    with threadpool_limits(limits=1, user_api="openmp"):
        return clone(template).fit(X, y)


def fit_all(template, batches: list) -> list:
    """Copies of `template` fitted on each (X, y) of `batches`, in order."""
    return Parallel(n_jobs=FIT_JOBS)(delayed(_fit)(template, X, y) for X, y in batches)
