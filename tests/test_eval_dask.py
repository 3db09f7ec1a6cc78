"""``genad eval`` on Dask: a local cluster of worker processes gives the in-process results, and resumes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genad import Detector
from genad.eval._datasets import read_dataset
from genad.eval._runner import EvalRecord, Runner
from genad.modalities.image import ImageExpert
from genad.synthetic import write_set

distributed = pytest.importorskip("distributed", reason='needs the dask extra: pip install -e ".[dask]"')


def _same(a: list[EvalRecord], b: list[EvalRecord]) -> None:
    """Same results up to float rounding: Dask starts its workers with one BLAS thread (OMP_NUM_THREADS=1), which
    sums in another order than this process, so scores may differ in the sixth decimal."""
    assert [r.item.name for r in a] == [r.item.name for r in b]
    for x, y in zip(a, b, strict=True):
        assert (x.report.status, x.report.is_anomalous) == (y.report.status, y.report.is_anomalous), x.item.name
        assert x.report.score == pytest.approx(y.report.score, abs=1e-5), x.item.name
        assert x.references == y.references
        assert x.report.anomaly_map is not None and y.report.anomaly_map is not None
        assert np.allclose(x.report.anomaly_map, y.report.anomaly_map, atol=1e-4)
        assert [_place(r.to_dict()) for r in x.report.regions] == [_place(r.to_dict()) for r in y.report.regions]
        assert [r.confidence for r in x.report.regions] == pytest.approx([r.confidence for r in y.report.regions],
                                                                         abs=1e-5)


def _place(region: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in region.items() if k != "confidence"}


def _detector() -> Detector:
    """Each sample scored alone with its reference, so that a run resumes sample by sample (with the batch as
    context, a category is one job and resumes whole, as in ``tests/test_eval_zero_shot.py``)."""
    return Detector(mode="local", experts={"image": ImageExpert(batch_context=False)})


@pytest.mark.slow
def test_dask_workers_give_the_in_process_results_and_resume(tmp_path: Path) -> None:
    data = read_dataset(write_set(tmp_path / "data", n_good=3, n_per_defect=1, size=96))
    here = Runner(_detector(), shots=1, cache_dir=tmp_path / "here", progress=False).run(data)
    assert len(here) == 10

    # a first, partial run (two samples per category) on a cluster the runner starts (genad eval --workers 2)
    first = Runner(_detector(), shots=1, cache_dir=tmp_path / "dask", limit=2, processes=2,
                   progress=False).run(data)
    assert len(first) == 4
    assert not any(r.cached for r in first)

    stored: list[tuple[str, bool]] = []

    def seen(record: EvalRecord, from_store: bool) -> Any:
        stored.append((record.item.name, from_store))

    # the full run, on a running cluster (genad eval --scheduler ADDRESS), goes on where the first stopped
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0") as cluster:
        full = Runner(_detector(), shots=1, cache_dir=tmp_path / "dask", progress=False,
                      scheduler=cluster.scheduler_address, on_result=seen).run(data)
    assert sorted(name for name, from_store in stored if from_store) == sorted(r.item.name for r in first)
    assert sum(1 for _, from_store in stored if not from_store) == 6
    _same(full, here)
    _same(first, [r for r in here if r.item.name in {f.item.name for f in first}])


def test_an_unreachable_scheduler_is_a_configuration_error(tmp_path: Path) -> None:
    import socket

    import dask

    from genad.errors import ConfigurationError

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = read_dataset(write_set(tmp_path / "data", n_good=2, n_per_defect=1, size=64), category="weave")
    runner = Runner(Detector(mode="local"), shots=1, progress=False, scheduler=f"tcp://127.0.0.1:{port}")
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}),  \
            pytest.raises(ConfigurationError, match="cannot reach the Dask scheduler"):
        runner.run(data)
