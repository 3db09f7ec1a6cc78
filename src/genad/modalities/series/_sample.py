"""Time series: :class:`SeriesSample` and its loaders.

A series is a ``(T, D)`` float array of values, an index of ``T`` labels (a pandas ``DatetimeIndex`` or an integer
index) and ``D`` column names. Positions ``0 .. T-1`` are what regions and anomaly maps refer to; index labels are
what people read (``Region.span``).

Decisions on awkward input, all tested:

- ``+inf``/``-inf`` become NaN; NaN is a missing value (drawn as a gap, never scored as anomalous);
- a column with no finite value at all is dropped (its name is kept in ``meta["dropped_columns"]``); if no column is
  left, or there are no rows, :class:`~genad.errors.EmptyInputError`;
- a single row is :class:`~genad.errors.InputError` (a series needs at least two values);
- a value column holding text (``"n/a"``, ``"high"``) is :class:`~genad.errors.InputError` naming the column and the
  first bad value; empty cells are NaN;
- timestamps out of order are sorted (stably); positions then follow the sorted order and
  ``meta["source_rows"]`` gives, for each position, its row in the input. Unparseable timestamps are
  :class:`~genad.errors.InputError`. Irregular spacing is kept as is (``meta["irregular"]`` is ``True``): plots use
  positions on the x axis, so gaps in time do not distort them;
- a constant series is valid data: the expert scores it 0 everywhere (nothing deviates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from genad.errors import (
    CorruptInputError,
    EmptyInputError,
    InputError,
    MissingDependencyError,
    UnsupportedInputError,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SERIES_SUFFIXES", "SeriesSample"]

SERIES_SUFFIXES = (".csv", ".tsv", ".parquet", ".txt")
TIME_COLUMNS = ("timestamp", "datetime", "time", "date", "ts")


@dataclass(frozen=True, eq=False)
class SeriesSample:
    """A validated time series. Build one with :meth:`from_path` or :meth:`from_array`; the constructor checks
    shapes only.

    Parameters
    ----------
    values
        ``(T, D)`` float64: ``T`` time steps of ``D`` channels.
    index
        The time steps' labels: a pandas ``DatetimeIndex`` or an integer index.
    columns
        The channels' names.
    name
        Where it came from (a path), or ``None``.
    meta
        Anything a loader wants to keep.
    """

    values: np.ndarray
    index: pd.Index
    columns: tuple[str, ...]
    name: str | None = None
    modality: ClassVar[str] = "series"
    meta: dict[str, Any] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        kind = "datetime" if self.is_datetime else "integer"
        return (f"SeriesSample(T={self.length}, columns={list(self.columns)}, index={kind}"
                f"[{self.index[0]} .. {self.index[-1]}], name={self.name!r})")

    def __post_init__(self) -> None:
        v = self.values
        if v.ndim != 2 or v.dtype != np.float64:
            raise InputError(f"SeriesSample.values must be (T, D) float64, got {v.shape} {v.dtype}")
        if v.shape[0] == 0 or v.shape[1] == 0:
            raise EmptyInputError("series has no values")
        if len(self.index) != v.shape[0] or len(self.columns) != v.shape[1]:
            raise InputError(f"index of {len(self.index)} / {len(self.columns)} columns do not fit values {v.shape}")

    @property
    def length(self) -> int:
        """Number of time steps ``T``."""
        return int(self.values.shape[0])

    @property
    def n_channels(self) -> int:
        """Number of value columns ``D``."""
        return int(self.values.shape[1])

    @property
    def is_datetime(self) -> bool:
        """Whether the index holds timestamps (else it is an integer index)."""
        import pandas as pd

        return isinstance(self.index, pd.DatetimeIndex)

    def label(self, position: int) -> Any:
        """The index label at ``position`` (a ``pandas.Timestamp`` or an ``int``)."""
        value = self.index[position]
        return value if self.is_datetime else int(value)

    def to_frame(self) -> pd.DataFrame:
        """The series as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.values, index=self.index, columns=list(self.columns))

    @classmethod
    def from_path(cls, path: str | Path, *, columns: list[str] | None = None) -> SeriesSample:
        """Read a CSV, TSV, parquet or ``.txt`` (one value per line) file.

        The index is the first column named like a time (``timestamp``, ``datetime``, ``time``, ``date``, ``ts``),
        else a first text column that parses as dates, else the row number. ``;``-separated CSVs are detected.
        ``columns`` keeps only those value columns.
        """
        import pandas as pd

        p = Path(path)
        if not p.is_file():
            raise InputError(f"no such series file: {p}")
        suffix = p.suffix.lower()
        if suffix not in SERIES_SUFFIXES:
            raise UnsupportedInputError(f"no series loader for files ending in {suffix!r}: {p.name}")
        if p.stat().st_size == 0:
            raise EmptyInputError(f"empty file: {p}")
        try:
            if suffix == ".parquet":
                frame = _read_parquet(p)
            elif suffix == ".txt":
                frame = pd.DataFrame({"value": np.loadtxt(p, ndmin=1, dtype=np.float64)})
            else:
                frame = pd.read_csv(p, sep="\t" if suffix == ".tsv" else None, engine="python")
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise CorruptInputError(f"cannot read a table from {p}: {exc}") from None
        if columns is not None:
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise InputError(f"{p.name} has no column(s) {missing}; it has {list(frame.columns)}")
            keep = [c for c in frame.columns if c in columns or str(c).lower() in TIME_COLUMNS]
            frame = frame[keep]
        return _from_frame(frame, name=str(p), find_time_column=True)

    @classmethod
    def from_array(cls, obj: Any, name: str | None = None) -> SeriesSample:
        """Wrap a NumPy array (``(T,)`` or ``(T, D)``), a list, a pandas Series or a pandas DataFrame.

        pandas objects keep their index when it is a ``DatetimeIndex`` or numeric; a text index is parsed as
        dates. A DataFrame with a default index and a time column (see :meth:`from_path`) is indexed by it.
        """
        import pandas as pd

        if isinstance(obj, SeriesSample):
            return obj
        if isinstance(obj, pd.Series):
            return _from_frame(obj.to_frame(name=str(obj.name) if obj.name is not None else "value"), name=name)
        if isinstance(obj, pd.DataFrame):
            return _from_frame(obj, name=name, find_time_column=isinstance(obj.index, pd.RangeIndex))
        if isinstance(obj, (list, tuple)):
            obj = np.asarray(obj, dtype=object)
        if not isinstance(obj, np.ndarray):
            raise UnsupportedInputError(f"cannot make a series from a {type(obj).__name__}")
        if obj.ndim == 0 or obj.ndim > 2:
            raise UnsupportedInputError(f"series array must be (T,) or (T, D), got shape {obj.shape}")
        a = obj[:, None] if obj.ndim == 1 else obj
        cols = ["value"] if a.shape[1] == 1 else [f"x{i}" for i in range(a.shape[1])]
        return _from_frame(pd.DataFrame(a, columns=cols), name=name)


def _read_parquet(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_parquet(path)
    except ImportError as exc:
        raise MissingDependencyError(
            f"reading {path.name} needs pyarrow or fastparquet: pip install pyarrow ({exc})"
        ) from None


def _from_frame(frame: pd.DataFrame, name: str | None, find_time_column: bool = False) -> SeriesSample:
    """Validate a DataFrame and turn it into a sample (the shared path of every loader)."""
    import pandas as pd

    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise EmptyInputError(f"series {name or ''} has no values".replace("  ", " "))
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    if find_time_column:
        time_col = _time_column(frame)
        if time_col is not None:
            frame = frame.set_index(time_col)
    index = _as_index(frame.index)
    values, columns, dropped = _numeric_values(frame)
    meta: dict[str, Any] = {}
    if dropped:
        meta["dropped_columns"] = dropped
    if values.shape[0] < 2:
        raise InputError(f"a series needs at least 2 values, got {values.shape[0]}")
    if not index.is_monotonic_increasing:
        order = np.argsort(index.to_numpy(), kind="stable")
        index, values = index[order], values[order]
        meta["source_rows"] = order
    if len(index) > 2:
        steps = np.diff(index.to_numpy()).astype(np.float64)
        meta["irregular"] = bool(np.ptp(steps) > 0)
    if not isinstance(index, pd.DatetimeIndex) and isinstance(index, pd.RangeIndex):
        index = pd.RangeIndex(index.start, index.stop, index.step)
    return SeriesSample(np.ascontiguousarray(values), index, tuple(columns), name=name, meta=meta)


def _time_column(frame: pd.DataFrame) -> str | None:
    import pandas as pd

    for col in frame.columns:
        if col.lower() in TIME_COLUMNS:
            return str(col)
    first = frame.columns[0]
    if frame.shape[1] > 1 and not pd.api.types.is_numeric_dtype(frame[first]):
        try:
            pd.to_datetime(frame[first].iloc[:5], format="mixed")
        except (ValueError, TypeError):
            return None
        return str(first)
    return None


def _as_index(index: pd.Index) -> pd.Index:
    """A DatetimeIndex or an integer index; text is parsed as dates; anything else is an error."""
    import pandas as pd

    if isinstance(index, pd.DatetimeIndex):
        if index.hasnans:
            raise InputError("the time index has missing timestamps")
        return index
    if pd.api.types.is_integer_dtype(index.dtype):
        return index
    if pd.api.types.is_float_dtype(index.dtype):
        values = index.to_numpy()
        if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
            return pd.Index(values.astype(np.int64))
        raise InputError("a numeric series index must hold whole numbers (positions); use timestamps otherwise")
    try:
        parsed = pd.DatetimeIndex(pd.to_datetime(index, format="mixed"))
    except (ValueError, TypeError) as exc:
        raise InputError(f"cannot read the series index as timestamps: {exc}") from None
    if parsed.hasnans:
        raise InputError("the time index has missing timestamps")
    return parsed


def _numeric_values(frame: pd.DataFrame) -> tuple[np.ndarray, list[str], list[str]]:
    """Float64 values with inf as NaN; text in a value column is an error; all-NaN columns are dropped."""
    import pandas as pd

    arrays: list[np.ndarray] = []
    columns: list[str] = []
    dropped: list[str] = []
    for col in frame.columns:
        raw = frame[col]
        if pd.api.types.is_bool_dtype(raw.dtype):
            raw = raw.astype(np.float64)
        numeric = pd.to_numeric(raw, errors="coerce")
        bad = numeric.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        if bad.any():
            first = raw[bad].iloc[0]
            raise InputError(f"column {col!r} holds text, e.g. {first!r}: a value column must be numeric")
        values = np.array(numeric.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64, copy=True)
        values[~np.isfinite(values)] = np.nan
        if np.isnan(values).all():
            dropped.append(str(col))
            continue
        arrays.append(values)
        columns.append(str(col))
    if not arrays:
        raise EmptyInputError("series holds no finite value" + (f" (columns {dropped} are all NaN)" if dropped else ""))
    return np.stack(arrays, axis=1), columns, dropped
