"""The ``genad`` command: version, help, pictures, compact JSON, loader options, argument checks, pipes, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from genad import AnomalyReport, Region
from genad._cli import load_with_options, main
from genad.errors import InputError
from genad.synthetic import make_image


def _clear_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GENAD_MODEL", "GENAD_BASE_URL", "GENAD_API_KEY", "OPENAI_MODEL", "OPENAI_BASE_URL",
                 "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def _pump_csv(path: Path, n: int = 300) -> Path:
    """A SKAB-like file: ``;``-separated, a datetime index, two channels and the label columns."""
    rng = np.random.default_rng(0)
    anomaly = np.zeros(n)
    anomaly[200:230] = 1
    frame = pd.DataFrame({
        "datetime": pd.date_range("2020-03-09 10:00", periods=n, freq="s").astype(str),
        "Pressure": np.sin(np.arange(n) / 7.0) + 0.05 * rng.normal(size=n) + 3 * anomaly,
        "Temperature": 70 + 0.1 * rng.normal(size=n),
        "anomaly": anomaly, "changepoint": np.r_[np.zeros(200), 1, np.zeros(n - 201)],
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep=";", index=False)
    return path


def test_version_and_help_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    from genad import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"genad {__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "examples:" in text
    assert "genad demo" in text
    assert "genad eval ../shared/data/mvtec_ad" in text
    assert "--overlay" in text
    assert "GENAD_MODEL" in text


def test_to_json_keeps_number_lists_on_one_line() -> None:
    mask = np.zeros((300, 300), bool)
    mask[50:150, 60:200] = True
    report = AnomalyReport(True, 0.9, regions=(Region(box=(60, 50, 200, 150), mask=mask, label="dent"),),
                           modality="image")
    text = report.to_json()
    old = json.dumps(report.to_dict(), indent=2)  # one number a line
    assert len(text) < len(old) / 2
    assert text.count("\n") == 36 < old.count("\n") / 6  # the mask is one line of 200 run lengths
    assert '"rle": [15060,140,160,140' in text
    assert AnomalyReport.from_json(text).to_dict() == report.to_dict()
    one_line = report.to_json(indent=None)
    assert "\n" not in one_line
    assert json.loads(one_line) == json.loads(text)


@pytest.mark.slow
def test_detect_saves_the_overlay_and_prints_compact_json(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_endpoint(monkeypatch)
    part, good = make_image("washer", "scratch", seed=3), make_image("washer", None, seed=1)
    Image.fromarray(part.image).save(tmp_path / "part.png")
    Image.fromarray(good.image).save(tmp_path / "good.png")
    code = main(["detect", str(tmp_path / "part.png"), "-r", str(tmp_path / "good.png"), "--json",
                 "--overlay", str(tmp_path / "out" / "overlay.png")])
    text = capsys.readouterr().out
    assert code == 0
    report = json.loads(text)
    assert report["is_anomalous"] is True
    assert any(r["kind"] == "mask" for r in report["regions"])
    rle_lines = [line for line in text.splitlines() if '"rle": [' in line]
    assert rle_lines and all(line.rstrip().rstrip(",").endswith("]") for line in rle_lines)  # a mask is one line
    assert text.count("\n") < json.dumps(report, indent=2).count("\n") - len(rle_lines[0].split(","))
    overlay = Image.open(tmp_path / "out" / "overlay.png")
    assert overlay.size == (256, 256)
    assert np.asarray(overlay).std() > 10


def test_series_columns_reach_the_loader(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_endpoint(monkeypatch)
    path = _pump_csv(tmp_path / "pump.csv")
    everything = load_with_options(str(path), None, {})
    assert everything == str(path)  # without options the detector loads it
    chosen = load_with_options(str(path), None, {"columns": ["Pressure", "Temperature"]})
    assert chosen.columns == ("Pressure", "Temperature")
    assert len(chosen.index) == 300
    assert main(["detect", str(path), "--columns", "Pressure,Temperature", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["modality"] == "series"
    assert main(["detect", str(path), "--option", "columns=Pressure", "--json"]) == 0
    capsys.readouterr()
    assert main(["detect", str(path), "--columns", "Pressure,Nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("genad: InputError: pump.csv has no column(s) ['Nope']")
    assert main(["detect", str(path), "--option", "window=5"]) == 2
    assert capsys.readouterr().err.strip() == "genad: InputError: the series loader takes no option window; it " \
                                              "takes columns"
    with pytest.raises(InputError, match="image loader takes no option columns"):
        load_with_options(np.zeros((8, 8, 3), np.uint8), None, {"columns": ["a"]})


def test_skab_label_columns_are_not_channels_in_eval(tmp_path: Path) -> None:
    from genad.eval._datasets import read_dataset

    _pump_csv(tmp_path / "skab" / "valve" / "1.csv")
    (item,) = read_dataset(tmp_path / "skab")
    assert list(item.sample.columns) == ["Pressure", "Temperature"]
    assert item.windows == ((200, 229),)


def test_eval_checks_its_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--shots", "-1"], ["--limit", "0"], ["--threads", "0"], ["--workers", "0"],
                 ["--ci-resamples", "-5"], ["--shots", "two"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["eval", str(tmp_path), *args])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert "must be" in err or "whole number" in err, err
    with pytest.raises(SystemExit):
        main(["eval", str(tmp_path), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_verify_without_a_vlm_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_endpoint(monkeypatch)
    path = _pump_csv(tmp_path / "pump.csv")
    assert main(["detect", str(path), "--verify"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("genad: ConfigurationError: --verify needs a VLM: pass --model and --base-url")


@pytest.mark.parametrize("command", [["detect", "{csv}", "--mode", "vlm"], ["eval", "{dir}", "--mode", "vlm"]])
def test_a_missing_endpoint_names_the_options_and_variables(tmp_path: Path, command: list[str],
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_endpoint(monkeypatch)
    csv = _pump_csv(tmp_path / "skab" / "valve" / "1.csv")
    args = [a.format(csv=csv, dir=tmp_path / "skab") for a in command]
    assert main([*args, "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "m.json")]
                if command[0] == "eval" else args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("genad: ConfigurationError: ")
    assert "--model NAME and --base-url URL" in err
    assert "GENAD_MODEL" in err


def _skab(tmp_path: Path) -> Path:
    for i in range(3):
        _pump_csv(tmp_path / "skab" / "valve" / f"{i}.csv", n=260 + 20 * i)
    return tmp_path / "skab"


def test_eval_output_cut_short_by_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    data = _skab(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "genad", "eval", str(data), "--quiet", "--cache", str(tmp_path / "cache"),
           "--out", str(tmp_path / "m.json")]
    # the reader is gone before genad writes anything: every write meets a broken pipe
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(300) == 141
    assert err == ""
    assert json.loads((tmp_path / "m.json").read_text())["categories"]["valve"]["n"] == 3
    # and as a shell pipeline into head
    shell = subprocess.run(["bash", "-c", " ".join(cmd) + " 2>err.txt | head -1; "
                            + " ".join([sys.executable, "-m", "genad", "detect", str(data / "valve" / "0.csv"),
                                        "--json"]) + " 2>>err.txt | head -1"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert shell.stdout.splitlines() == [f"skab · mode=local · shots=1 (alone) · {data}", "{"]
    assert (tmp_path / "err.txt").read_text() == ""


def test_eval_says_what_it_does_after_scoring(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _skab(tmp_path)
    assert main(["eval", str(data), "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "m.json"),
                 "--report", str(tmp_path / "r.html")]) == 0
    captured = capsys.readouterr()
    after = captured.err.rsplit("skab local", 1)[-1]  # what follows the scoring bar
    assert "metrics" in after
    assert "report" in after
    assert "[lo, hi]" in captured.out or "—" in captured.out
