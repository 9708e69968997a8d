"""Where champions registered before `lib/` was grouped pickled their classes.

A registered pyfunc refers to its classes by module path. Champions logged before the regroup
name this module, and without it they would no longer load: every run would then fail to
re-score the champion, and the alias would never move again.
"""

from housing_assets.lib.ml.ranges import IntervalCalibration
from housing_assets.lib.ml.valuation import HousePriceModel

__all__ = ["HousePriceModel", "IntervalCalibration"]
