from __future__ import annotations

import numpy as np
import pytest

from genad import AnomalyReport, Region, Usage
from genad.errors import InputError, ParseError


def _report(**kw: object) -> AnomalyReport:
    mask = np.zeros((6, 5), bool)
    mask[2:4, 1:3] = True
    base: dict[str, object] = {
        "is_anomalous": True, "score": 0.8, "anomaly_type": "scratch",
        "regions": (Region(box=(1.0, 2.0, 3.0, 4.0), label="scratch", confidence=0.9),
                    Region(mask=mask, source="expert"),
                    Region(indices=np.array([3, 7]), source="expert"),
                    Region(interval=(10, 20), span=("2024-01-01T00:00:00", "2024-01-01T01:00:00"))),
        "explanation": "a scratch", "model": "m", "usage": Usage(10, 5, 1), "notes": ("clipped a box",),
        "anomaly_map": np.linspace(0, 1, 30, dtype=np.float32).reshape(6, 5),
    }
    base.update(kw)
    return AnomalyReport(**base)  # type: ignore[arg-type]


def test_dict_round_trip_keeps_every_region_kind() -> None:
    report = _report()
    back = AnomalyReport.from_json(report.to_json(include_map=True))
    assert [r.kind for r in back.regions] == ["box", "mask", "points", "interval"]
    assert back.regions[0].box == (1.0, 2.0, 3.0, 4.0)
    np.testing.assert_array_equal(back.regions[1].mask, report.regions[1].mask)
    np.testing.assert_array_equal(back.regions[2].indices, [3, 7])
    assert back.regions[3].interval == (10, 20)
    assert back.usage == Usage(10, 5, 1)
    assert back.notes == ("clipped a box",)
    np.testing.assert_allclose(back.anomaly_map, report.anomaly_map)  # type: ignore[arg-type]
    assert back.to_dict(include_map=True) == report.to_dict(include_map=True)


def test_map_is_left_out_unless_asked() -> None:
    assert "anomaly_map" not in _report().to_dict()


def test_mask_starting_with_true_round_trips() -> None:
    mask = np.ones((3, 3), bool)
    mask[0, 0] = False
    mask[2, 2] = False
    region = Region.from_dict(Region(mask=np.ones((2, 2), bool)).to_dict())
    assert region.mask is not None and region.mask.all()
    np.testing.assert_array_equal(Region.from_dict(Region(mask=mask).to_dict()).mask, mask)


def test_repr_is_readable() -> None:
    text = repr(_report())
    assert text.startswith("AnomalyReport(anomalous, score=0.800, type='scratch', regions=4")
    assert "box=(1, 2, 3, 4)" in repr(_report().regions[0])


def test_failed_report_carries_the_error_type() -> None:
    report = AnomalyReport.failed(ParseError("no verdict"), source="x.png")
    assert not report.ok
    assert report.error_type == "ParseError"
    assert report.is_anomalous is None
    assert "status='error'" in repr(report)


def test_usage_adds_up() -> None:
    total = Usage(1, 2, 1) + Usage(10, 20, 1)
    assert total == Usage(11, 22, 2)
    assert total.total_tokens == 33


def test_plot_requires_the_sample_without_source() -> None:
    with pytest.raises(InputError, match="pass the sample"):
        _report().plot()
