"""Depth rendering of point clouds and the exact map between views and points."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from genad import Region, ViewRegion
from genad.modalities.pointcloud import PointCloudRenderer, PointCloudRendering, PointCloudSample


def _sphere(n: int = 3000, seed: int = 0) -> PointCloudSample:
    v = np.random.default_rng(seed).normal(size=(n, 3))
    return PointCloudSample.from_array(v / np.linalg.norm(v, axis=1, keepdims=True))


def _frontmost(sample: PointCloudSample, basis: np.ndarray, size: int) -> dict[int, int]:
    """Reference z-buffer written independently with a per-point loop: the nearest point per pixel."""
    pts = sample.points
    centre = (pts.min(0) + pts.max(0)) / 2
    radius = float(np.sqrt(((pts - centre) ** 2).sum(axis=1).max()))
    local = ((pts - centre) @ basis).astype(np.float32)
    scale = np.float32((size / 2 - 2) / radius)
    best: dict[int, tuple[float, int]] = {}
    for i, (x, y, z) in enumerate(local):
        u, v = int(np.floor(x * scale + size / 2)), int(np.floor(size / 2 - y * scale))
        depth = float(radius - z)
        pix = v * size + u
        if 0 <= u < size and 0 <= v < size and (pix not in best or depth < best[pix][0]):
            best[pix] = (depth, i)
    return {pix: i for pix, (_, i) in best.items()}


def test_composite_layout_and_noun() -> None:
    rendering = PointCloudRenderer(size=96).render(_sphere())
    assert len(rendering.images) == 1
    grid = rendering.images[0]
    assert grid.dtype == np.uint8
    assert grid.ndim == 3
    assert rendering.noun == "rendered depth image"
    assert len(rendering.point_maps) == 4
    assert rendering.view_names[-1] == "top"
    assert "box" in rendering.locate_hint
    for (x, y), point_map in zip(rendering.view_origins, rendering.point_maps, strict=True):
        h, w = point_map.shape
        assert x + w <= grid.shape[1]
        assert y + h <= grid.shape[0]
        background = point_map < 0
        assert background.any()
        assert (~background).any()
        assert (grid[y:y + h, x:x + w][background] == 255).all()


def test_point_map_is_the_nearest_point_per_pixel() -> None:
    sample = _sphere(1500)
    size = 64
    rendering = PointCloudRenderer(size=size, splat_radius=0, composite=False).render(sample)
    for view in (0, 3):
        expected = _frontmost(sample, np.asarray(rendering.meta["cameras"][view]), size)
        flat = rendering.point_maps[view].ravel()
        drawn = {int(p): int(flat[p]) for p in np.flatnonzero(flat >= 0)}
        assert drawn.keys() == expected.keys()
        assert len(set(drawn.values())) > 100
        mismatched = [p for p in drawn if drawn[p] != expected[p]]
        assert len(mismatched) <= len(drawn) // 200  # only exact float32 depth ties may pick either point


@pytest.mark.parametrize("composite", [True, False])
def test_box_maps_back_to_exactly_the_visible_points(composite: bool) -> None:
    sample = _sphere()
    rendering = PointCloudRenderer(size=80, composite=composite, splat_radius=0).render(sample)
    for view in range(4):
        x, y = rendering.view_origins[view]
        box = (x + 20.0, y + 25.0, x + 50.0, y + 45.0)
        image = 0 if composite else view
        mapped = rendering.to_native(ViewRegion(image, box=box, label="dent"))
        assert mapped.note is None
        assert mapped.region is not None
        inside = rendering.point_maps[view][25:45, 20:50]
        np.testing.assert_array_equal(mapped.region.indices, np.unique(inside[inside >= 0]))
        assert mapped.region.label == "dent"
        # and the points project back into that box in that view
        forward = [r for r in rendering.to_views(mapped.region) if r.box is not None]
        assert any(r.box is not None and r.box[0] >= box[0] and r.box[1] >= box[1] and r.box[2] <= box[2]
                   and r.box[3] <= box[3] for r in forward)


def test_boxes_outside_views_are_dropped_or_clipped() -> None:
    rendering = PointCloudRenderer(size=64).render(_sphere())
    grid = rendering.images[0]
    assert rendering.to_native(ViewRegion(0, box=(-50, -50, -10, -10))).region is None
    assert rendering.to_native(ViewRegion(3, box=(0, 0, 10, 10))).region is None
    x, y = rendering.view_origins[1]
    clipped = rendering.to_native(ViewRegion(0, box=(x - 30.0, y - 30.0, x + 40.0, y + 40.0)))
    assert clipped.region is not None
    assert clipped.note is not None
    whole = rendering.to_native(ViewRegion(0, box=(0, 0, grid.shape[1], grid.shape[0])))
    assert whole.region is not None


def test_to_views_and_fuse() -> None:
    sample = _sphere()
    rendering = PointCloudRenderer(size=80).render(sample)
    cap = np.flatnonzero(sample.points[:, 2] > 0.8)
    boxes = rendering.to_views(Region(indices=cap, label="bump"))
    assert boxes
    assert all(b.view == 0 for b in boxes)
    regions = [rendering.to_native(b).region for b in boxes]
    fused = PointCloudRendering.fuse([r for r in regions if r is not None])
    assert fused.indices is not None
    assert set(fused.indices.tolist()) >= set(regions[0].indices.tolist())  # type: ignore[union-attr]
    assert rendering.to_views(Region(indices=np.empty(0, np.int64))) == []


@pytest.mark.parametrize("style", ["shaded", "depth", "normals"])
@pytest.mark.parametrize("projection", ["orthographic", "perspective"])
def test_styles_and_projections(style: str, projection: str) -> None:
    renderer = PointCloudRenderer(n_views=3, size=48, style=style, projection=projection)  # type: ignore[arg-type]
    rendering = renderer.render(_sphere(800))
    assert len(rendering.point_maps) == 3
    assert all((m >= 0).sum() > 50 for m in rendering.point_maps)
    pickle.loads(pickle.dumps(renderer))


def test_splat_adapts_to_density() -> None:
    """A sparse and a dense sample of the same sphere cover about the same number of pixels."""
    renderer = PointCloudRenderer(n_views=1, size=128, composite=False)
    covered = [(renderer.render(_sphere(n)).point_maps[0] >= 0).sum() for n in (1500, 60000)]
    assert abs(covered[0] - covered[1]) < 0.12 * covered[1]


def _nearest_column(band: np.ndarray, colour: np.ndarray) -> tuple[int, float]:
    """The column of ``band`` holding the pixel nearest to ``colour``, and that distance."""
    distance = np.abs(band.astype(int) - colour.astype(int)).sum(axis=2)
    y, x = np.unravel_index(int(np.argmin(distance)), distance.shape)
    return int(x), float(distance[y, x])


@pytest.mark.parametrize(("composite", "size"), [(True, 160), (False, 200), (False, 64)])
def test_a_depth_key_under_the_views_says_which_colour_is_near(composite: bool, size: int) -> None:
    import matplotlib

    rendering = PointCloudRenderer(size=size, composite=composite).render(_sphere())
    viridis = (matplotlib.colormaps["viridis"]([0.0, 1.0])[:, :3] * 255).astype(np.uint8)
    assert "key" in rendering.locate_hint
    for image_index, image in enumerate(rendering.images):
        views = [k for k in range(len(rendering.point_maps)) if composite or k == image_index]
        bottom = max(rendering.view_origins[k][1] + rendering.point_maps[k].shape[0] for k in views)
        assert image.shape[0] == bottom + 24  # the key has a band of its own: no view pixel is covered
        band = image[bottom:]
        near_x, near_d = _nearest_column(band, viridis[1])  # t = 1 is the nearest depth: bright yellow
        far_x, far_d = _nearest_column(band, viridis[0])  # dark purple
        assert near_d <= 12 and far_d <= 12 and near_x < far_x
        mapped = rendering.to_native(ViewRegion(image_index, box=(0, bottom + 2, image.shape[1], bottom + 20)))
        assert mapped.region is None  # the key holds no point


def test_grey_views_have_no_depth_key() -> None:
    rendering = PointCloudRenderer(size=64, style="normals", composite=False).render(_sphere())
    assert {im.shape for im in rendering.images} == {(64, 64, 3)}
    assert "orientation" in rendering.locate_hint
