"""Point clouds: :class:`PointCloudSample` and its loaders (PLY, PCD, XYZ/TXT/PTS, NPY, meshes, MVTec 3D-AD TIFF)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from genad.errors import (
    CorruptInputError,
    EmptyInputError,
    InputError,
    MissingDependencyError,
    UnsupportedInputError,
)

__all__ = ["MESH_SUFFIXES", "POINTCLOUD_SUFFIXES", "PointCloudSample"]

MESH_SUFFIXES = (".obj", ".stl", ".off", ".glb", ".gltf")
POINTCLOUD_SUFFIXES = (".ply", ".pcd", ".xyz", ".pts", ".txt", ".npy", ".tif", ".tiff", *MESH_SUFFIXES)
MAX_POINTS = 50_000_000
MESH_SAMPLES = 20_000

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_PCD_TYPES = {("F", 4): "f4", ("F", 8): "f8", ("I", 1): "i1", ("I", 2): "i2", ("I", 4): "i4", ("I", 8): "i8",
              ("U", 1): "u1", ("U", 2): "u2", ("U", 4): "u4", ("U", 8): "u8"}
_NORMAL_NAMES = (("nx", "ny", "nz"), ("normal_x", "normal_y", "normal_z"))


@dataclass(frozen=True, eq=False)
class PointCloudSample:
    """A 3-D point cloud. Build one with :meth:`from_path` (PLY, PCD, XYZ, NPY, organised TIFF, meshes) or
    :meth:`from_array`.

    Parameters
    ----------
    points
        ``(N, 3)`` float64.
    normals
        Optional unit normals, ``(N, 3)``.
    attributes
        Per-point arrays of length N, such as a ground-truth ``label`` read from a PLY file.
    name
        Where it came from (a path), or ``None``.
    meta
        Where the points came from, for example ``"pixel_index"`` of an organised TIFF or the ``"up"`` direction
        a renderer should use.
    """

    points: np.ndarray
    normals: np.ndarray | None = None
    attributes: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    name: str | None = None
    modality: ClassVar[str] = "pointcloud"
    meta: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        pts = self.points
        if pts.ndim != 2 or pts.shape[1] != 3 or pts.dtype != np.float64:
            raise InputError(f"PointCloudSample.points must be (N, 3) float64, got {pts.shape} {pts.dtype}")
        where = f" in {self.name}" if self.name else ""
        if len(pts) == 0:
            raise EmptyInputError(f"point cloud{where} has no points")
        if len(pts) == 1:
            raise InputError(f"point cloud{where} has a single point; nothing to inspect")
        if not np.all(np.isfinite(pts)):
            raise InputError(f"point cloud{where} has NaN or infinite coordinates")
        if np.ptp(pts, axis=0).max() == 0.0:
            raise InputError(f"all {len(pts)} points{where} are at the same position")
        if self.normals is not None and self.normals.shape != pts.shape:
            raise InputError(f"normals must have the points' shape {pts.shape}, got {self.normals.shape}")
        for key, values in self.attributes.items():
            if len(values) != len(pts):
                raise InputError(f"attribute {key!r} has {len(values)} values for {len(pts)} points")

    def __len__(self) -> int:
        return int(self.points.shape[0])

    @property
    def labels(self) -> np.ndarray | None:
        """The per-point ``label`` attribute (ground truth in benchmark files), if the file had one."""
        return self.attributes.get("label")

    @classmethod
    def from_array(cls, obj: Any, name: str | None = None) -> PointCloudSample:
        """Wrap an ``(N, 3)`` numeric array (or a trimesh ``PointCloud``/``Trimesh``, sampled)."""
        if not isinstance(obj, np.ndarray) and type(obj).__module__.startswith("trimesh."):
            return _from_trimesh(obj, name)  # meshes and point clouds; trimesh's TrackedArray is an ndarray
        a = np.asarray(obj)
        if a.dtype == object or a.dtype.kind not in "iuf":
            raise UnsupportedInputError(f"point array must be numeric, got dtype {a.dtype}")
        if a.ndim != 2 or a.shape[1] != 3:
            if a.size == 0:
                raise EmptyInputError("point cloud has no points")
            raise UnsupportedInputError(f"point array must be (N, 3), got shape {a.shape}")
        if len(a) > MAX_POINTS:
            raise InputError(f"point cloud of {len(a)} points exceeds {MAX_POINTS}")
        return cls(np.ascontiguousarray(a, dtype=np.float64), name=name)

    @classmethod
    def from_path(cls, path: str | Path, n_samples: int = MESH_SAMPLES) -> PointCloudSample:
        """Read a point-cloud file; meshes are sampled area-uniformly (``n_samples`` points, fixed seed)."""
        p = Path(path)
        if not p.is_file():
            raise InputError(f"no such point-cloud file: {p}")
        if p.stat().st_size == 0:
            raise EmptyInputError(f"empty file: {p}")
        suffix = p.suffix.lower()
        if suffix == ".ply":
            return _read_ply(p, n_samples)
        if suffix == ".pcd":
            return _read_pcd(p)
        if suffix in (".xyz", ".pts", ".txt"):
            return _read_text(p)
        if suffix == ".npy":
            try:
                array = np.load(p, allow_pickle=False)
            except ValueError as exc:
                raise CorruptInputError(f"cannot read {p}: {exc}") from None
            return cls.from_array(array, name=str(p))
        if suffix in (".tif", ".tiff"):
            return _read_organised_tiff(p)
        if suffix in MESH_SUFFIXES:
            return _read_mesh(p, n_samples)
        raise UnsupportedInputError(f"no point-cloud loader for files ending in {suffix!r}: {p.name}")


def _split_columns(table: dict[str, np.ndarray], name: str) -> dict[str, Any]:
    """Turn named columns into the sample's points, normals and attributes."""
    if not all(k in table for k in "xyz"):
        raise CorruptInputError(f"{name} has no x, y, z fields (found {sorted(table)})")
    points = np.stack([table.pop(k) for k in "xyz"], axis=1).astype(np.float64)
    normals = None
    for names in _NORMAL_NAMES:
        if all(k in table for k in names):
            normals = _unit(np.stack([table.pop(k) for k in names], axis=1).astype(np.float64))
            break
    return {"points": points, "normals": normals, "attributes": {k: np.asarray(v) for k, v in table.items()}}


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def _read_ply(path: Path, n_samples: int) -> PointCloudSample:
    raw = path.read_bytes()
    end = raw.find(b"end_header")
    if not raw.startswith(b"ply") or end < 0:
        raise CorruptInputError(f"{path} is not a PLY file (no 'ply' magic or no end_header)")
    body_start = raw.index(b"\n", end) + 1
    header = raw[:end].decode("ascii", errors="replace").splitlines()
    fmt, elements = _parse_ply_header(header, path)
    if not elements or elements[0][0] != "vertex":
        if any(e[0] == "vertex" for e in elements):
            return _read_mesh(path, n_samples)  # vertices after another element: let trimesh sort it out
        raise EmptyInputError(f"PLY file {path} has no vertex element")
    _, count, props = elements[0]
    if count == 0:
        raise EmptyInputError(f"PLY file {path} has no vertices")
    if any(e[0] == "face" and e[1] > 0 for e in elements):
        return _read_mesh(path, n_samples)
    if any(kind == "list" for _, kind, _ in props):
        raise UnsupportedInputError(f"PLY file {path} has list properties on its vertices")
    if fmt == "ascii":
        try:
            values = np.loadtxt(raw[body_start:].decode("ascii").splitlines()[:count], ndmin=2, dtype=np.float64)
        except ValueError as exc:
            raise CorruptInputError(f"cannot read the vertices of {path}: {exc}") from None
        if values.shape != (count, len(props)):
            raise CorruptInputError(f"{path}: expected {count} x {len(props)} vertex values, got {values.shape}")
        table = {pname: values[:, i].astype(_PLY_TYPES[ptype]) for i, (pname, _, ptype) in enumerate(props)}
    else:
        order = "<" if fmt == "binary_little_endian" else ">"
        dtype = np.dtype([(pname, order + _PLY_TYPES[ptype]) for pname, _, ptype in props])
        if len(raw) - body_start < count * dtype.itemsize:
            raise CorruptInputError(f"{path} is truncated: {count} vertices announced")
        data = np.frombuffer(raw, dtype=dtype, count=count, offset=body_start)
        table = {pname: data[pname].astype(data[pname].dtype.newbyteorder("=")) for pname, _, _ in props}
    return PointCloudSample(**_split_columns(table, str(path)), name=str(path))


def _parse_ply_header(lines: list[str], path: Path) -> tuple[str, list[tuple[str, int, list[tuple[str, str, str]]]]]:
    fmt = ""
    elements: list[tuple[str, int, list[tuple[str, str, str]]]] = []
    for line in lines[1:]:
        tokens = line.split()
        if not tokens or tokens[0] in ("comment", "obj_info"):
            continue
        if tokens[0] == "format" and len(tokens) >= 2:
            fmt = tokens[1]
        elif tokens[0] == "element" and len(tokens) == 3:
            elements.append((tokens[1], int(tokens[2]), []))
        elif tokens[0] == "property" and elements:
            if tokens[1] == "list":
                elements[-1][2].append((tokens[-1], "list", tokens[3]))
            elif tokens[1] in _PLY_TYPES and len(tokens) == 3:
                elements[-1][2].append((tokens[2], "scalar", tokens[1]))
            else:
                raise CorruptInputError(f"{path}: cannot read PLY header line {line!r}")
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise CorruptInputError(f"{path}: unknown PLY format {fmt!r}")
    return fmt, elements


def _read_pcd(path: Path) -> PointCloudSample:
    raw = path.read_bytes()
    match = re.search(rb"^DATA\s+(\w+)[^\n]*\n", raw, flags=re.MULTILINE)
    if match is None:
        raise CorruptInputError(f"{path} is not a PCD file (no DATA line)")
    header: dict[str, list[str]] = {}
    for line in raw[: match.start()].decode("ascii", errors="replace").splitlines():
        tokens = line.split()
        if tokens and not tokens[0].startswith("#"):
            header[tokens[0].upper()] = tokens[1:]
    kind = match.group(1).decode()
    fields = header.get("FIELDS", [])
    sizes = [int(s) for s in header.get("SIZE", [])]
    types = header.get("TYPE", [])
    counts = [int(c) for c in header.get("COUNT", ["1"] * len(fields))]
    n = int(header.get("POINTS", ["0"])[0]) or int(np.prod([int(v) for v in header.get("WIDTH", ["0"]) +
                                                               header.get("HEIGHT", ["1"])]))
    if not fields or len(sizes) != len(fields) or len(types) != len(fields):
        raise CorruptInputError(f"{path}: PCD header has inconsistent FIELDS/SIZE/TYPE")
    if n == 0:
        raise EmptyInputError(f"PCD file {path} has no points")
    try:
        dtype = np.dtype([(f, _PCD_TYPES[(t, s)], (c,)) if c > 1 else (f, _PCD_TYPES[(t, s)])
                          for f, s, t, c in zip(fields, sizes, types, counts, strict=True)])
    except KeyError as exc:
        raise CorruptInputError(f"{path}: unknown PCD field type {exc}") from None
    body = raw[match.end():]
    if kind == "ascii":
        try:
            values = np.loadtxt(body.decode("ascii").splitlines()[:n], ndmin=2, dtype=np.float64)
        except ValueError as exc:
            raise CorruptInputError(f"cannot read the points of {path}: {exc}") from None
        data = np.zeros(len(values), dtype=dtype)
        col = 0
        for f, c in zip(fields, counts, strict=True):
            data[f] = values[:, col] if c == 1 else values[:, col:col + c]
            col += c
    elif kind == "binary":
        if len(body) < n * dtype.itemsize:
            raise CorruptInputError(f"{path} is truncated: {n} points announced")
        data = np.frombuffer(body, dtype=dtype, count=n)
    elif kind == "binary_compressed":
        data = _pcd_compressed(body, dtype, n, path)
    else:
        raise UnsupportedInputError(f"{path}: PCD DATA {kind!r} is not supported "
                                    "(use ascii, binary or binary_compressed)")
    table = {f: np.asarray(data[f]) for f in fields if f != "_"}
    table = {f: v for f, v in table.items() if v.ndim == 1}
    sample = PointCloudSample(**_split_columns(table, str(path)), name=str(path))
    keep = np.all(np.isfinite(sample.points), axis=1)  # PCL marks invalid points of organised clouds with NaN
    if keep.all():
        return sample
    return _subset(sample, keep)


def _pcd_compressed(body: bytes, dtype: np.dtype, n: int, path: Path) -> np.ndarray:
    """Points of a PCD ``binary_compressed`` body: two little-endian uint32 (compressed and raw size), then LZF
    data that expands to each field's ``n`` values in turn (field by field, not point by point)."""
    if len(body) < 8:
        raise CorruptInputError(f"{path} is truncated: no compressed-size header")
    packed, size = (int(v) for v in np.frombuffer(body[:8], "<u4"))
    if size != n * dtype.itemsize or len(body) < 8 + packed:
        raise CorruptInputError(f"{path}: compressed PCD sizes do not match {n} points")
    raw = _lzf_decompress(body[8:8 + packed], size)
    data = np.zeros(n, dtype)
    offset = 0
    for name in dtype.names or ():
        data[name] = np.frombuffer(raw, dtype=dtype[name], count=n, offset=offset)
        offset += n * dtype[name].itemsize
    return data


def _lzf_decompress(packed: bytes, size: int) -> bytes:
    """Expand LZF data (liblzf's format, as PCL writes it) to exactly ``size`` bytes.

    Each control byte below 32 starts a run of ``control + 1`` literal bytes; any other is a back reference of
    ``control >> 5`` (7 means "add the next byte") plus 2 bytes, starting ``((control & 31) << 8) + next + 1``
    bytes back in the output. Malformed input raises :class:`CorruptInputError`.
    """
    out = bytearray()
    i, end = 0, len(packed)
    try:
        while i < end:
            control = packed[i]
            i += 1
            if control < 32:
                run = packed[i:i + control + 1]
                if len(run) != control + 1:
                    raise IndexError
                out += run
                i += control + 1
                continue
            length = control >> 5
            if length == 7:
                length += packed[i]
                i += 1
            distance = ((control & 31) << 8) + packed[i] + 1
            i += 1
            length += 2
            start = len(out) - distance
            if start < 0:
                raise IndexError
            if distance >= length:
                out += out[start:start + length]
            else:  # the copy overlaps what it writes: repeat the last ``distance`` bytes
                out += (out[start:] * (length // distance + 1))[:length]
    except IndexError:
        raise CorruptInputError("LZF data is truncated or refers before its start") from None
    if len(out) != size:
        raise CorruptInputError(f"LZF data expands to {len(out)} bytes, {size} expected")
    return bytes(out)


def _subset(sample: PointCloudSample, keep: np.ndarray) -> PointCloudSample:
    normals = None if sample.normals is None else sample.normals[keep]
    attributes = {k: v[keep] for k, v in sample.attributes.items()}
    return PointCloudSample(sample.points[keep], normals, attributes, sample.name, dict(sample.meta))


def _read_text(path: Path) -> PointCloudSample:
    lines = path.read_text(errors="replace").splitlines()
    if lines and len(lines[0].split()) == 1:
        lines = lines[1:]  # .pts files start with the point count
    try:
        values = np.loadtxt([ln.replace(",", " ") for ln in lines], ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise CorruptInputError(f"cannot read numbers from {path}: {exc}") from None
    if values.size == 0:
        raise EmptyInputError(f"{path} has no points")
    if values.shape[1] < 3:
        raise CorruptInputError(f"{path}: need at least 3 columns (x y z), got {values.shape[1]}")
    normals = None
    attributes: dict[str, np.ndarray] = {}
    extra = values[:, 3:]
    if extra.shape[1] >= 3 and np.allclose(np.linalg.norm(extra[:, :3], axis=1), 1.0, atol=1e-3):
        normals, extra = extra[:, :3], extra[:, 3:]
    for i in range(extra.shape[1]):
        attributes[f"column_{i + 3 + (3 if normals is not None else 0)}"] = extra[:, i]
    return PointCloudSample(np.ascontiguousarray(values[:, :3]), normals, attributes, name=str(path))


def _read_organised_tiff(path: Path) -> PointCloudSample:
    """An MVTec 3D-AD ``xyz`` TIFF: ``(H, W, 3)`` coordinates per pixel, all-zero pixels are removed background."""
    try:
        import tifffile
    except ImportError:
        raise MissingDependencyError("reading XYZ TIFF point clouds needs tifffile: pip install 'genad[pointcloud]'")\
            from None
    try:
        xyz = np.asarray(tifffile.imread(path))
    except (ValueError, OSError, KeyError) as exc:
        raise CorruptInputError(f"cannot decode TIFF {path}: {exc}") from None
    if xyz.ndim != 3 or xyz.shape[2] != 3:
        raise UnsupportedInputError(f"{path}: an organised point cloud TIFF must be (H, W, 3), got {xyz.shape}")
    flat = xyz.reshape(-1, 3).astype(np.float64)
    keep = np.flatnonzero(np.all(np.isfinite(flat), axis=1) & np.any(flat != 0, axis=1))
    if keep.size == 0:
        raise EmptyInputError(f"{path} has only background (all-zero) pixels")
    meta = {"organised_shape": xyz.shape[:2], "up": (0.0, 0.0, -1.0)}  # the sensor looked along +z
    return PointCloudSample(flat[keep], attributes={"pixel_index": keep}, name=str(path), meta=meta)


def _read_mesh(path: Path, n_samples: int) -> PointCloudSample:
    import trimesh

    try:
        loaded = trimesh.load(path, force="mesh", process=False)
        if len(getattr(loaded, "vertices", ())) == 0:
            loaded = trimesh.load(path, process=False)  # vertices only (no faces): trimesh gives a PointCloud
    except (ValueError, KeyError, IndexError, OSError, TypeError) as exc:
        raise CorruptInputError(f"cannot read mesh {path}: {exc}") from None
    return _from_trimesh(loaded, str(path), n_samples)


def _from_trimesh(obj: Any, name: str | None, n_samples: int = MESH_SAMPLES) -> PointCloudSample:
    import trimesh

    if isinstance(obj, trimesh.Trimesh) and len(obj.faces) > 0 and obj.area > 0:
        points, faces = trimesh.sample.sample_surface(obj, n_samples, seed=0)
        meta = {"mesh": {"vertices": len(obj.vertices), "faces": len(obj.faces)}}
        return PointCloudSample(np.asarray(points, dtype=np.float64), np.asarray(obj.face_normals[faces]),
                                name=name, meta=meta)
    vertices = np.asarray(getattr(obj, "vertices", np.empty((0, 3))), dtype=np.float64)
    if vertices.size == 0:
        raise EmptyInputError(f"{name or 'mesh'} has no vertices")
    return PointCloudSample(vertices.reshape(-1, 3), name=name)
