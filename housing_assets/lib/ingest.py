"""Read the Ames source (a local path or an http(s) URL) and validate it before anything runs.

The raw asset fails here, with a message that names the file, column or value at fault, so
that a bad file never reaches the warehouse: the previous tables stay as they were.
"""

import hashlib
import io
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from housing_assets.lib.columns import AMES_COLUMNS, NUMERIC_COLUMNS, TARGET

URL_TIMEOUT_SECONDS = 30
EXAMPLES_IN_MESSAGE = 3


class SourceError(ValueError):
    """The source cannot be used; the message says where and why."""


class RawSource(NamedTuple):
    frame: pd.DataFrame
    sha256: str
    n_bytes: int


def read_source_bytes(location: str) -> bytes:
    if location.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(location, timeout=URL_TIMEOUT_SECONDS) as response:
                data = response.read()
        except (urllib.error.URLError, TimeoutError) as error:
            raise SourceError(f"Source {location} could not be downloaded: {error}") from error
    else:
        path = Path(location)
        if not path.is_file():
            raise SourceError(f"Source {location} does not exist or is not a file")
        data = path.read_bytes()
    if not data.strip():
        raise SourceError(f"Source {location} is empty ({len(data)} bytes)")
    return data


def parse_csv(data: bytes, location: str) -> pd.DataFrame:
    """Parse every column as text first, so that numeric parsing errors can be counted."""
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""])
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise SourceError(f"Source {location} is not a CSV file: {error}") from error
    if frame.shape[1] < 2:
        raise SourceError(
            f"Source {location} is not a CSV file of housing sales: its header has "
            f"{frame.shape[1]} column(s), expected {len(AMES_COLUMNS)} comma-separated columns"
        )
    return frame


def validate_columns(frame: pd.DataFrame, location: str) -> None:
    missing = [c for c in AMES_COLUMNS if c not in frame.columns]
    if missing:
        raise SourceError(
            f"Source {location} lacks {len(missing)} required column(s): {', '.join(missing)}"
        )


def parse_numeric_columns(frame: pd.DataFrame, location: str) -> pd.DataFrame:
    """Turn the numeric columns into numbers; text in a numeric column is an error."""
    frame = frame.copy()
    problems = []
    for column in NUMERIC_COLUMNS:
        text = frame[column].str.strip()
        numbers = pd.to_numeric(text, errors="coerce")
        bad = text.notna() & numbers.isna()
        if bad.any():
            examples = ", ".join(repr(v) for v in text[bad].unique()[:EXAMPLES_IN_MESSAGE])
            problems.append(
                f"column '{column}' has {int(bad.sum())} non-numeric value(s): {examples}"
            )
        frame[column] = numbers
    if problems:
        raise SourceError(f"Source {location}: " + "; ".join(problems))
    return frame


def validate_target(frame: pd.DataFrame, location: str) -> None:
    price = frame[TARGET]
    bad = price.isna() | (price <= 0)
    if bad.any():
        examples = ", ".join(str(v) for v in price[bad].head(EXAMPLES_IN_MESSAGE).tolist())
        raise SourceError(
            f"Source {location}: column '{TARGET}' must be a positive price, but "
            f"{int(bad.sum())} row(s) are missing or non-positive (e.g. {examples})"
        )


def load_source(location: str) -> RawSource:
    """Read, hash, parse and validate the source. Raises SourceError with the cause."""
    data = read_source_bytes(location)
    frame = parse_csv(data, location)
    validate_columns(frame, location)
    frame = parse_numeric_columns(frame[list(AMES_COLUMNS)], location)
    validate_target(frame, location)
    return RawSource(frame=frame, sha256=hashlib.sha256(data).hexdigest(), n_bytes=len(data))
