"""Point clouds for a VLM: :class:`PointCloudRenderer` draws depth views with a numpy z-buffer.

Every view keeps, per pixel, the index of the point drawn there (``-1`` for background), so a box the VLM names on
any view maps back to exactly the points visible inside it, and point indices map forward to a box per view. By
default the views are tiled into one labelled composite image, the "rendered depth image" the prompts speak of.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from genad._rendering import Mapped, Rendering, ViewRegion
from genad._report import Region
from genad.errors import InputError
from genad.modalities.pointcloud._sample import PointCloudSample

__all__ = ["PointCloudRenderer", "PointCloudRendering", "View"]

Projection = Literal["orthographic", "perspective"]
Style = Literal["shaded", "depth", "normals"]
_LABEL_BAND = 22
_GAP = 4
_MAX_SPLAT = 8


@dataclass(frozen=True)
class View:
    """One camera.

    Parameters
    ----------
    name
        Shown on the render.
    direction
        Points from the object towards the camera.
    """

    name: str
    direction: tuple[float, float, float]


@dataclass(eq=False)
class PointCloudRendering(Rendering):
    """Depth views of one cloud and their pixel-to-point maps.

    The fields below add to :class:`~genad.Rendering`'s.

    Parameters
    ----------
    point_maps
        ``point_maps[k]`` is an ``(H, W)`` int array: the index of the point visible at each pixel of view ``k``,
        or ``-1``.
    view_names
        The views' names.
    view_origins
        ``view_origins[k]`` is the ``(x, y)`` pixel of view ``k``'s top-left corner in the grid, or ``(0, 0)``
        without ``composite``.
    composite
        ``True``: there is one image, the grid of views; ``False``: image ``k`` is view ``k``.
    n_points
        Points in the cloud.
    """

    point_maps: list[np.ndarray] = field(default_factory=list)
    view_names: list[str] = field(default_factory=list)
    view_origins: list[tuple[int, int]] = field(default_factory=list)
    composite: bool = True
    n_points: int = 0

    def _views_on_image(self, image: int) -> list[int]:
        return list(range(len(self.point_maps))) if self.composite else [image]

    def _locate(self, image: int, box: tuple[float, float, float, float]
                ) -> tuple[int, tuple[int, int, int, int]] | None:
        """The view a box (in image pixels) lies on most, and the box clipped to it in that view's pixels."""
        x0, x1 = sorted((box[0], box[2]))
        y0, y1 = sorted((box[1], box[3]))
        best: tuple[float, int, tuple[int, int, int, int]] | None = None
        for k in self._views_on_image(image):
            ox, oy = self.view_origins[k]
            h, w = self.point_maps[k].shape
            cx0, cy0 = max(x0 - ox, 0.0), max(y0 - oy, 0.0)
            cx1, cy1 = min(x1 - ox, float(w)), min(y1 - oy, float(h))
            area = (cx1 - cx0) * (cy1 - cy0)
            if cx1 > cx0 and cy1 > cy0 and (best is None or area > best[0]):
                pixels = (int(np.floor(cx0)), int(np.floor(cy0)), int(np.ceil(cx1)), int(np.ceil(cy1)))
                best = (area, k, pixels)
        return None if best is None else (best[1], best[2])

    def to_native(self, region: ViewRegion) -> Mapped:
        """The indices of the points visible inside the box (the view it overlaps most, clipped to that view)."""
        bad = self.missing_view(region.view)
        if bad is not None:
            return bad
        if region.box is None:
            return Mapped(Region(label=region.label, confidence=region.confidence, view=region.view))
        located = self._locate(region.view, region.box)
        if located is None:
            return Mapped(None, f"dropped box {list(region.box)} on image {region.view + 1}: it covers no view")
        k, (px0, py0, px1, py1) = located
        ox, oy = self.view_origins[k]
        ids = self.point_maps[k][py0:py1, px0:px1]
        indices = np.unique(ids[ids >= 0]).astype(np.int64)
        note = None
        covered = (px0 + ox, py0 + oy, px1 + ox, py1 + oy)
        if any(abs(a - b) >= 1 for a, b in zip(covered, region.box, strict=True)):
            note = f"clipped box {list(region.box)} to view {k + 1} ({self.view_names[k]})"
        if indices.size == 0:
            return Mapped(None, f"dropped box {list(region.box)} on view {k + 1}: it covers only background")
        return Mapped(Region(indices=indices, label=region.label, confidence=region.confidence,
                             view=region.view), note)

    def to_views(self, region: Region) -> list[ViewRegion]:
        """One box per view in which any of the region's points is visible."""
        if region.indices is None or len(region.indices) == 0:
            return []
        wanted = np.zeros(self.n_points + 1, dtype=bool)  # slot n_points stands for background (-1)
        wanted[np.asarray(region.indices, dtype=np.int64)] = True
        out = []
        for k, point_map in enumerate(self.point_maps):
            ys, xs = np.nonzero(wanted[point_map])
            if xs.size == 0:
                continue
            ox, oy = self.view_origins[k]
            box = (float(xs.min() + ox), float(ys.min() + oy), float(xs.max() + 1 + ox), float(ys.max() + 1 + oy))
            out.append(ViewRegion(0 if self.composite else k, box=box, label=region.label,
                                  confidence=region.confidence))
        return out

    @staticmethod
    def fuse(regions: Sequence[Region]) -> Region:
        """One region holding the union of the regions' point indices (regions named on several views).

        Parameters
        ----------
        regions
            Point regions; the result takes their labels, their highest confidence and the first one's source.
        """
        parts = [np.asarray(r.indices, dtype=np.int64) for r in regions if r.indices is not None]
        indices = np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
        confidences = [r.confidence for r in regions if r.confidence is not None]
        labels = list(dict.fromkeys(r.label for r in regions if r.label))
        return Region(indices=indices, label="; ".join(labels), confidence=max(confidences) if confidences else None,
                      source=regions[0].source if regions else "vlm")


@dataclass(frozen=True)
class PointCloudRenderer:
    """Render depth images of a cloud from around it and from the top.

    Parameters
    ----------
    n_views
        Views: ``n_views - 1`` around the cloud, one from the top.
    size
        Width and height of a view in pixels.
    projection
        ``"orthographic"`` or ``"perspective"``.
    style
        ``"shaded"`` colours depth with ``colormap`` (near is bright) and shades it by the surface slope read off
        the depth buffer; ``"depth"`` is the colormap alone; ``"normals"`` is grey Lambert shading by the points'
        normals (or the depth buffer's).
    colormap
        A matplotlib colormap's name.
    elevation
        The elevation of the views around the cloud, in degrees.
    fov
        The perspective camera's field of view, in degrees.
    composite
        Tile the views into one labelled image.
    splat_radius
        Half-width in pixels of the square each point is drawn as; with ``None`` it follows the cloud's point
        spacing, so sparse and dense clouds both render without holes.
    up
        The top view looks along it; by default the sample's ``meta["up"]`` or +z.
    background
        RGB of empty space.
    """

    n_views: int = 4
    size: int = 384
    projection: Projection = "orthographic"
    style: Style = "shaded"
    colormap: str = "viridis"
    elevation: float = 30.0
    fov: float = 40.0
    composite: bool = True
    splat_radius: int | None = None
    up: tuple[float, float, float] | None = None
    background: tuple[int, int, int] = (255, 255, 255)

    def views(self, up: np.ndarray) -> list[View]:
        """The cameras, as unit directions from the object towards the camera.

        Parameters
        ----------
        up
            The unit up direction.

        Raises
        ------
        InputError
            When ``n_views`` is less than 1.
        """
        if self.n_views < 1:
            raise InputError(f"n_views must be >= 1, got {self.n_views}")
        side, front = _perpendicular_pair(up)
        elev = np.radians(self.elevation)
        around = max(self.n_views - 1, 1)
        out = []
        for i in range(around):
            az = 2 * np.pi * i / around + np.pi / 4
            d = np.cos(elev) * (np.cos(az) * front + np.sin(az) * side) + np.sin(elev) * up
            out.append(View(f"side {np.degrees(az):.0f}°", (float(d[0]), float(d[1]), float(d[2]))))
        if self.n_views > 1:
            out.append(View("top", (float(up[0]), float(up[1]), float(up[2]))))
        return out

    def render(self, sample: PointCloudSample) -> PointCloudRendering:
        points = sample.points
        up = _unit(np.asarray(self.up if self.up is not None else sample.meta.get("up", (0.0, 0.0, 1.0)), float))
        # per-column reductions: reducing an (N, 3) array along axis 0 is several times slower
        centre = np.array([(points[:, i].min() + points[:, i].max()) / 2 for i in range(3)])
        columns = [np.subtract(points[:, i], centre[i], dtype=np.float32) for i in range(3)]
        radius = float(np.sqrt((columns[0] ** 2 + columns[1] ** 2 + columns[2] ** 2).max()))
        spacing = _point_spacing(points)
        views = self.views(up)
        cameras = [_camera_basis(np.asarray(v.direction), up) for v in views]
        images, maps = [], []
        for basis in cameras:
            image, point_map = self._render_view(columns, sample.normals, radius, spacing, basis)
            images.append(image)
            maps.append(point_map)
        names = [f"{k + 1}: {v.name}" for k, v in enumerate(views)]
        keyed = self.style != "normals"
        if self.composite:
            grid, origins = _tile(images, names, self.background)
            key = _depth_key(self.colormap, self.background, grid.shape[1]) if keyed else None
            images_out, labels = [_with_key(grid, key)], [f"{len(views)} depth views: " + ", ".join(names)]
            where = (f"the whole {grid.shape[1]}x{images_out[0].shape[0]} image (a grid of {len(views)} labelled "
                     "views of the same object), inside the one view where you see the anomaly")
        else:
            origins = [(0, 0)] * len(views)
            key = _depth_key(self.colormap, self.background, self.size) if keyed else None
            images_out, labels = [_with_key(image, key) for image in images], names
            where = f"the {self.size}x{images_out[0].shape[0]} view it is in"
        legend = ("Grey shading shows the surface's orientation" if self.style == "normals"
                  else "Colour shows depth, from near to far as the key under the views shows")
        hint = (f"Give each region as a box [x_min, y_min, x_max, y_max] in pixels of {where}, origin at the "
                f"top-left corner. {legend}; the plain background is empty space.")
        return PointCloudRendering(
            images=images_out, labels=labels, noun="rendered depth image", locate_hint=hint,
            meta={"views": [v.direction for v in views], "cameras": [c.tolist() for c in cameras],
                  "spacing": spacing},
            point_maps=maps, view_names=[v.name for v in views], view_origins=origins,
            composite=self.composite, n_points=len(points),
        )

    def _render_view(self, columns: list[np.ndarray], normals: np.ndarray | None, radius: float,
                     spacing: float, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One view from the centred float32 coordinate ``columns``; ``basis`` columns are the camera axes."""
        size = self.size
        b = basis.astype(np.float32)
        # camera coordinates x right, y up, z towards the camera (column-wise: (N, 3) @ (3, 3) is slow in BLAS)
        local = [columns[0] * b[0, j] + columns[1] * b[1, j] + columns[2] * b[2, j] for j in range(3)]
        half = size / 2 - 2
        if self.projection == "perspective":
            distance = radius / np.sin(np.radians(self.fov) / 2)
            depth = distance - local[2]
            focal = half / np.tan(np.radians(self.fov) / 2)
            scale = focal / np.maximum(depth, 1e-9 * radius)
            pixel_size = distance / focal  # world size of a pixel at the object's centre
        else:
            depth = radius - local[2]
            scale = np.float32(half / radius)
            pixel_size = radius / half
        # the object's bounding sphere fits inside the image, so clipping only guards against rounding
        u = np.clip(local[0] * scale + size / 2, 0, size - 1).astype(np.int32)
        v = np.clip(size / 2 - local[1] * scale, 0, size - 1).astype(np.int32)
        r = self.splat_radius if self.splat_radius is not None else _splat_radius(spacing / pixel_size)
        point_map, zbuf = _zbuffer(u, v, depth.astype(np.float32), size, r)
        window = r + 1  # see-through gaps are narrower than a splat; allow depth to slope by 3 pixels per pixel
        zbuf, mask = _close_gaps(point_map, zbuf, window, 3.0 * spacing + 3.0 * window * pixel_size)
        image = np.empty((size, size, 3), dtype=np.uint8)
        image[:] = self.background
        if not mask.any():
            return image, point_map
        if self.style == "normals" and normals is not None:
            cam_normals = normals[point_map[mask]] @ basis
            shade = np.abs(cam_normals @ _LIGHT)
            grey = (40 + 215 * shade).astype(np.uint8)
            image[mask] = grey[:, None]
            return image, point_map
        shade = _slope_shading(zbuf, mask, pixel_size, max(r, 1))
        if self.style == "normals":
            image[mask] = (40 + 215 * shade[mask]).astype(np.uint8)[:, None]
            return image, point_map
        near, far = zbuf[mask].min(), zbuf[mask].max()
        t = (far - zbuf[mask]) / max(far - near, 1e-12)
        colours = _lut(self.colormap)[(t * 255).astype(np.int64)].astype(np.float32)
        if self.style == "shaded":
            colours *= (0.35 + 0.65 * shade[mask])[:, None]
        image[mask] = colours.astype(np.uint8)
        return image, point_map


_LIGHT = np.array([-0.35, 0.45, 0.82]) / np.linalg.norm([-0.35, 0.45, 0.82])


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    if n == 0:
        raise InputError("the up direction must not be the zero vector")
    return v / n


def _perpendicular_pair(up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors spanning the plane perpendicular to ``up``."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(up[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    a = _unit(np.cross(up, helper))
    return a, np.cross(a, up)


def _camera_basis(back: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Columns: the right, up and backward axes of a camera looking along ``-back`` (the top view keeps a fixed
    orientation)."""
    right = np.cross(up, back)
    if np.linalg.norm(right) < 1e-6:
        right = _perpendicular_pair(up)[0]
    right = _unit(right)
    return np.stack([right, np.cross(back, right), back], axis=1)


def _point_spacing(points: np.ndarray, n_tree: int = 20_000, n_query: int = 2_000) -> float:
    """Median nearest-neighbour distance, estimated on a subsample and scaled to the full density."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(0)
    n = len(points)
    sub = points if n <= n_tree else points[rng.choice(n, n_tree, replace=False)]
    queries = sub[rng.choice(len(sub), min(n_query, len(sub)), replace=False)]
    dist, _ = cKDTree(sub).query(queries, k=2)
    nearest = dist[:, 1]
    nearest = nearest[nearest > 0]
    if nearest.size == 0:
        return 0.0
    return float(np.median(nearest) * np.sqrt(len(sub) / n))  # surface samples: spacing ~ 1 / sqrt(density)


def _splat_radius(spacing_px: float) -> int:
    """Half-width of the square splat that closes the gaps between neighbouring points."""
    return int(np.clip(np.ceil(2.0 * spacing_px - 0.5), 0, _MAX_SPLAT))


def _zbuffer(u: np.ndarray, v: np.ndarray, depth: np.ndarray, size: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest point per pixel, each point drawn as a square of half-width ``radius``: ``(point_map, depth)``.
    ``u`` and ``v`` are pixel columns and rows inside the image.

    One ``np.minimum.at`` pass keeps the nearest depth per pixel; the points that reach it claim the pixel. The
    squares are then drawn in image space: a pixel takes the nearest of the one-pixel results within ``radius``,
    which is the same as splatting every point but costs pixels, not points, per offset.
    """
    pix = v * np.int32(size) + u
    zbuf = np.full(size * size, np.inf, dtype=np.float32)
    np.minimum.at(zbuf, pix, depth)
    front = np.flatnonzero(depth == zbuf[pix])
    point_map = np.full(size * size, -1, dtype=np.int32)
    point_map[pix[front]] = front
    depth_image, index_image = zbuf.reshape(size, size), point_map.reshape(size, size)
    if radius == 0:
        return index_image, depth_image
    out_z, out_p = depth_image.copy(), index_image.copy()
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dx == 0 and dy == 0:
                continue
            dst = (slice(max(0, -dy), size - max(0, dy)), slice(max(0, -dx), size - max(0, dx)))
            src = (slice(max(0, dy), size - max(0, -dy)), slice(max(0, dx), size - max(0, -dx)))
            nearer = depth_image[src] < out_z[dst]
            out_z[dst][nearer] = depth_image[src][nearer]
            out_p[dst][nearer] = index_image[src][nearer]
    return out_p, out_z


def _close_gaps(point_map: np.ndarray, zbuf: np.ndarray, window: int, gap: float) -> tuple[np.ndarray, np.ndarray]:
    """Paint over see-through gaps between splats: pixels whose depth lies more than ``gap`` behind the nearest
    surface within ``window`` pixels, when that surface covers most of the window. Their depth becomes the
    surface's local mean (for colour only); ``point_map`` is untouched, so no point is claimed there. Returns the
    depth image and the mask of pixels to paint."""
    import cv2

    drawn = point_map >= 0
    depth = np.where(drawn, zbuf, np.float32(np.inf)).astype(np.float32)
    kernel = np.ones((2 * window + 1, 2 * window + 1), np.uint8)
    nearest = cv2.erode(depth, kernel)
    front = drawn & (depth <= nearest + gap)
    size = (2 * window + 1, 2 * window + 1)
    cover = cv2.blur(front.astype(np.float32), size, borderType=cv2.BORDER_CONSTANT)
    mean_front = cv2.blur(np.where(front, depth, 0).astype(np.float32), size, borderType=cv2.BORDER_CONSTANT)
    gaps = ~front & (cover > 0.6)
    out = np.where(drawn, zbuf, 0).astype(np.float32)
    out[gaps] = mean_front[gaps] / cover[gaps]
    return out, drawn | gaps


def _slope_shading(zbuf: np.ndarray, mask: np.ndarray, pixel_size: float, smooth: int) -> np.ndarray:
    """Lambert shading in [0, 1] from the depth buffer's gradient (smoothed over about one splat)."""
    import cv2

    depth = np.where(mask, zbuf, 0).astype(np.float32)
    weight = mask.astype(np.float32)
    k = 2 * smooth + 1
    sigma = 0.5 * smooth + 0.5
    num = cv2.GaussianBlur(depth, (k, k), sigma)
    den = cv2.GaussianBlur(weight, (k, k), sigma)
    smooth_depth = num / np.maximum(den, 1e-6)
    gy, gx = np.gradient(smooth_depth / np.float32(pixel_size))
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    gx, gy = np.where(inner, gx, 0), np.where(inner, gy, 0)
    # depth grows away from the camera: surface normal in camera axes (x right, y up, z to camera) is (gx, -gy, 1)
    norm = np.sqrt(gx * gx + gy * gy + 1)
    lambert = (_LIGHT[0] * gx - _LIGHT[1] * gy + _LIGHT[2]) / norm
    return np.clip(lambert, 0, 1).astype(np.float32)


def _lut(name: str) -> np.ndarray:
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise InputError(f"unknown colormap {name!r}") from None
    return (cmap(np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


_KEY_HEIGHT = 24


def _depth_key(colormap: str, background: tuple[int, int, int], width: int) -> np.ndarray:
    """The depth colour key, at most ``width`` pixels wide and ``_KEY_HEIGHT`` high: "depth: near", the colour
    ramp from near to far (the views' lookup table, unshaded), "far". It is laid under the views, never over them."""
    import cv2

    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    (w_far, h_text), _ = cv2.getTextSize("far", font, scale, 1)
    near = "depth: near"
    (w_near, _), _ = cv2.getTextSize(near, font, scale, 1)
    if width - w_near - w_far - 24 < 40:  # a small view: the short key
        near = "near"
        (w_near, _), _ = cv2.getTextSize(near, font, scale, 1)
    ramp_width = int(np.clip(width - w_near - w_far - 24, 8, 160))
    key = np.empty((_KEY_HEIGHT, w_near + ramp_width + w_far + 24, 3), np.uint8)
    key[:] = background
    baseline = (_KEY_HEIGHT + h_text) // 2
    cv2.putText(key, near, (6, baseline), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
    x0 = 6 + w_near + 6
    lut = _lut(colormap)[::-1]  # t = 1 is nearest: the ramp runs from near (left) to far (right)
    key[5:_KEY_HEIGHT - 5, x0:x0 + ramp_width] = lut[np.linspace(0, 255, ramp_width).astype(np.int64)][None]
    cv2.rectangle(key, (x0 - 1, 4), (x0 + ramp_width, _KEY_HEIGHT - 5), (90, 90, 90), 1)
    cv2.putText(key, "far", (x0 + ramp_width + 6, baseline), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return key[:, :width]


def _with_key(image: np.ndarray, key: np.ndarray | None) -> np.ndarray:
    """``image`` with ``key`` in a band under it, right-aligned; the image's own pixels keep their coordinates."""
    if key is None:
        return image
    h, w = image.shape[:2]
    out = np.empty((h + key.shape[0], w, 3), np.uint8)
    out[:h] = image
    out[h:] = key[0, 0]
    out[h:, w - key.shape[1]:] = key
    return out


def _tile(images: list[np.ndarray], names: list[str], background: tuple[int, int, int]
          ) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A grid of the views, each under a label band; returns the grid and each view's top-left corner."""
    import cv2

    n = len(images)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    h, w = images[0].shape[:2]
    cell_h, cell_w = h + _LABEL_BAND, w
    grid = np.full((rows * cell_h + (rows - 1) * _GAP, cols * cell_w + (cols - 1) * _GAP, 3), 160, np.uint8)
    origins = []
    for k, (image, name) in enumerate(zip(images, names, strict=True)):
        r, c = divmod(k, cols)
        x, y = c * (cell_w + _GAP), r * (cell_h + _GAP)
        grid[y:y + _LABEL_BAND, x:x + cell_w] = background
        cv2.putText(grid, f"view {name}", (x + 6, y + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        grid[y + _LABEL_BAND:y + cell_h, x:x + cell_w] = image
        origins.append((x, y + _LABEL_BAND))
    return grid, origins
