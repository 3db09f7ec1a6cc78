"""Dataset readers on tiny layouts written here, and on ../shared/data when present."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from genad.errors import DataError
from genad.eval._datasets import detect_format, load_mask, read_dataset, read_ply_labels


def _png(path: Path, value: int = 0, size: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size, size), value, np.uint8))


def _mvtec(root: Path) -> Path:
    cat = root / "widget"
    for i in range(3):
        _png(cat / "good" / f"{i:03d}.png")
    _png(cat / "scratch" / "000.png", 200)
    mask = np.zeros((8, 8), np.uint8)
    mask[2:4, 2:5] = 255
    (cat / "ground_truth" / "scratch").mkdir(parents=True)
    cv2.imwrite(str(cat / "ground_truth" / "scratch" / "000_mask.png"), mask)
    _png(cat / "crack" / "000.png", 100)
    return root


def test_mvtec_reader_labels_masks_and_defect_types(tmp_path: Path) -> None:
    ds = read_dataset(_mvtec(tmp_path))
    assert ds.format == "mvtec"
    assert ds.categories == ["widget"]
    by_name = {it.name: it for it in ds}
    assert [it.label for it in ds].count(0) == 3
    scratch = by_name["widget/scratch/000.png"]
    assert (scratch.label, scratch.defect_type, scratch.modality) == (1, "scratch", "image")
    m = load_mask(scratch)
    assert m is not None
    assert m.sum() == 6
    assert by_name["widget/crack/000.png"].mask is None
    assert load_mask(by_name["widget/good/000.png"], shape=(8, 8)).sum() == 0  # type: ignore[union-attr]


def test_official_split_layout_marks_train_images(tmp_path: Path) -> None:
    cat = tmp_path / "widget"
    _png(cat / "train" / "good" / "000.png")
    _png(cat / "test" / "good" / "000.png")
    _png(cat / "test" / "hole" / "000.png", 9)
    (cat / "ground_truth" / "hole" / "000").mkdir(parents=True)
    _png(cat / "ground_truth" / "hole" / "000" / "000.png", 255)
    _png(cat / "ground_truth" / "hole" / "000" / "001.png", 0)
    (cat / "defects_config.json").write_text("[]")
    ds = read_dataset(tmp_path)
    assert ds.format == "loco"
    splits = {it.name: it.split for it in ds}
    assert splits == {"widget/train/good/000.png": "train", "widget/good/000.png": "test",
                      "widget/hole/000.png": "test"}
    hole = next(it for it in ds if it.label == 1)
    assert isinstance(hole.mask, tuple)
    assert len(hole.mask) == 2
    assert load_mask(hole).all()  # type: ignore[union-attr]
    assert hole.meta["defects_config"].endswith("defects_config.json")


def test_deeppcb_pairs_template_as_reference(tmp_path: Path) -> None:
    cat = tmp_path / "pcb"
    _png(cat / "good" / "0001_temp.png")
    _png(cat / "defect" / "0001_test.png", 255)
    (cat / "annotations").mkdir()
    (cat / "annotations" / "0001.txt").write_text("1 1 4 4 1\n2 2 5 5 3\n")
    ds = read_dataset(tmp_path)
    assert ds.format == "deeppcb"
    test = next(it for it in ds if it.label == 1)
    assert test.references == (str(cat / "good" / "0001_temp.png"),)
    assert test.defect_type == "mousebite,open"
    assert test.meta["boxes"][0] == [1, 1, 4, 4, 1]


def test_ucsd_reader_frame_labels(tmp_path: Path) -> None:
    for i in range(4):
        _png(tmp_path / "frames" / "01" / f"{i:03d}.jpg")
    (tmp_path / "labels.json").write_text(json.dumps({"01": {"frame_labels": [0, 1, 1, 0]}}))
    ds = read_dataset(tmp_path)
    assert ds.format == "ucsd"
    (clip,) = ds.items
    assert clip.modality == "video"
    assert clip.windows == ((1, 2),)
    assert clip.frame_labels.tolist() == [0, 1, 1, 0]  # type: ignore[union-attr]


def test_ucsd_frame_count_mismatch_is_a_data_error(tmp_path: Path) -> None:
    _png(tmp_path / "frames" / "01" / "000.jpg")
    (tmp_path / "labels.json").write_text(json.dumps({"01": {"frame_labels": [0, 1]}}))
    with pytest.raises(DataError, match="1 frames but 2"):
        read_dataset(tmp_path)


def test_nab_reader_maps_windows_to_rows(tmp_path: Path) -> None:
    (tmp_path / "data" / "real").mkdir(parents=True)
    (tmp_path / "labels").mkdir()
    rows = "\n".join(f"2020-01-01 00:{m:02d}:00,{m}" for m in range(10))
    (tmp_path / "data" / "real" / "a.csv").write_text("timestamp,value\n" + rows + "\n")
    (tmp_path / "data" / "real" / "b.csv").write_text("timestamp,value\n" + rows + "\n")
    labels = {"real/a.csv": [["2020-01-01 00:03:00.000000", "2020-01-01 00:05:00.000000"]], "real/b.csv": []}
    (tmp_path / "labels" / "combined_windows.json").write_text(json.dumps(labels))
    ds = read_dataset(tmp_path)
    assert ds.format == "nab"
    a, b = ds.items
    assert (a.label, a.windows, b.label, b.windows) == (1, ((3, 5),), 0, ())


def test_skab_ucr_smap_readers(tmp_path: Path) -> None:
    skab = tmp_path / "skab" / "valve"
    skab.mkdir(parents=True)
    lines = ["datetime;a;b;anomaly;changepoint"] + [
        f"2020-01-01 00:00:0{i};{i};{i};{int(i in (2, 3))};0" for i in range(6)]
    (skab / "1.csv").write_text("\n".join(lines) + "\n")
    (skab.parent / "free.csv").write_text("datetime;a;b\n2020-01-01 00:00:00;1;2\n")
    ds = read_dataset(tmp_path / "skab")
    assert ds.format == "skab"
    valve = ds.category("valve")[0]
    assert valve.windows == ((2, 3),)
    assert list(valve.sample.columns) == ["a", "b"]
    assert ds.category("skab")[0].label == 0

    ucr = tmp_path / "ucr"
    ucr.mkdir()
    np.savetxt(ucr / "001_UCR_Anomaly_Thing7_4_6_7.txt", np.arange(10.0))
    (item,) = read_dataset(ucr).items
    assert item.category == "Thing"
    assert item.windows == ((1, 2),)
    assert item.sample.iloc[1] == 5.0
    assert len(item.references[0]) == 4

    smap = tmp_path / "smap"
    (smap / "test").mkdir(parents=True)
    (smap / "train").mkdir()
    np.save(smap / "test" / "A-1.npy", np.zeros((20, 3)))
    np.save(smap / "train" / "A-1.npy", np.zeros((15, 3)))
    (smap / "labeled_anomalies.csv").write_text('chan_id,spacecraft,anomaly_sequences\nA-1,SMAP,"[[4, 6]]"\n')
    (item,) = read_dataset(smap).items
    assert (item.category, item.windows, item.sample.shape, len(item.references[0])) == ("SMAP", ((4, 6),), (20, 3), 15)


def _ply(path: Path, labels: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(labels)
    header = (f"ply\nformat binary_little_endian 1.0\nelement vertex {n}\nproperty float x\nproperty float y\n"
              "property float z\nproperty int label\nend_header\n").encode()
    data = np.zeros(n, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("label", "<i4")])
    data["label"] = labels
    path.write_bytes(header + data.tobytes())


def test_pointcloud_reader_reads_point_labels(tmp_path: Path) -> None:
    _ply(tmp_path / "cube" / "good" / "000.ply", [0, 0, 0])
    _ply(tmp_path / "cube" / "dent" / "000.ply", [0, 1, 1, 0])
    ds = read_dataset(tmp_path)
    assert ds.format == "pointcloud"
    dent = next(it for it in ds if it.label == 1)
    assert dent.point_labels.tolist() == [0, 1, 1, 0]  # type: ignore[union-attr]
    ascii_ply = tmp_path / "a.ply"
    ascii_ply.write_text("ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\n"
                         "property float z\nproperty uchar label\nend_header\n0 0 0 1\n1 1 1 0\n")
    assert read_ply_labels(ascii_ply).tolist() == [1, 0]  # type: ignore[union-attr]


def test_category_filter_and_errors(tmp_path: Path) -> None:
    root = _mvtec(tmp_path / "m")
    assert len(read_dataset(root, category="widget")) == 5
    with pytest.raises(DataError, match="no category"):
        read_dataset(root, category="gadget")
    with pytest.raises(DataError, match="unknown format"):
        read_dataset(root, fmt="kitti")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="cannot tell the layout"):
        detect_format(tmp_path / "empty")


EXPECTED = {
    "mvtec_ad": ("mvtec", 29, 15), "mvtec_loco": ("loco", 10, 5), "deeppcb": ("deeppcb", 40, 20),
    "ucsd_ped2": ("ucsd", 7, 7), "nab": ("nab", 40, 36), "skab": ("skab", 25, 24), "ucr_anomaly": ("ucr", 4, 4),
    "nasa_smap_msl": ("smap", 4, 4), "pointcloud_mesh_defects": ("pointcloud", 72, 48),
    "kolektorsdd": ("mvtec", 16, 9), "bsdata": ("mvtec", 17, 10), "aitex_fabric": ("mvtec", 14, 8),
}


@pytest.mark.shared_data
@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_shared_data_layouts(shared_data: Path, folder: str) -> None:
    fmt, n, n_anomalous = EXPECTED[folder]
    ds = read_dataset(shared_data / folder)
    assert (ds.format, len(ds), sum(it.label for it in ds)) == (fmt, n, n_anomalous)


@pytest.mark.shared_data
def test_shared_ground_truth_agrees_with_labels(shared_data: Path) -> None:
    ucsd = read_dataset(shared_data / "ucsd_ped2")
    assert [int(it.frame_labels.sum()) for it in ucsd] == [120, 86, 146, 129, 159, 135, 120]  # type: ignore[union-attr]
    pc = read_dataset(shared_data / "pointcloud_mesh_defects")
    assert all((it.point_labels.sum() > 0) == bool(it.label) for it in pc)  # type: ignore[union-attr]
    nab = read_dataset(shared_data / "nab")
    assert sum(len(it.windows) for it in nab) == 81
