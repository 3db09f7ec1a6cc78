"""Point-cloud readers and input validation."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from genad.errors import CorruptInputError, EmptyInputError, InputError, UnsupportedInputError
from genad.modalities.pointcloud import PointCloudSample


def _cloud(n: int = 50, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 3))


def _write_ply(path: Path, points: np.ndarray, labels: np.ndarray, binary: bool = True) -> None:
    header = (f"ply\nformat {'binary_little_endian' if binary else 'ascii'} 1.0\ncomment test\n"
              f"element vertex {len(points)}\nproperty float x\nproperty float y\nproperty float z\n"
              "property int label\nend_header\n")
    if binary:
        body = b"".join(struct.pack("<fffi", *p, int(lab)) for p, lab in zip(points, labels, strict=True))
        path.write_bytes(header.encode() + body)
    else:
        rows = "".join(f"{p[0]} {p[1]} {p[2]} {int(lab)}\n" for p, lab in zip(points, labels, strict=True))
        path.write_text(header + rows)


@pytest.mark.parametrize("binary", [True, False])
def test_ply_keeps_labels(tmp_path: Path, binary: bool) -> None:
    pts = _cloud().astype(np.float32)
    labels = np.arange(len(pts)) % 2
    path = tmp_path / "c.ply"
    _write_ply(path, pts, labels, binary)
    sample = PointCloudSample.from_path(path)
    assert sample.points.dtype == np.float64
    np.testing.assert_allclose(sample.points, pts, rtol=1e-6)
    assert sample.labels is not None
    np.testing.assert_array_equal(sample.labels, labels)
    assert sample.modality == "pointcloud"
    assert sample.name == str(path)


def test_ply_without_vertices(tmp_path: Path) -> None:
    path = tmp_path / "empty.ply"
    path.write_text("ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nproperty float y\n"
                    "property float z\nend_header\n")
    with pytest.raises(EmptyInputError):
        PointCloudSample.from_path(path)
    path.write_text("ply\nformat ascii 1.0\nelement face 0\nproperty list uchar int vertex_indices\nend_header\n")
    with pytest.raises(EmptyInputError):
        PointCloudSample.from_path(path)


def test_ply_garbage(tmp_path: Path) -> None:
    path = tmp_path / "bad.ply"
    path.write_bytes(b"not a ply at all")
    with pytest.raises(CorruptInputError):
        PointCloudSample.from_path(path)


def test_pcd_ascii_and_binary(tmp_path: Path) -> None:
    pts = _cloud(20).astype(np.float32)
    label = np.arange(20, dtype=np.uint32)
    head = ("VERSION .7\nFIELDS x y z label\nSIZE 4 4 4 4\nTYPE F F F U\nCOUNT 1 1 1 1\n"
            "WIDTH 20\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS 20\n")
    ascii_path = tmp_path / "a.pcd"
    ascii_path.write_text(head + "DATA ascii\n" + "".join(f"{x} {y} {z} {v}\n" for (x, y, z), v in
                                                          zip(pts, label, strict=True)))
    dtype = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("label", "<u4")])
    rec = np.zeros(20, dtype)
    rec["x"], rec["y"], rec["z"], rec["label"] = pts[:, 0], pts[:, 1], pts[:, 2], label
    bin_path = tmp_path / "b.pcd"
    bin_path.write_bytes((head + "DATA binary\n").encode() + rec.tobytes())
    for path in (ascii_path, bin_path):
        sample = PointCloudSample.from_path(path)
        np.testing.assert_allclose(sample.points, pts, rtol=1e-6)
        np.testing.assert_array_equal(sample.attributes["label"], label)


# Eight points (x = linspace(0, 1), y = 0, z = 2.5, label = 7), field by field, compressed by liblzf through the
# python-lzf package (0.2.6); genad does not depend on it.
_LZF_CLOUD = bytes.fromhex("0e000000002549123e2549923eb76ddb20070c123f6edb363fb76d5b3f0000802003e01700012040e013030007"
                           "203ee01103010000")


def test_pcd_binary_compressed(tmp_path: Path) -> None:
    head = ("VERSION .7\nFIELDS x y z label\nSIZE 4 4 4 4\nTYPE F F F U\nCOUNT 1 1 1 1\n"
            "WIDTH 8\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS 8\nDATA binary_compressed\n")
    sizes = np.array([len(_LZF_CLOUD), 8 * 16], "<u4").tobytes()
    path = tmp_path / "c.pcd"
    path.write_bytes(head.encode() + sizes + _LZF_CLOUD)
    sample = PointCloudSample.from_path(path)
    expected = np.stack([np.linspace(0, 1, 8), np.zeros(8), np.full(8, 2.5)], axis=1)
    np.testing.assert_allclose(sample.points, expected, rtol=1e-6)
    np.testing.assert_array_equal(sample.attributes["label"], np.full(8, 7))
    path.write_bytes(head.encode() + sizes + _LZF_CLOUD[:-5])
    with pytest.raises(CorruptInputError):
        PointCloudSample.from_path(path)


def test_lzf_literals_and_overlapping_back_references() -> None:
    from genad.modalities.pointcloud._sample import _lzf_decompress

    # "abc" as literals, then 9 bytes copied from 3 back: the copy overlaps its own output.
    assert _lzf_decompress(bytes([2]) + b"abc" + bytes([0xE0, 0, 2]), 12) == b"abcabcabcabc"
    # a short back reference (length 3 + 2) from 5 back, without overlap.
    assert _lzf_decompress(bytes([4]) + b"hello" + bytes([0x60, 4]), 10) == b"hellohello"
    with pytest.raises(CorruptInputError):
        _lzf_decompress(bytes([0x20, 9]), 3)  # refers before the start
    with pytest.raises(CorruptInputError):
        _lzf_decompress(bytes([2]) + b"abc", 4)  # expands to the wrong size


def test_xyz_text_with_normals(tmp_path: Path) -> None:
    pts = _cloud(10)
    normals = pts / np.linalg.norm(pts, axis=1, keepdims=True)
    path = tmp_path / "c.xyz"
    np.savetxt(path, np.hstack([pts, normals]))
    sample = PointCloudSample.from_path(path)
    np.testing.assert_allclose(sample.points, pts)
    assert sample.normals is not None
    np.testing.assert_allclose(sample.normals, normals, atol=1e-9)


def test_npy_and_mesh(tmp_path: Path) -> None:
    import trimesh

    np.save(tmp_path / "c.npy", _cloud())
    assert len(PointCloudSample.from_path(tmp_path / "c.npy")) == 50
    trimesh.creation.box().export(tmp_path / "box.stl")
    sample = PointCloudSample.from_path(tmp_path / "box.stl", n_samples=500)
    assert len(sample) == 500
    assert sample.normals is not None
    assert np.abs(sample.points).max() <= 0.5 + 1e-9
    (tmp_path / "vertices.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    assert len(PointCloudSample.from_path(tmp_path / "vertices.obj")) == 3


def test_organised_tiff_drops_background(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    xyz = np.zeros((4, 5, 3), np.float32)
    xyz[1:3, 1:4] = np.random.default_rng(0).normal(size=(2, 3, 3))
    tifffile.imwrite(tmp_path / "xyz.tiff", xyz, photometric="rgb")
    sample = PointCloudSample.from_path(tmp_path / "xyz.tiff")
    assert len(sample) == 6
    np.testing.assert_allclose(sample.points, xyz.reshape(-1, 3)[sample.attributes["pixel_index"]])


@pytest.mark.parametrize(
    ("array", "error"),
    [
        (np.empty((0, 3)), EmptyInputError),
        (np.zeros((1, 3)), InputError),
        (np.array([[0.0, 0.0, np.nan], [1.0, 2.0, 3.0]]), InputError),
        (np.ones((30, 3)), InputError),
        (np.zeros((10, 2)), UnsupportedInputError),
        (np.array([["a", "b", "c"]]), UnsupportedInputError),
    ],
    ids=["empty", "one-point", "nan", "coincident", "2d", "strings"],
)
def test_bad_arrays(array: np.ndarray, error: type[Exception]) -> None:
    with pytest.raises(error):
        PointCloudSample.from_array(array)


def test_missing_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        PointCloudSample.from_path(tmp_path / "nope.ply")
    (tmp_path / "c.abc").write_text("1 2 3\n")
    with pytest.raises(UnsupportedInputError):
        PointCloudSample.from_path(tmp_path / "c.abc")


def test_shared_data_labels(shared_data: Path) -> None:
    path = shared_data / "pointcloud_mesh_defects" / "teapot" / "hole" / "000.ply"
    sample = PointCloudSample.from_path(path)
    assert sample.labels is not None
    assert 0 < int(sample.labels.sum()) < len(sample)
