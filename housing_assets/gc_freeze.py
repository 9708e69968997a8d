"""Garbage collection paused while the code location imports, and its objects frozen.

Importing the code location (dagster, scikit-learn, scipy, MLflow, plotly) creates hundreds of
thousands of long-lived objects and hardly any garbage, yet the collector keeps scanning them.
Importing this module first pauses the collector while it imports the heavy libraries, then
freezes what they made (never scanned, never freed: modules and classes live as long as the
process), so later collections scan only what a run creates. At exit the objects are frozen
once more, which skips the interpreter's final collection over everything a run made: every
store is closed when the run ends and the OS frees the memory (the one thing lost is `__del__`
of objects left in reference cycles; `weakref.finalize` and logging's shutdown still run).

It applies to the processes that import `housing_assets.definitions`: run workers, the CLI,
the code server and tests. `HOUSING_GC_FREEZE=0` turns it off. The README's Scale section
gives the measured effect that keeps it here.
"""

import atexit
import gc

from housing_assets import settings

if settings.gc_freeze_enabled():
    collecting = gc.isenabled()
    gc.disable()
    try:
        import dagster  # noqa: F401
        import mlflow  # noqa: F401
        import pandas  # noqa: F401
        import plotly.graph_objects  # noqa: F401
        import sklearn.ensemble  # noqa: F401
        import sklearn.linear_model  # noqa: F401

        import housing_assets.automation  # noqa: F401
    finally:
        gc.freeze()
        if collecting:
            gc.enable()
    atexit.register(gc.freeze)
