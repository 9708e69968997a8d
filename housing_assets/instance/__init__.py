"""Instance plugins, loaded by the webserver and the daemon from `deploy/dagster.yaml`.

This subpackage is the only place in the code location that imports Dagster internals
(`dagster._...`): each plugin extends a part of the instance that Dagster exposes only through
internal classes. Each module's docstring names the upstream gap it works around and the Dagster
release it was written against, and `housing_assets_tests/test_instance_plugins.py` fails when
an internal it relies on moves. Assets, resources and `lib/` use only `import dagster as dg`.
"""
