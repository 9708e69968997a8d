"""The Dagster libraries must be the release that matches the installed Dagster core.

An unpinned install resolves dagster 1.13.x with dagster-mlflow 0.19.10 (2023); this test
turns that silent fallback into a failure.
"""

from importlib.metadata import version

import pytest


def matching_library_version(core: str) -> str:
    """Dagster core 1.M.P ships with libraries 0.(M+16).P."""
    major, minor, patch = core.split(".")[:3]
    assert major == "1", f"unexpected dagster core version {core}"
    return f"0.{int(minor) + 16}.{patch}"


@pytest.mark.parametrize(("core", "library"), [("1.13.27", "0.29.27"), ("1.9.3", "0.25.3")])
def test_matching_library_version(core, library):
    assert matching_library_version(core) == library


@pytest.mark.parametrize(
    "package", ["dagster-mlflow", "dagster-duckdb", "dagster-duckdb-pandas", "dagster-postgres"]
)
def test_library_matches_core(package):
    core = version("dagster")
    assert version(package) == matching_library_version(core), (
        f"{package} {version(package)} does not match dagster {core}"
    )


@pytest.mark.parametrize("package", ["dagster-webserver", "dagster-graphql", "dagster-dg-cli"])
def test_core_packages_match(package):
    assert version(package) == version("dagster")


def test_pandas_is_2x():
    assert version("pandas").startswith("2.")
