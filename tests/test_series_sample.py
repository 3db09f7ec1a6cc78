"""SeriesSample: loaders, and the documented behaviour on awkward input."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genad import load_sample
from genad.errors import CorruptInputError, EmptyInputError, InputError, UnsupportedInputError
from genad.modalities.series import SeriesSample


def test_csv_with_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("timestamp,value\n2024-01-01 00:00,1\n2024-01-01 00:05,2\n2024-01-01 00:10,4\n")
    s = SeriesSample.from_path(path)
    assert s.length == 3 and s.columns == ("value",)
    assert s.is_datetime and s.label(2) == pd.Timestamp("2024-01-01 00:10")
    np.testing.assert_array_equal(s.values[:, 0], [1.0, 2.0, 4.0])
    assert s.meta["irregular"] is False


def test_semicolon_csv_tsv_and_txt(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("datetime;x;y\n2024-01-01;1;2\n2024-01-02;3;4\n")
    (tmp_path / "b.tsv").write_text("t\tv\n0\t1.5\n1\t2.5\n")
    (tmp_path / "c.txt").write_text("1\n2\n3\n")
    a = SeriesSample.from_path(tmp_path / "a.csv")
    assert a.columns == ("x", "y") and a.is_datetime
    b = SeriesSample.from_path(tmp_path / "b.tsv")
    assert b.columns == ("t", "v") and not b.is_datetime
    c = SeriesSample.from_path(tmp_path / "c.txt")
    assert c.length == 3 and list(c.index) == [0, 1, 2]


def test_column_selection(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("timestamp,x,y\n2024-01-01,1,2\n2024-01-02,3,4\n")
    s = SeriesSample.from_path(tmp_path / "a.csv", columns=["y"])
    assert s.columns == ("y",) and s.is_datetime
    with pytest.raises(InputError, match="no column"):
        SeriesSample.from_path(tmp_path / "a.csv", columns=["z"])


def test_from_array_kinds() -> None:
    assert SeriesSample.from_array([1, 2, 3]).values.shape == (3, 1)
    multi = SeriesSample.from_array(np.arange(12.0).reshape(6, 2))
    assert multi.columns == ("x0", "x1") and multi.n_channels == 2
    idx = pd.date_range("2024-01-01", periods=4, freq="h")
    ser = SeriesSample.from_array(pd.Series([1.0, 2.0, 3.0, 4.0], index=idx, name="temp"))
    assert ser.columns == ("temp",) and ser.is_datetime
    frame = SeriesSample.from_array(pd.DataFrame({"a": [1, 2], "b": [3.0, 4.0]}, index=[10, 20]))
    assert list(frame.index) == [10, 20] and frame.label(1) == 20
    with_time_col = SeriesSample.from_array(pd.DataFrame({"timestamp": ["2024-01-01", "2024-01-02"], "v": [1, 2]}))
    assert with_time_col.is_datetime and with_time_col.columns == ("v",)


def test_load_sample_routes_series(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(5.0))
    assert isinstance(load_sample(tmp_path / "a.npy"), SeriesSample)
    (tmp_path / "b.csv").write_text("timestamp,value\n2024-01-01,1\n2024-01-02,2\n")
    assert isinstance(load_sample(tmp_path / "b.csv"), SeriesSample)
    assert isinstance(load_sample(pd.Series([1.0, 2.0]), modality="series"), SeriesSample)


def test_inf_becomes_nan_and_all_nan_column_dropped() -> None:
    s = SeriesSample.from_array(pd.DataFrame({"a": [1.0, np.inf, 3.0], "b": [np.nan, np.nan, np.nan]}))
    assert s.columns == ("a",) and np.isnan(s.values[1, 0])
    assert s.meta["dropped_columns"] == ["b"]


def test_unsorted_timestamps_are_sorted_and_traceable() -> None:
    idx = pd.to_datetime(["2024-01-03", "2024-01-01", "2024-01-02"])
    s = SeriesSample.from_array(pd.Series([3.0, 1.0, 2.0], index=idx))
    np.testing.assert_array_equal(s.values[:, 0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(s.meta["source_rows"], [1, 2, 0])
    assert s.index.is_monotonic_increasing


def test_irregular_timestamps_are_kept() -> None:
    idx = pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:01", "2024-01-01 03:00"])
    s = SeriesSample.from_array(pd.Series([1.0, 2.0, 3.0], index=idx))
    assert s.meta["irregular"] is True and s.index[2] == idx[2]


@pytest.mark.parametrize(
    ("obj", "error"),
    [
        ([], EmptyInputError),
        (np.zeros((0, 2)), EmptyInputError),
        ([np.nan, np.nan, np.nan], EmptyInputError),
        ([1.0], InputError),
        (["a", 1], InputError),
        (pd.DataFrame({"v": [1.0, 2.0], "s": ["x", "y"]}), InputError),
        (np.zeros((2, 2, 2)), UnsupportedInputError),
        ({"a": 1}, UnsupportedInputError),
        (pd.Series([1.0, 2.0], index=["a", "b"]), InputError),
        (pd.Series([1.0, 2.0], index=[0.5, 1.5]), InputError),
    ],
)
def test_meaningless_input_is_a_typed_error(obj: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        SeriesSample.from_array(obj)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such"):
        SeriesSample.from_path(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(EmptyInputError):
        SeriesSample.from_path(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("timestamp,value\n")
    with pytest.raises(EmptyInputError):
        SeriesSample.from_path(tmp_path / "header.csv")
    (tmp_path / "text.csv").write_text("timestamp,value\n2024-01-01,1\n2024-01-02,high\n")
    with pytest.raises(InputError, match="holds text"):
        SeriesSample.from_path(tmp_path / "text.csv")
    (tmp_path / "bad.txt").write_text("1\nabc\n")
    with pytest.raises(CorruptInputError):
        SeriesSample.from_path(tmp_path / "bad.txt")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(UnsupportedInputError):
        SeriesSample.from_path(tmp_path / "x.json")


def test_constant_series_is_valid() -> None:
    s = SeriesSample.from_array(np.full(10, 3.0))
    assert s.length == 10


def test_pickles() -> None:
    s = SeriesSample.from_array(pd.Series([1.0, 2.0], index=pd.date_range("2024", periods=2, freq="D")))
    back = pickle.loads(pickle.dumps(s))
    assert back.index.equals(s.index) and np.array_equal(back.values, s.values)


def test_reads_nab_file(shared_data: Path) -> None:
    s = SeriesSample.from_path(shared_data / "nab" / "data" / "realKnownCause" / "nyc_taxi.csv")
    assert s.length == 10320 and s.is_datetime and s.columns == ("value",)


def test_parquet_without_engine_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from genad.errors import MissingDependencyError

    def no_engine(*_args: object, **_kwargs: object) -> None:
        raise ImportError("Unable to find a usable engine")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    (tmp_path / "a.parquet").write_bytes(b"PAR1")
    with pytest.raises(MissingDependencyError, match="pyarrow"):
        SeriesSample.from_path(tmp_path / "a.parquet")
