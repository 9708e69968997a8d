"""Read the Ames source (a local path or an http(s) URL) and parse it into a typed frame.

What cannot be parsed (an unreachable URL, a file that is not a CSV, a missing column, text in
a numeric column) fails here, with a message that names the file, column or value at fault.
Content rules that can be judged on a parsed frame (row count, unique PID, prices, areas) are
the raw asset's blocking checks, so their results are recorded; either way nothing reaches the
warehouse and the previous tables stay as they were.

A download has a total deadline and a size cap: a server that trickles bytes or sends an
endless body cannot hold the run, and every network error names the URL.
"""

import hashlib
import http.client
import io
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from housing_assets.lib.data.columns import AMES_COLUMNS, NUMERIC_COLUMNS
from housing_assets.lib.data.frames import Columns, with_columns
from housing_assets.lib.data.naming import DE_COCK, KAGGLE, Naming, de_cock_names, is_kaggle_header
from housing_assets.settings import is_url

DOWNLOAD_DEADLINE_SECONDS = 60.0
MAX_SOURCE_BYTES = 200 * 1024 * 1024
# A read waits at most this long for the next bytes; the deadline is checked between reads.
SOCKET_TIMEOUT_SECONDS = 10.0
READ_CHUNK_BYTES = 1024 * 1024
EXAMPLES_IN_MESSAGE = 3
# Integers at or above this are not all exact as float64.
FLOAT_EXACT_LIMIT = 2**53


class SourceError(ValueError):
    """The source cannot be used; the message says where and why."""


class MissingColumnsError(SourceError):
    """The source parses, but its header lacks required columns."""

    def __init__(self, location: str, columns, naming: Naming | None = None):
        self.columns = tuple(columns)  # the header the source does have
        self.missing = tuple(c for c in AMES_COLUMNS if c not in self.columns)
        hint = ""
        if naming is not None and naming.naming == KAGGLE:
            hint = f"; read in {KAGGLE} naming"
            if naming.unmapped:
                hint += f", whose column(s) {', '.join(naming.unmapped)} match no De Cock column"
        super().__init__(
            f"Source {location} lacks {len(self.missing)} required column(s): "
            f"{', '.join(self.missing)}{hint}"
        )


class RawSource(NamedTuple):
    frame: pd.DataFrame
    sha256: str
    n_bytes: int
    naming: str = DE_COCK  # the header's naming (`lib.data.naming`): De Cock's or Kaggle's
    unmapped: tuple[str, ...] = ()  # columns of a Kaggle header that match no De Cock column


def download(location: str, deadline_seconds: float, max_bytes: int) -> bytes:
    """The body of an http(s) URL, within a total deadline and a size cap."""
    started = time.monotonic()
    timeout = min(SOCKET_TIMEOUT_SECONDS, deadline_seconds)
    chunks, received = [], 0
    try:
        with urllib.request.urlopen(location, timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise SourceError(
                    f"Source {location} is too large: it declares {int(declared):,} bytes, "
                    f"the cap is {max_bytes:,}"
                )
            while True:
                if time.monotonic() - started > deadline_seconds:
                    raise SourceError(
                        f"Source {location} did not finish downloading within the "
                        f"{deadline_seconds:g} s deadline ({received:,} bytes received)"
                    )
                # read1: one read of the socket, so a slow server cannot hold one call.
                chunk = response.read1(READ_CHUNK_BYTES)
                if not chunk:
                    break
                received += len(chunk)
                if received > max_bytes:
                    raise SourceError(
                        f"Source {location} is too large: more than {max_bytes:,} bytes received "
                        f"(the cap)"
                    )
                chunks.append(chunk)
    except SourceError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        # URLError and HTTPError for the request, IncompleteRead and ConnectionResetError
        # during the body, TimeoutError for a silent socket, ValueError for a malformed URL.
        raise SourceError(
            f"Source {location} could not be downloaded: {type(error).__name__}: {error}"
        ) from error
    return b"".join(chunks)


def read_source_bytes(
    location: str,
    deadline_seconds: float = DOWNLOAD_DEADLINE_SECONDS,
    max_bytes: int = MAX_SOURCE_BYTES,
) -> bytes:
    if is_url(location):
        data = download(location, deadline_seconds, max_bytes)
    else:
        path = Path(location)
        if not path.is_file():
            raise SourceError(f"Source {location} does not exist or is not a file")
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(
                f"Source {location} is too large: {size:,} bytes, the cap is {max_bytes:,}"
            )
        data = path.read_bytes()
    if not data.strip():
        raise SourceError(f"Source {location} is empty ({len(data)} bytes)")
    return data


def parse_csv(data: bytes, location: str, numbers_as_text: bool = False) -> pd.DataFrame:
    """Parse the file: numeric columns as floats, the others as text (or everything as text).

    Only an empty cell is missing: "NA" is a level ("no alley", "no basement") in this data.
    """
    dtypes: type | dict = str
    if not numbers_as_text:
        dtypes = defaultdict(lambda: str, dict.fromkeys(NUMERIC_COLUMNS, "float64"))
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=dtypes, keep_default_na=False, na_values=[""])
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise SourceError(f"Source {location} is not a CSV file: {error}") from error
    if frame.shape[1] < 2:
        raise SourceError(
            f"Source {location} is not a CSV file of housing sales: its header has "
            f"{frame.shape[1]} column(s), expected {len(AMES_COLUMNS)} comma-separated columns"
        )
    return frame


def validate_columns(frame: pd.DataFrame, location: str, naming: Naming | None = None) -> None:
    if any(c not in frame.columns for c in AMES_COLUMNS):
        raise MissingColumnsError(location, frame.columns, naming)


def whole_numbers_as_int(frame: pd.DataFrame, columns=NUMERIC_COLUMNS) -> pd.DataFrame:
    """Of `columns`, those with no gap and only whole numbers become int64 (counts, years,
    prices); a copy."""
    values = frame[list(columns)]
    whole = values.notna().all() & (values % 1 == 0).all()
    return frame.astype(dict.fromkeys(whole.index[whole], "int64"))


def numbers_from_text(
    frame: Columns, columns=NUMERIC_COLUMNS
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Columns of text (or numbers held as objects) as numbers, and a description of each
    column with text that is not one."""
    numbers, problems = {}, []
    for column in columns:
        values = np.array(frame[column], dtype=object)
        for row, value in enumerate(values):
            values[row] = _number_text(value)
        numbers[column] = pd.to_numeric(values, errors="coerce")
        bad = pd.notna(values) & pd.isna(numbers[column])
        if bad.any():
            examples = ", ".join(repr(v) for v in pd.unique(values[bad])[:EXAMPLES_IN_MESSAGE])
            problems.append(
                f"column '{column}' has {int(bad.sum())} non-numeric value(s): {examples}"
            )
    return numbers, problems


def _number_text(value):
    """Text stripped, numbers and gaps as they are; anything else (a flag, a list from a JSON
    request) as its text, which is then reported as not a number."""
    if isinstance(value, str):
        return value.strip()
    if value is None or (
        isinstance(value, int | float | np.number) and not isinstance(value, bool)
    ):
        return value
    return repr(value)


def parse_numeric_columns(frame: pd.DataFrame, location: str) -> pd.DataFrame:
    """Turn text columns into numbers; text that is not a number is an error naming it."""
    numbers, problems = numbers_from_text(frame)
    if problems:
        raise SourceError(f"Source {location}: " + "; ".join(problems))
    return with_columns(frame, numbers)


def parse_fast(data: bytes, location: str) -> pd.DataFrame | None:
    """pandas' C parser reading the numeric columns as floats directly (several times faster on large files).

    None when the careful path must decide: a cell the float parser refuses (text, or numbers
    padded with Unicode spaces, which the careful path strips), or an integer beyond float
    precision (2**53), which the careful path keeps exact.
    """
    try:
        frame = parse_csv(data, location)
    except SourceError:
        raise
    except ValueError:
        return None
    if is_kaggle_header(frame.columns) or "SalePrice" not in frame.columns:
        # Mapped, or given its missing price, on the careful path, where every column is text.
        return None
    validate_columns(frame, location)
    numbers = frame[list(NUMERIC_COLUMNS)]
    if (numbers.abs() >= FLOAT_EXACT_LIMIT).any().any():
        return None
    return whole_numbers_as_int(frame[list(AMES_COLUMNS)])


def load_source(
    location: str,
    deadline_seconds: float = DOWNLOAD_DEADLINE_SECONDS,
    max_bytes: int = MAX_SOURCE_BYTES,
    priced: bool = True,
) -> RawSource:
    """Read, hash and parse the source. Raises SourceError with the cause.

    A header in Kaggle's naming is mapped onto De Cock's (`lib.data.naming`). With `priced`
    False (houses to value, not sales), a file without `SalePrice` is read with it missing.
    """
    data = read_source_bytes(location, deadline_seconds, max_bytes)
    frame = parse_fast(data, location)
    naming = Naming(frame, DE_COCK, ())
    if frame is None:
        # The careful path: every column as text, then each numeric column stripped and parsed;
        # text that is not a number is reported with its column and values.
        naming = de_cock_names(parse_csv(data, location, numbers_as_text=True))
        frame = naming.frame
        if not priced and "SalePrice" not in frame.columns:
            frame = frame.assign(SalePrice=None)
        validate_columns(frame, location, naming)
        frame = parse_numeric_columns(frame[list(AMES_COLUMNS)], location)
    return RawSource(
        frame=frame,
        sha256=hashlib.sha256(data).hexdigest(),
        n_bytes=len(data),
        naming=naming.naming,
        unmapped=naming.unmapped,
    )
