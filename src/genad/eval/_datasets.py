"""Readers for anomaly-detection dataset layouts: each yields :class:`EvalItem` objects with their ground truth.

Supported layouts (``fmt`` names):

- ``mvtec``: ``<category>/good/*`` normal, ``<category>/<defect>/*`` anomalous, optional masks
  ``<category>/ground_truth/<defect>/<stem>_mask.png``. The official split layout (``<category>/train/good``,
  ``<category>/test/<defect>``) also works: train images are only used as references. Files of any registered
  modality are read (images, but also a plug-in's audio files), each as the modality its suffix belongs to.
- ``loco``: MVTec LOCO, the same plus ``defects_config.json``; masks as ``<stem>_mask.png`` or as the official
  folder ``ground_truth/<defect>/<stem>/*.png`` (all masks of one image, united).
- ``deeppcb``: ``pcb/good/<id>_temp.jpg`` templates (normal), ``pcb/defect/<id>_test.jpg`` (anomalous, with its
  template as paired reference), boxes in ``pcb/annotations/<id>.txt``, masks
  ``ground_truth/defect/<id>_test_mask.png``.
- ``ucsd``: ``frames/<clip>/<NNN>.jpg`` with ``labels.json`` (``frame_labels`` per clip); one item per clip.
- ``nab``: ``data/<category>/<file>.csv`` with ``labels/combined_windows.json``.
- ``skab``: ``<category>/<n>.csv`` (``;``-separated, ``anomaly`` column; files without it are normal).
- ``ucr``: ``<id>_UCR_Anomaly_<name>_<train_end>_<start>_<end>.txt`` (1-based, inclusive); the item is the test
  part after ``train_end``, the training part is its reference.
- ``smap``: ``test/<chan>.npy``, ``train/<chan>.npy``, ``labeled_anomalies.csv``; the train array is the reference.
- ``pointcloud``: ``<object>/good/*.ply`` and ``<object>/<defect>/*.ply`` with a per-point integer ``label``.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genad._registry import get_modality, modality_names
from genad.errors import CorruptInputError, DataError, GenadError

__all__ = [
    "FORMATS",
    "PROTOCOL_EXPERTS",
    "READERS",
    "Dataset",
    "EvalItem",
    "detect_format",
    "load_mask",
    "read_dataset",
    "read_ply_labels",
]

MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
LABELLED_CLOUD_SUFFIXES = (".ply",)
"""Point clouds whose points carry a ``label`` property (the ``pointcloud`` format)."""
DEEPPCB_TYPES = {1: "open", 2: "short", 3: "mousebite", 4: "spur", 5: "spurious_copper", 6: "pin_hole"}
_UCR_NAME = re.compile(r"^(?P<id>\d+)_UCR_Anomaly_(?P<name>.+)_(?P<train>\d+)_(?P<start>\d+)_(?P<end>\d+)$")


@dataclass(frozen=True, eq=False)
class EvalItem:
    """One sample to score, with its ground truth.

    Parameters
    ----------
    name
        The item's name (the result store's key).
    sample
        A path (images, point clouds, NAB CSVs, video frame folders) or a loaded object (a pandas DataFrame for
        SKAB/SMAP, a pandas Series for UCR).
    label
        1 for anomalous, 0 for normal.
    category, modality, defect_type
        The category, the modality's name and the defect's name (``"good"`` when normal).
    mask
        Ground truth of images: a mask path, or several paths to unite.
    frame_labels
        Ground truth of videos: one 0/1 per frame.
    point_labels
        Ground truth of point clouds: one 0/1 per point.
    windows
        Ground truth of series: inclusive 0-based ``(start, end)`` positions; for video the anomalous frame
        intervals.
    timestamps
        A series' timestamps, one per row.
    references
        Paired normal samples (a DeepPCB template, a series' training part) used instead of k-shot references.
    split
        ``"train"`` for items only usable as references (never scored).
    meta
        Anything else a reader keeps (a source path, DeepPCB boxes).
    """

    name: str
    sample: Any
    label: int
    category: str
    modality: str
    defect_type: str = "good"
    mask: str | tuple[str, ...] | None = None
    frame_labels: np.ndarray | None = field(default=None, repr=False)
    point_labels: np.ndarray | None = field(default=None, repr=False)
    windows: tuple[tuple[int, int], ...] = ()
    timestamps: np.ndarray | None = field(default=None, repr=False)
    references: tuple[Any, ...] = field(default=(), repr=False)
    split: str = "test"
    meta: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_normal(self) -> bool:
        """Whether the label is 0."""
        return self.label == 0

    @property
    def length(self) -> int:
        """Positions of a series item (its rows) or frames of a video item with frame labels."""
        if self.frame_labels is not None:
            return len(self.frame_labels)
        if self.timestamps is not None:
            return len(self.timestamps)
        return len(self.sample)

    def load_mask(self, shape: tuple[int, int] | None = None) -> np.ndarray | None:
        """The ground-truth mask as a boolean ``(H, W)`` array (several masks united); see :func:`load_mask`.

        Parameters
        ----------
        shape
            ``(H, W)``: a normal item without a mask gets an all-False mask of this shape.

        Returns
        -------
        numpy.ndarray or None
            The mask; ``None`` when the item has no mask (and is not a normal item with ``shape`` given).
        """
        return load_mask(self, shape)


@dataclass
class Dataset:
    """The items of one dataset folder, in a stable order.

    Parameters
    ----------
    root
        The dataset folder.
    format
        The layout's name (see :data:`FORMATS`).
    items
        Every item, sorted by category, split and name.
    """

    root: Path
    format: str
    items: list[EvalItem]

    @property
    def categories(self) -> list[str]:
        """The categories' names, sorted."""
        return sorted({item.category for item in self.items})

    def category(self, name: str) -> list[EvalItem]:
        """The items of one category."""
        return [item for item in self.items if item.category == name]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[EvalItem]:
        return iter(self.items)


def read_dataset(path: str | Path, fmt: str = "auto", category: str | None = None) -> Dataset:
    """Read every item of a dataset folder, or of one category.

    Parameters
    ----------
    path
        The dataset folder.
    fmt
        The layout (one of :data:`FORMATS`), or ``"auto"`` to guess it.
    category
        Read only this category.

    Raises
    ------
    DataError
        When the folder does not have the layout, or holds no items (of the category).
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"not a folder: {root}")
    name = detect_format(root) if fmt == "auto" else fmt
    if name not in READERS:
        raise DataError(f"unknown format {name!r}; known: {', '.join(FORMATS)}")
    if fmt != "auto":
        _check_layout(root, name)
    try:
        items = sorted(READERS[name](root), key=lambda it: (it.category, it.split, it.name))
    except GenadError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"cannot read {root} as {name}: {type(exc).__name__}: {exc}") from None
    if category is not None:
        items = [it for it in items if it.category == category]
        if not items:
            raise DataError(f"no category {category!r} in {root}")
    if not items:
        raise DataError(f"no {name} items found in {root}")
    return Dataset(root, name, items)


def detect_format(path: str | Path) -> str:
    """Guess a folder's layout.

    Parameters
    ----------
    path
        The dataset folder.

    Raises
    ------
    DataError
        Naming the formats, when nothing matches.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"not a folder: {root}")
    found = _guess(root)
    if found is None:
        raise DataError(f"cannot tell the layout of {root}; pass --format ({', '.join(FORMATS)})")
    return found


def _guess(root: Path) -> str | None:
    """The first format whose layout test ``root`` passes, in :data:`_DETECTION_ORDER`."""
    return next((name for name in _DETECTION_ORDER if _LAYOUTS[name][0](root)), None)


def _check_layout(root: Path, fmt: str) -> None:
    """Raise :class:`DataError` when ``root`` does not have the layout of the format ``fmt`` (given explicitly)."""
    test, expected = _LAYOUTS[fmt]
    if test(root):
        return
    guess = _guess(root)
    hint = f"it looks like {guess}: pass --format {guess} or --format auto" if guess else "pass --format auto"
    raise DataError(f"{root} is not a {fmt} folder: a {fmt} folder has {expected}; {hint}")


def _is_deeppcb(root: Path) -> bool:
    return any((c / "annotations").is_dir() and any(c.rglob("*_temp.*")) for c in _category_dirs(root))


_LAYOUTS: dict[str, tuple[Callable[[Path], bool], str]] = {
    "nab": (lambda r: (r / "labels" / "combined_windows.json").is_file(),
            "labels/combined_windows.json and data/<category>/<file>.csv"),
    "ucsd": (lambda r: (r / "frames").is_dir() and (r / "labels.json").is_file(),
             "frames/<clip>/ and labels.json"),
    "smap": (lambda r: (r / "labeled_anomalies.csv").is_file() and (r / "test").is_dir(),
             "labeled_anomalies.csv, test/<channel>.npy and train/<channel>.npy"),
    "ucr": (lambda r: any(_UCR_NAME.match(p.stem) for p in r.glob("*.txt")),
            "<id>_UCR_Anomaly_<name>_<train_end>_<start>_<end>.txt files"),
    "deeppcb": (_is_deeppcb, "<category>/annotations/ and <id>_temp.* templates"),
    "loco": (lambda r: any((c / "defects_config.json").is_file() for c in _category_dirs(r)),
             "<category>/defects_config.json and <category>/good/"),
    "pointcloud": (lambda r: any(_files(c / "good", LABELLED_CLOUD_SUFFIXES) for c in _category_dirs(r)),
                   "<object>/good/*.ply"),
    "mvtec": (lambda r: bool(_category_dirs(r)), "<category>/good/ (or <category>/train/good/)"),
    "skab": (lambda r: any(_is_skab_csv(p) for p in r.rglob("*.csv")),
             "';'-separated CSV files with a datetime column"),
}
"""Each format's layout test and, in words, what it looks for."""
_DETECTION_ORDER = ("nab", "ucsd", "smap", "ucr", "deeppcb", "loco", "pointcloud", "mvtec", "skab")


# ---------------------------------------------------------------- images


def _category_dirs(root: Path) -> list[Path]:
    """Folders that hold ``good/`` (or ``train/good``): the root itself or its children."""
    def has_good(d: Path) -> bool:
        return (d / "good").is_dir() or (d / "train" / "good").is_dir()

    if has_good(root):
        return [root]
    return sorted(d for d in root.iterdir() if d.is_dir() and has_good(d))


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


def _find_mask(category_dir: Path, defect: str, stem: str) -> str | tuple[str, ...] | None:
    gt = category_dir / "ground_truth" / defect
    for candidate in (gt / f"{stem}_mask.png", gt / f"{stem}.png"):
        if candidate.is_file():
            return str(candidate)
    folder = gt / stem
    if folder.is_dir():
        masks = tuple(str(p) for p in _files(folder, MASK_SUFFIXES))
        return masks or None
    return None


def _by_suffix() -> dict[str, str]:
    """Registered modalities by file suffix (the first modality to claim a suffix keeps it)."""
    out: dict[str, str] = {}
    for name in modality_names():
        for suffix in get_modality(name).suffixes:
            out.setdefault(suffix, name)
    return out


def _read_image_folders(root: Path) -> Iterator[EvalItem]:
    skip = {"ground_truth", "annotations", "train", "test", "validation"}
    modalities = _by_suffix()
    suffixes = tuple(modalities)
    for cat_dir in _category_dirs(root):
        category = cat_dir.name
        split_layout = (cat_dir / "test").is_dir()
        for split in ("train", "validation"):
            if split_layout:
                for p in _files(cat_dir / split / "good", suffixes):
                    yield EvalItem(f"{category}/{split}/good/{p.name}", str(p), 0, category,
                                   modalities[p.suffix.lower()], split="train")
        test_dir = cat_dir / "test" if split_layout else cat_dir
        for defect_dir in sorted(d for d in test_dir.iterdir() if d.is_dir() and d.name not in skip):
            defect = defect_dir.name
            for p in _files(defect_dir, suffixes):
                label = 0 if defect == "good" else 1
                mask = None if label == 0 else _find_mask(cat_dir, defect, p.stem)
                yield EvalItem(f"{category}/{defect}/{p.name}", str(p), label, category,
                               modalities[p.suffix.lower()], defect, mask)


def _read_loco(root: Path) -> Iterator[EvalItem]:
    configs = {d.name: d / "defects_config.json" for d in _category_dirs(root)}
    for item in _read_image_folders(root):
        config = configs.get(item.category)
        meta = {"defects_config": str(config)} if config is not None and config.is_file() else {}
        yield EvalItem(item.name, item.sample, item.label, item.category, item.modality, item.defect_type, item.mask,
                       split=item.split, meta=meta)


def _read_deeppcb(root: Path) -> Iterator[EvalItem]:
    cat_dirs = _category_dirs(root)
    for cat_dir in cat_dirs:
        category = cat_dir.name
        templates = {p.stem.removesuffix("_temp"): p for p in cat_dir.rglob("*_temp.*")
                     if p.suffix.lower() in MASK_SUFFIXES}
        for _, p in sorted(templates.items()):
            yield EvalItem(f"{category}/good/{p.name}", str(p), 0, category, "image")
        for p in sorted(cat_dir.rglob("*_test.*")):
            if p.suffix.lower() not in MASK_SUFFIXES or "ground_truth" in p.parts:
                continue
            key = p.stem.removesuffix("_test")
            boxes, types = _deeppcb_boxes(cat_dir / "annotations" / f"{key}.txt")
            mask = _find_mask(cat_dir, p.parent.name, p.stem)
            refs = (str(templates[key]),) if key in templates else ()
            yield EvalItem(f"{category}/{p.parent.name}/{p.name}", str(p), 1, category, "image",
                           ",".join(types) or p.parent.name, mask, references=refs, meta={"boxes": boxes})


def _deeppcb_boxes(path: Path) -> tuple[list[list[int]], list[str]]:
    if not path.is_file():
        return [], []
    boxes: list[list[int]] = []
    types: set[str] = set()
    for line in path.read_text().splitlines():
        parts = line.replace(",", " ").split()
        if len(parts) < 5:
            continue
        x0, y0, x1, y1, kind = (int(float(v)) for v in parts[:5])
        boxes.append([x0, y0, x1, y1, kind])
        types.add(DEEPPCB_TYPES.get(kind, str(kind)))
    return boxes, sorted(types)


def load_mask(item: EvalItem, shape: tuple[int, int] | None = None) -> np.ndarray | None:
    """An item's ground-truth mask as a boolean ``(H, W)`` array (masks united).

    Parameters
    ----------
    item
        The item.
    shape
        ``(H, W)``: a normal item without a mask gets an all-False mask of this shape.

    Returns
    -------
    numpy.ndarray or None
        The mask; ``None`` when the item has no mask (and is not a normal item with ``shape`` given).
    """
    import cv2

    if item.mask is None:
        return np.zeros(shape, dtype=bool) if shape is not None and item.label == 0 else None
    paths = (item.mask,) if isinstance(item.mask, str) else item.mask
    union: np.ndarray | None = None
    for p in paths:
        m = cv2.imread(p, cv2.IMREAD_GRAYSCALE)
        if m is None:
            raise CorruptInputError(f"cannot read mask {p}")
        union = m > 0 if union is None else union | (m > 0)
    return union


# ---------------------------------------------------------------- video


def _read_ucsd(root: Path) -> Iterator[EvalItem]:
    labels = json.loads((root / "labels.json").read_text())
    for clip_dir in sorted(d for d in (root / "frames").iterdir() if d.is_dir()):
        clip = clip_dir.name
        frames = _files(clip_dir, MASK_SUFFIXES)
        if clip not in labels:
            raise DataError(f"clip {clip} has no entry in {root / 'labels.json'}")
        frame_labels = np.asarray(labels[clip]["frame_labels"], dtype=np.int8)
        if len(frame_labels) != len(frames):
            raise DataError(f"clip {clip}: {len(frames)} frames but {len(frame_labels)} frame labels")
        gt_dir = root / "ground_truth" / clip
        masks = tuple(str(gt_dir / f"{f.stem}_mask.png") for f in frames) if gt_dir.is_dir() else None
        yield EvalItem(
            clip, str(clip_dir), int(frame_labels.any()), clip, "video",
            "anomalous" if frame_labels.any() else "good", mask=masks, frame_labels=frame_labels,
            windows=_runs(frame_labels),
        )


def _runs(binary: np.ndarray) -> tuple[tuple[int, int], ...]:
    """Inclusive ``(start, end)`` positions of the runs of ones."""
    b = np.concatenate([[0], np.asarray(binary, dtype=np.int8) != 0, [0]]).astype(np.int8)
    d = np.diff(b)
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1
    return tuple((int(s), int(e)) for s, e in zip(starts, ends, strict=True))


# ---------------------------------------------------------------- series


def _read_nab(root: Path) -> Iterator[EvalItem]:
    import pandas as pd

    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    for key in sorted(windows):
        path = root / "data" / key
        if not path.is_file():
            continue
        frame = pd.read_csv(path)
        if "timestamp" not in frame.columns:
            raise DataError(f"{path} has no timestamp column")
        stamps = pd.to_datetime(frame["timestamp"]).to_numpy()
        positions = tuple(_window_positions(stamps, pd.Timestamp(a).to_datetime64(), pd.Timestamp(b).to_datetime64())
                          for a, b in windows[key])
        category = key.split("/")[0]
        yield EvalItem(key, str(path), int(bool(positions)), category, "series",
                       "anomalous" if positions else "good", windows=positions, timestamps=stamps)


def _window_positions(stamps: np.ndarray, start: np.datetime64, end: np.datetime64) -> tuple[int, int]:
    inside = np.flatnonzero((stamps >= start) & (stamps <= end))
    if inside.size == 0:
        raise DataError(f"window {start}..{end} holds no rows")
    return int(inside[0]), int(inside[-1])


def _is_skab_csv(path: Path) -> bool:
    try:
        with path.open() as fh:
            header = fh.readline()
    except OSError:
        return False
    return ";" in header and "datetime" in header


def _read_skab(root: Path) -> Iterator[EvalItem]:
    import pandas as pd

    for path in sorted(p for p in root.rglob("*.csv") if _is_skab_csv(p)):
        frame = pd.read_csv(path, sep=";", index_col="datetime", parse_dates=True)
        labels = frame["anomaly"].fillna(0).to_numpy().astype(np.int8) if "anomaly" in frame else None
        values = frame.drop(columns=[c for c in ("anomaly", "changepoint") if c in frame])
        runs = _runs(labels) if labels is not None else ()
        category = path.parent.name if path.parent != root else "skab"
        rel = path.relative_to(root).as_posix()
        yield EvalItem(rel, values, int(bool(runs)), category, "series", "anomalous" if runs else "good",
                       windows=runs, timestamps=values.index.to_numpy(), meta={"path": str(path)})


def _read_ucr(root: Path) -> Iterator[EvalItem]:
    import pandas as pd

    for path in sorted(root.glob("*.txt")):
        match = _UCR_NAME.match(path.stem)
        if match is None:
            continue
        try:
            values = np.loadtxt(path, ndmin=1).ravel()
        except ValueError as exc:
            raise CorruptInputError(f"cannot read {path}: {exc}") from None
        train_end, start, end = int(match["train"]), int(match["start"]), int(match["end"])
        if not 0 < train_end < start <= end <= len(values):
            raise DataError(f"{path.name}: labels outside the series of {len(values)} points")
        test = pd.Series(values[train_end:], index=np.arange(train_end, len(values)), name="value")
        train = pd.Series(values[:train_end], name="value")
        category = re.sub(r"\d+$", "", match["name"])
        # 1-based inclusive -> 0-based positions within the test part
        window = (start - 1 - train_end, end - 1 - train_end)
        yield EvalItem(path.name, test, 1, category, "series", "anomalous", windows=(window,), references=(train,),
                       meta={"path": str(path), "train_end": train_end})


def _read_smap(root: Path) -> Iterator[EvalItem]:
    import pandas as pd

    table = pd.read_csv(root / "labeled_anomalies.csv")
    for _, row in table.iterrows():
        chan = str(row["chan_id"])
        test_path, train_path = root / "test" / f"{chan}.npy", root / "train" / f"{chan}.npy"
        if not test_path.is_file():
            continue
        sequences = tuple((int(a), int(b)) for a, b in ast.literal_eval(str(row["anomaly_sequences"])))
        test = _telemetry_frame(np.load(test_path, allow_pickle=False))
        refs = (_telemetry_frame(np.load(train_path, allow_pickle=False)),) if train_path.is_file() else ()
        yield EvalItem(chan, test, int(bool(sequences)), str(row.get("spacecraft", "smap")), "series",
                       "anomalous" if sequences else "good", windows=sequences, references=refs,
                       meta={"path": str(test_path)})


def _telemetry_frame(array: np.ndarray) -> Any:
    import pandas as pd

    a = np.asarray(array, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    columns = ["value"] + [f"command_{i}" for i in range(1, a.shape[1])]
    return pd.DataFrame(a, columns=columns)


# ---------------------------------------------------------------- point clouds


def _read_pointclouds(root: Path) -> Iterator[EvalItem]:
    for cat_dir in _category_dirs(root):
        category = cat_dir.name
        for defect_dir in sorted(d for d in cat_dir.iterdir() if d.is_dir() and d.name != "ground_truth"):
            for p in _files(defect_dir, LABELLED_CLOUD_SUFFIXES):
                labels = read_ply_labels(p)
                label = 0 if defect_dir.name == "good" else 1
                yield EvalItem(f"{category}/{defect_dir.name}/{p.name}", str(p), label, category, "pointcloud",
                               defect_dir.name, point_labels=labels)


_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2", "ushort": "u2",
    "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4",
    "double": "f8", "float64": "f8",
}


def read_ply_labels(path: str | Path, prop: str = "label") -> np.ndarray | None:
    """A per-vertex property of a PLY file as int8 0/1, or ``None`` when it has none.

    Parameters
    ----------
    path
        The PLY file (ASCII or binary).
    prop
        The vertex property's name.

    Raises
    ------
    CorruptInputError
        When the file is not a PLY file, has list properties on vertices, or no leading vertex element.
    """
    raw = Path(path).read_bytes()
    end = raw.find(b"end_header")
    if not raw.startswith(b"ply") or end < 0:
        raise CorruptInputError(f"not a PLY file: {path}")
    body_start = raw.index(b"\n", end) + 1
    header = raw[:end].decode("ascii", "replace").splitlines()
    fmt = next((line.split()[1] for line in header if line.startswith("format")), "")
    elements: list[tuple[str, int, list[tuple[str, str]]]] = []
    for line in header:
        parts = line.split()
        if parts[:1] == ["element"]:
            elements.append((parts[1], int(parts[2]), []))
        elif parts[:1] == ["property"] and elements:
            if parts[1] == "list":
                if elements[-1][0] == "vertex":
                    raise CorruptInputError(f"{path}: list properties on vertices are not supported")
                continue
            elements[-1][2].append((parts[2], _PLY_TYPES.get(parts[1], "")))
    vertex = next((e for e in elements if e[0] == "vertex"), None)
    if vertex is None or elements[0][0] != "vertex":
        raise CorruptInputError(f"{path}: no leading vertex element")
    _, count, props = vertex
    names = [n for n, _ in props]
    if prop not in names:
        return None
    if fmt == "ascii":
        text = raw[body_start:].decode("ascii").split("\n", count)[:count]
        table = np.loadtxt(text, ndmin=2)
        values = table[:, names.index(prop)]
    else:
        order = "<" if fmt == "binary_little_endian" else ">"
        dtype = np.dtype([(n, order + t) for n, t in props])
        values = np.frombuffer(raw, dtype=dtype, count=count, offset=body_start)[prop]
    return (np.asarray(values) != 0).astype(np.int8)


READERS: dict[str, Callable[[Path], Iterator[EvalItem]]] = {
    "mvtec": _read_image_folders,
    "loco": _read_loco,
    "deeppcb": _read_deeppcb,
    "ucsd": _read_ucsd,
    "nab": _read_nab,
    "skab": _read_skab,
    "ucr": _read_ucr,
    "smap": _read_smap,
    "pointcloud": _read_pointclouds,
}
FORMATS: tuple[str, ...] = tuple(READERS)


def _causal_series_expert() -> Any:
    from genad.modalities.series import SeriesExpert

    return SeriesExpert(mode="causal")


PROTOCOL_EXPERTS: dict[str, dict[str, Callable[[], Any]]] = {"nab": {"series": _causal_series_expert}}
"""Experts a format's protocol requires, by modality: NAB measures streaming detection, so a row's score may use
only the rows before it (the causal series expert)."""
