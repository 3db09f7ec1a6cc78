"""SeriesExpert: causal and offline scores, regions in the sample's index, references, awkward input."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest

from genad.errors import InputError
from genad.modalities.series import SeriesExpert, SeriesSample
from genad.modalities.series._expert import Mode, anomaly_likelihood, causal_scores, quiet_repeats, rank_discount


def _noisy(n: int = 1200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sin(np.arange(n) * 2 * np.pi / 50) + 0.1 * rng.normal(size=n)


@pytest.mark.parametrize("mode", ["causal", "offline"])
def test_spike_is_found_with_its_timestamps(mode: Mode) -> None:
    x = _noisy()
    x[900] += 6.0
    idx = pd.date_range("2024-01-01", periods=x.size, freq="min")
    sample = SeriesSample.from_array(pd.Series(x, index=idx))
    result = SeriesExpert(mode=mode).score(sample)
    amap = result.anomaly_map
    assert amap is not None and amap.shape == (x.size,)
    assert np.all((amap >= 0) & (amap <= 1))
    assert result.is_anomalous and abs(int(np.argmax(amap)) - 900) <= 24
    top = result.regions[0]
    assert top.source == "expert" and top.interval is not None and top.interval[0] <= 900 <= top.interval[1] + 24
    assert top.span == (idx[top.interval[0]], idx[top.interval[1]])


@pytest.mark.parametrize("mode", ["causal", "offline"])
def test_normal_series_scores_low(mode: Mode) -> None:
    result = SeriesExpert(mode=mode).score(SeriesSample.from_array(_noisy(seed=1)))
    assert result.anomaly_map is not None
    assert np.mean(result.anomaly_map >= 0.5) < 0.01


def test_causal_score_ignores_the_future() -> None:
    x = _noisy()
    y = x.copy()
    y[700:] += 50.0  # change only the future of t = 699
    expert = SeriesExpert(mode="causal")
    a = expert.score(SeriesSample.from_array(x)).anomaly_map
    b = expert.score(SeriesSample.from_array(y)).anomaly_map
    assert a is not None and b is not None
    np.testing.assert_array_equal(a[:700], b[:700])
    assert b[700] >= 0.5


def test_shape_channel_finds_a_flat_stretch_inside_the_range() -> None:
    x = _noisy(2000)
    x[1500:1600] = 0.0  # flat, but inside the usual range of values
    amap = SeriesExpert(mode="causal").score(SeriesSample.from_array(x)).anomaly_map
    assert amap is not None
    # records of the first cycles are alarms too, and the flat stretch is ranked against them (rank_discount): it
    # comes out at about the anomaly boundary, the most anomalous part after them, the 400 points before it quiet
    assert amap[1500:1600].max() >= 0.45 and amap[1500:1600].max() > amap[300:1490].max()
    assert amap[1100:1490].max() < 0.1


@pytest.mark.parametrize("mode", ["causal", "offline"])
def test_constant_series_scores_zero(mode: Mode) -> None:
    result = SeriesExpert(mode=mode).score(SeriesSample.from_array(np.full(300, 7.0)))
    assert result.score == 0.0 and result.regions == ()


@pytest.mark.parametrize("mode", ["causal", "offline"])
def test_nan_points_score_zero(mode: Mode) -> None:
    x = _noisy(600)
    x[200:220] = np.nan
    amap = SeriesExpert(mode=mode).score(SeriesSample.from_array(x)).anomaly_map
    assert amap is not None and np.all(amap[200:220] == 0.0) and np.all(np.isfinite(amap))


def test_references_are_history_causally() -> None:
    ref = _noisy(1000, seed=3)
    x = _noisy(300, seed=4)
    x[150] += 5.0
    expert = SeriesExpert(mode="causal")
    with_ref = expert.score(SeriesSample.from_array(x), references=[SeriesSample.from_array(ref)]).anomaly_map
    alone = expert.score(SeriesSample.from_array(x)).anomaly_map
    assert with_ref is not None and alone is not None
    assert with_ref[150] >= 0.5
    assert alone[:74].max() == 0.0 and with_ref[:74].max() < 0.5  # warm-up is spent on the reference


def test_offline_references_set_the_scale() -> None:
    x = _noisy(500, seed=5) * 3.0  # three times the reference's amplitude: abnormal against the reference
    ref = _noisy(500, seed=6)
    expert = SeriesExpert(mode="offline")
    assert expert.score(SeriesSample.from_array(x), references=[ref]).score > expert.score(
        SeriesSample.from_array(x)).score


def test_multivariate_takes_the_worst_column() -> None:
    data = np.column_stack([_noisy(800, seed=7), _noisy(800, seed=8)])
    data[600, 1] += 8.0
    result = SeriesExpert(mode="offline").score(SeriesSample.from_array(data))
    assert result.is_anomalous and abs(result.meta["argmax"] - 600) <= 24


def test_bad_arguments() -> None:
    with pytest.raises(InputError):
        SeriesExpert(mode=cast(Mode, "bogus")).score(SeriesSample.from_array(_noisy(100)))
    with pytest.raises(InputError, match="columns"):
        SeriesExpert().score(SeriesSample.from_array(_noisy(100)), references=[np.zeros((100, 2))])


def test_rank_discount_divides_an_alarm_by_one_plus_the_earlier_events_at_least_as_surprising() -> None:
    surprise = np.array([4.0, 0.0, 0.0, 2.0, 2.5, 0.0, 0.0, 3.0, 0.0, 0.0, 5.0, 0.5])
    # events (gap 1): {0}: 4, {3, 4}: 2.5, {7}: 3, {10}: 5; an event does not count against itself
    expected = [4.0, 0.0, 0.0, 2.0 / 2, 2.5 / 2, 0.0, 0.0, 3.0 / 2, 0.0, 0.0, 5.0, 0.5]
    np.testing.assert_allclose(rank_discount(surprise, gap=1), expected)


def test_quiet_repeats_halves_the_rest_of_an_event() -> None:
    scores = np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.2, 0.6, 0.45])
    # the alarm at 0 opens an event: the 3 points after it are halved (the alarm at 3 does not open one); 6 opens one
    np.testing.assert_allclose(quiet_repeats(scores, 3), [0.9, 0.4, 0.05, 0.35, 0.2, 0.2, 0.6, 0.225])


def test_anomaly_likelihood_is_the_gaussian_tail_of_the_recent_mean_against_its_past() -> None:
    rng = np.random.default_rng(12)
    raw = rng.normal(1.0, 0.1, 2000)
    raw[1500:1510] += 1.0  # ten points one unit up: their mean rises by ~ 1.0 / (0.1 / sqrt(10)) ~ 32 sigma
    lik = anomaly_likelihood(raw, history=1000, smooth=10, learn=300)
    assert np.all(lik[:300] == 0.0) and np.all(lik >= 0.0)
    # the rise's first points already enter the past it is compared with, so the peak comes before its end
    assert 1500 <= int(np.argmax(lik)) < 1510 and lik.max() > 50  # -log10 of a tail of more than 15 sigma
    assert np.mean(lik[300:1500] >= 8.0) == 0.0  # ordinary fluctuations stay far from a 1e-8 tail
    changed = raw.copy()
    changed[1200:] = 5.0  # only the future of t = 1199
    np.testing.assert_array_equal(anomaly_likelihood(changed, 1000, 10, 300)[:1200], lik[:1200])
    assert np.all(anomaly_likelihood(np.zeros(500), 400) == 0.0)


def test_record_calibration_of_the_shape_channel_is_kept() -> None:
    x = _noisy(2000)
    x[1500:1600] = 0.0
    record = causal_scores(x, shape_calibration="record", short_margin=0.2)
    likelihood = causal_scores(x)
    assert record.shape == likelihood.shape == x.shape and not np.array_equal(record, likelihood)
    with pytest.raises(InputError, match="shape_calibration"):
        causal_scores(x, shape_calibration=cast(Any, "bogus"))


def test_accepts_raw_arrays_and_pickles() -> None:
    expert = pickle.loads(pickle.dumps(SeriesExpert(mode="causal")))
    assert expert.score(_noisy(200)).anomaly_map is not None


def test_detects_the_nab_jump(shared_data: Path) -> None:
    root = shared_data / "nab"
    key = "artificialWithAnomaly/art_daily_jumpsup.csv"
    (start, end), = json.loads((root / "labels" / "combined_windows.json").read_text())[key]
    sample = SeriesSample.from_path(root / "data" / key)
    amap = SeriesExpert(mode="causal").score(sample).anomaly_map
    assert amap is not None
    probation = int(0.15 * sample.length)
    first_alarm = probation + int(np.argmax(amap[probation:] >= 0.5))
    assert pd.Timestamp(start) <= sample.index[first_alarm] <= pd.Timestamp(end)


def test_nab_runs_score_every_file_causally_without_references(tmp_path: Path) -> None:
    from genad import Detector
    from genad.eval._datasets import read_dataset
    from genad.eval._runner import Runner, protocol_detector

    stamps = pd.date_range("2024-01-01", periods=400, freq="5min")
    for name in ("quiet", "jump"):
        folder = tmp_path / "data" / "cat"
        folder.mkdir(parents=True, exist_ok=True)
        values = _noisy(400, seed=9) + (np.arange(400) >= 300) * 20.0 * (name == "jump")
        pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"), "value": values}).to_csv(
            folder / f"{name}.csv", index=False)
    (tmp_path / "labels").mkdir()
    window = [str(stamps[280]), str(stamps[320])]
    (tmp_path / "labels" / "combined_windows.json").write_text(json.dumps({"cat/jump.csv": [window],
                                                                            "cat/quiet.csv": []}))
    dataset = read_dataset(tmp_path, "nab")
    detector = Detector(mode="local")
    nab = protocol_detector(detector, "nab")
    assert nab.experts["series"].mode == "causal" and detector.experts is None
    assert protocol_detector(detector, "skab") is detector
    planned = Runner(detector, shots=1, progress=False).plan(dataset)
    assert [(item.name, refs) for item, refs, _ in planned] == [("cat/jump.csv", ()), ("cat/quiet.csv", ())]


def test_offline_regions_stay_within_a_tenth_of_the_series() -> None:
    ref = _noisy(1000, seed=10)
    x = _noisy(1000, seed=11) * 4.0 + 3.0  # another operating level: every point leaves the reference's range
    result = SeriesExpert(mode="offline").score(SeriesSample.from_array(x), references=[ref])
    assert result.anomaly_map is not None and np.mean(result.anomaly_map >= 0.5) <= 0.125  # "about" a tenth: ties
    assert result.regions
    assert all(r.interval is not None and r.interval[1] - r.interval[0] + 1 <= 100 for r in result.regions)


def test_confidence_states_how_often_such_verdicts_were_right() -> None:
    from genad.modalities.series._confidence import TABLE

    table = TABLE.read()
    assert table is not None, "src/genad/modalities/series/confidence.json is shipped with the package"
    x = _noisy()
    x[900] += 6.0
    alone = SeriesExpert().score(SeriesSample.from_array(x))
    assert alone.confidence is not None and 0.0 < alone.confidence <= 1.0
    assert alone.notes[-1].startswith("series alone: anomalous verdicts")
    assert f"verdicts on {len(table['sets'])} public series datasets" in alone.notes[-1]
    against = SeriesExpert().score(SeriesSample.from_array(x), [_noisy(seed=2)])
    assert against.confidence is None and "'references' verdicts were not measured" in against.notes[-1]
    causal = SeriesExpert(mode="causal").score(SeriesSample.from_array(x))
    assert causal.confidence is None and "default settings only" in causal.notes[-1]
