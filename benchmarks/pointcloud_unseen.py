"""Zero-shot :class:`~genad.modalities.pointcloud.PointCloudExpert` on synthetic shapes nobody tuned on.

A generalization probe, not a benchmark to tune on: six parts built from ``trimesh.creation`` primitives (with and
without a mirror plane, one nearly symmetric), each normalised so the longest bounding-box side is 1 and sampled at
about 20,000 surface points with Gaussian noise sigma 0.001 and a small random pose (up to 10 degrees, 0.02 shift),
as in ``pointcloud_mesh_defects/MANIFEST.md``. Per object: 3 normal clouds and one anomalous cloud per defect type
(bulge, dent, hole, crack, extra_material, missing_part) with per-point labels made the way the MANIFEST describes
(simplified: geodesic distances on a k-nearest-neighbour graph, no density thinning, no crack side branches). Every
cloud is scored alone (zero-shot) with the default expert. Reported per object: object AUROC (normal vs anomalous
clouds), point AUROC (every point of every cloud pooled), the largest normal and the smallest anomalous score.

The shapes are fixed; ``--seed`` changes the sampling, poses and defects. The clouds do not depend on genad, so
the printed checksum must match across library versions.

Run::

    PYTHONPATH=src python benchmarks/pointcloud_unseen.py --seed 0 --n-seeds 5
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import cast

import numpy as np
import trimesh
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from genad.metrics import auroc, point_auroc
from genad.modalities.pointcloud import PointCloudExpert, PointCloudSample

N_POINTS = 20_000
NOISE = 0.001
DEFECTS = ("bulge", "dent", "hole", "crack", "extra_material", "missing_part")
MAX_DEPTH = 0.035  # dents and cracks: about half the thinnest wall of these parts

Inside = Callable[[np.ndarray], np.ndarray]


@dataclass
class Part:
    """A shape as components; a point sampled on one component but strictly inside another is hidden."""

    components: list[tuple[trimesh.Trimesh, Inside]]

    def sample(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """About ``n`` visible surface points, area-uniform, with outward face normals."""
        mesh = cast(trimesh.Trimesh, trimesh.util.concatenate([m for m, _ in self.components]))
        owner = np.repeat(np.arange(len(self.components)), [len(m.faces) for m, _ in self.components])
        total = sum(m.area for m, _ in self.components)
        pts, face = trimesh.sample.sample_surface(mesh, round(n * total / self.visible_area), seed=seed)
        pts = np.asarray(pts, dtype=np.float64)
        keep = self._visible(pts, owner[face])
        return pts[keep], np.asarray(mesh.face_normals[face][keep], dtype=np.float64)

    @cached_property
    def visible_area(self) -> float:
        """The area not hidden inside another component (Monte Carlo, fixed seed)."""
        return sum(m.area for m, _ in self.components) - self._hidden_area(0)

    def _visible(self, pts: np.ndarray, own: np.ndarray) -> np.ndarray:
        keep = np.ones(len(pts), dtype=bool)
        for i, (_, inside) in enumerate(self.components):
            keep &= ~((own != i) & inside(pts))
        return keep

    def _hidden_area(self, seed: int) -> float:
        if len(self.components) == 1:
            return 0.0
        mesh = cast(trimesh.Trimesh, trimesh.util.concatenate([m for m, _ in self.components]))
        owner = np.repeat(np.arange(len(self.components)), [len(m.faces) for m, _ in self.components])
        pts, face = trimesh.sample.sample_surface(mesh, 50_000, seed=seed + 1)
        hidden = ~self._visible(np.asarray(pts), owner[face])
        return float(hidden.mean() * mesh.area)

    def normalised(self) -> Part:
        """Bounding-box centre at the origin, longest side 1 (inside tests follow the same map)."""
        mesh = cast(trimesh.Trimesh, trimesh.util.concatenate([m for m, _ in self.components]))
        lo, hi = mesh.bounds
        centre, scale = (lo + hi) / 2, float((hi - lo).max())
        comps = []
        for m, inside in self.components:
            m = m.copy()
            m.vertices = (m.vertices - centre) / scale
            comps.append((m, _mapped(inside, centre, scale)))
        return Part(comps)


def _mapped(inside: Inside, centre: np.ndarray, scale: float) -> Inside:
    return lambda p: inside(p * scale + centre)


def _box(extents: tuple[float, float, float], at: tuple[float, float, float]) -> tuple[trimesh.Trimesh, Inside]:
    m = trimesh.creation.box(extents=extents)
    m.apply_translation(at)
    half, c = np.asarray(extents) / 2, np.asarray(at)
    return m, lambda p: np.all(np.abs(p - c) < half - 1e-9, axis=1)


def _cylinder(radius: float, z0: float, z1: float, xy: tuple[float, float] = (0.0, 0.0), sections: int = 96
              ) -> tuple[trimesh.Trimesh, Inside]:
    m = trimesh.creation.cylinder(radius=radius, height=z1 - z0, sections=sections)
    m.apply_translation((xy[0], xy[1], (z0 + z1) / 2))
    c = np.asarray(xy)
    # the polygonal cylinder's inscribed radius, so points on its facets count as outside
    r_in = radius * np.cos(np.pi / sections)
    return m, lambda p: (np.linalg.norm(p[:, :2] - c, axis=1) < r_in - 1e-9) & (p[:, 2] > z0 + 1e-9) & (
        p[:, 2] < z1 - 1e-9)


def _single(mesh: trimesh.Trimesh) -> Part:
    return Part([(mesh, lambda p: np.zeros(len(p), dtype=bool))])


def l_bracket() -> Part:
    """An L-bracket: mirror plane y = 0."""
    return Part([_box((1.0, 0.4, 0.08), (0.0, 0.0, 0.04)), _box((0.08, 0.4, 0.6), (-0.46, 0.0, 0.3))])


def flanged_cylinder() -> Part:
    """A shaft on a wider flange: rotationally symmetric."""
    return Part([_cylinder(0.2, -0.47, 0.5), _cylinder(0.35, -0.5, -0.44)])


def boss_plate() -> Part:
    """A plate with one slanted edge and three bosses at irregular places: no mirror plane."""
    plate, _ = _box((0.9, 0.6, 0.08), (0.0, 0.0, 0.0))
    v = plate.vertices
    v[(v[:, 0] > 0) & (v[:, 1] > 0), 0] += 0.22  # slanted right edge

    def in_plate(p: np.ndarray) -> np.ndarray:
        x_max = 0.45 + 0.22 * (p[:, 1] + 0.3) / 0.6
        return (np.abs(p[:, 2]) < 0.04 - 1e-9) & (np.abs(p[:, 1]) < 0.3 - 1e-9) & (p[:, 0] > -0.45 + 1e-9) & (
            p[:, 0] < x_max - 1e-9)

    bosses = [_cylinder(0.06, 0.02, 0.12, (-0.27, 0.12)), _cylinder(0.04, 0.02, 0.16, (0.18, -0.17)),
              _cylinder(0.08, 0.02, 0.07, (0.33, 0.14))]
    return Part([(plate, in_plate), *bosses])


def lumpy_sphere() -> Part:
    """An icosphere with smooth low-frequency radial noise: no mirror plane."""
    m = trimesh.creation.icosphere(subdivisions=5)
    rng = np.random.default_rng(12345)
    v = m.vertices
    bump = np.zeros(len(v))
    for _ in range(5):
        k = rng.normal(size=3)
        bump += rng.uniform(0.04, 0.09) * np.sin(v @ (rng.uniform(1.5, 3.0) * k / np.linalg.norm(k))
                                                 + rng.uniform(0, 2 * np.pi))
    m.vertices = v * (1 + bump)[:, None] * np.array([1.0, 0.8, 0.7])
    return _single(m)


def twisted_prism(levels: int = 60, ring: int = 120) -> Part:
    """An irregular star-shaped section extruded with a 70 degree twist and a taper: no mirror plane."""
    theta = np.linspace(0, 2 * np.pi, ring, endpoint=False)
    corners = np.array([0.0, 1.1, 2.3, 3.3, 4.6, 5.5])
    radii = np.array([0.30, 0.22, 0.34, 0.25, 0.28, 0.20])
    # piecewise-linear radius between irregular corners: an irregular hexagon-like section
    r = np.interp(theta, np.r_[corners, 2 * np.pi], np.r_[radii, radii[0]])
    verts, faces = [], []
    for i, z in enumerate(np.linspace(0, 1.0, levels)):
        a, s = np.deg2rad(70) * z, 1.0 - 0.4 * z
        verts.append(np.c_[s * r * np.cos(theta + a), s * r * np.sin(theta + a), np.full(ring, z)])
        if i:
            lo, hi = (i - 1) * ring, i * ring
            j = np.arange(ring)
            jn = (j + 1) % ring
            faces += list(np.c_[lo + j, lo + jn, hi + jn]) + list(np.c_[lo + j, hi + jn, hi + j])
    v = np.vstack(verts)
    bottom, top = len(v), len(v) + 1
    v = np.vstack([v, [0, 0, 0], [0, 0, 1.0]])
    j = np.arange(ring)
    jn = (j + 1) % ring
    last = (levels - 1) * ring
    faces += list(np.c_[np.full(ring, bottom), jn, j]) + list(np.c_[np.full(ring, top), last + j, last + jn])
    m = trimesh.Trimesh(v, np.asarray(faces), process=True)
    m.fix_normals()
    return _single(m)


def flatted_cylinder() -> Part:
    """A cylinder with one small flat along its length: nearly rotationally symmetric."""
    m = trimesh.creation.cylinder(radius=0.3, height=1.0, sections=256)
    m.vertices[:, 0] = np.minimum(m.vertices[:, 0], 0.27)
    return _single(m)


SHAPES: dict[str, Callable[[], Part]] = {
    "l_bracket": l_bracket, "flanged_cyl": flanged_cylinder, "boss_plate": boss_plate,
    "lumpy_sphere": lumpy_sphere, "twisted_prism": twisted_prism, "flatted_cyl": flatted_cylinder,
}


def _smooth_normals(pts: np.ndarray, normals: np.ndarray, tree: cKDTree, k: int = 30) -> np.ndarray:
    _, idx = tree.query(pts, k=k)
    n = normals[idx].mean(axis=1)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def _geodesic(pts: np.ndarray, tree: cKDTree, source: int, k: int = 10) -> np.ndarray:
    """Shortest-path distance from ``source`` over the k-nearest-neighbour graph (inf where unreachable)."""
    dist, idx = tree.query(pts, k=k + 1)
    rows = np.repeat(np.arange(len(pts)), k)
    graph = csr_matrix((dist[:, 1:].ravel(), (rows, idx[:, 1:].ravel())), shape=(len(pts), len(pts)))
    return dijkstra(graph, directed=False, indices=source, limit=1.5)


def _defect_centre(pts: np.ndarray, rng: np.random.Generator, outer: bool = False) -> int:
    """A random surface point (every sampled point of these parts is on the outside); with ``outer`` one of the
    15 % farthest from the centroid (an extremity)."""
    if outer:
        d = np.linalg.norm(pts - pts.mean(axis=0), axis=1)
        return int(rng.choice(np.flatnonzero(d >= np.quantile(d, 0.85))))
    return int(rng.integers(len(pts)))


def _displace(pts: np.ndarray, normals: np.ndarray, disp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    peak = np.abs(disp).max()
    label = (np.abs(disp) >= 0.1 * peak) & (np.abs(disp) >= 0.002)
    return pts + disp[:, None] * normals, label


def inject(kind: str, pts: np.ndarray, face_normals: np.ndarray, rng: np.random.Generator, density: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """One defect of ``kind`` on a clean cloud (canonical frame, ``density`` points per unit area): the new points
    and their labels."""
    tree = cKDTree(pts)
    normals = _smooth_normals(pts, face_normals, tree)
    n = len(pts)
    if kind in ("bulge", "dent"):
        c = _defect_centre(pts, rng)
        g = _geodesic(pts, tree, c)
        labelled = np.sort(g)[int(rng.uniform(0.015, 0.04) * n)]
        support = labelled / 0.795  # raised cosine >= 10 % of peak inside 0.795 of the support
        peak = rng.uniform(0.15, 0.35) * support
        if kind == "dent":
            peak = -min(peak, MAX_DEPTH)
        disp = np.where(g < support, peak * 0.5 * (1 + np.cos(np.pi * np.minimum(g / support, 1))), 0.0)
        return _displace(pts, normals, disp)
    if kind == "hole":
        c = _defect_centre(pts, rng)
        g = _geodesic(pts, tree, c)
        radius = np.sort(g)[int(rng.uniform(0.008, 0.025) * n)]
        rim = float(np.clip(0.2 * radius, 0.01, 0.03))
        keep = g >= radius
        return pts[keep], g[keep] < radius + rim
    if kind == "crack":
        return _crack(pts, normals, tree, rng, density)
    if kind == "extra_material":
        return _blob(pts, normals, rng, density)
    if kind == "missing_part":
        c = _defect_centre(pts, rng, outer=True)
        d = np.linalg.norm(pts - pts[c], axis=1)
        radius = np.sort(d)[int(rng.uniform(0.025, 0.05) * n)]
        rim = float(np.clip(0.2 * radius, 0.01, 0.03))
        removed = d < radius
        rest = pts[~removed]
        near, _ = cKDTree(pts[removed]).query(rest)
        return rest, near < rim
    raise ValueError(kind)


def _crack(pts: np.ndarray, normals: np.ndarray, tree: cKDTree, rng: np.random.Generator, density: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """A narrow raised-cosine groove with tapered tips along a wandering path that stops at creases."""
    c = _defect_centre(pts, rng)
    width, depth = rng.uniform(0.022, 0.032), min(rng.uniform(0.02, 0.035), MAX_DEPTH)
    # target labelled area 0.5-0.9 % of the surface; the labelled strip is 0.795 of the width
    length = min(1.0, rng.uniform(0.005, 0.009) * len(pts) / density / (0.795 * width))
    step = 0.004
    n0 = normals[c]
    direction = np.cross(n0, rng.normal(size=3))
    direction /= np.linalg.norm(direction)
    halves = []
    for sign in (1.0, -1.0):  # grow both ways from the centre, half the length each
        path, here, heading = [pts[c]], c, sign * direction
        for _ in range(int(length / 2 / step)):
            pos = path[-1] + step * heading
            _, nxt = tree.query(pos)
            if normals[nxt] @ normals[here] < np.cos(np.deg2rad(25)):
                break  # a crease
            here, n = nxt, normals[nxt]
            path.append(pos - ((pos - pts[here]) @ n) * n)  # back onto the local tangent plane
            heading = heading - (heading @ n) * n + rng.normal(scale=0.08, size=3)
            heading -= (heading @ n) * n
            heading /= np.linalg.norm(heading)
        halves.append(path)
    path_arr = np.asarray(halves[1][::-1] + halves[0][1:])
    t = np.linspace(0, 1, len(path_arr))
    taper = np.clip(np.minimum(t, 1 - t) / 0.15, 0, 1) if len(path_arr) > 2 else np.ones(len(path_arr))
    dist, nearest = cKDTree(path_arr).query(pts)
    half = width / 2
    disp = -depth * taper[nearest] * np.where(dist < half, 0.5 * (1 + np.cos(np.pi * np.minimum(dist / half, 1))),
                                              0.0)
    return _displace(pts, normals, disp)


def _blob(pts: np.ndarray, normals: np.ndarray, rng: np.random.Generator, density: float
          ) -> tuple[np.ndarray, np.ndarray]:
    """A noisy, partly embedded ellipsoid fused to the surface, its exposed part sampled at the cloud's density."""
    c = _defect_centre(pts, rng)
    area = rng.uniform(0.01, 0.03)  # share of the surface
    footprint = np.sort(np.linalg.norm(pts - pts[c], axis=1))[int(area * len(pts))]
    a = footprint
    axes = np.array([a, a * rng.uniform(0.6, 1.0), a * rng.uniform(0.35, 0.7)])
    n = normals[c]
    t1 = np.cross(n, rng.normal(size=3))
    t1 /= np.linalg.norm(t1)
    frame = np.stack([t1, np.cross(n, t1), n])  # rows: ellipsoid axes in the world
    centre = pts[c] - 0.3 * axes[2] * n  # partly embedded
    sphere = trimesh.creation.icosphere(subdivisions=4)
    surf = sphere.vertices * axes
    sphere.vertices = surf @ frame + centre
    n_blob = int(sphere.area * density)
    blob, _ = trimesh.sample.sample_surface(sphere, n_blob, seed=int(rng.integers(2**31)))
    blob = np.asarray(blob)
    blob = blob + rng.normal(scale=0.002, size=blob.shape)  # a noisy blob
    blob = blob[(blob - pts[c]) @ n > 0]  # the part above the local surface is exposed
    inside = np.sum((((pts - centre) @ frame.T) / axes) ** 2, axis=1) < 1
    return np.vstack([pts[~inside], blob]), np.r_[np.zeros((~inside).sum(), bool), np.ones(len(blob), bool)]


def posed(pts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotation about a random axis by up to 10 degrees, shift up to 0.02 per axis, noise sigma 0.001."""
    axis = rng.normal(size=3)
    rot = Rotation.from_rotvec(axis / np.linalg.norm(axis) * np.deg2rad(rng.uniform(0, 10))).as_matrix()
    return pts @ rot.T + rng.uniform(-0.02, 0.02, 3) + rng.normal(scale=NOISE, size=pts.shape)


def clouds(part: Part, seed: int, obj: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Three normal clouds and one cloud per defect type: (kind, points, labels), shuffled."""
    out = []
    for i, kind in enumerate(("good",) * 3 + DEFECTS):
        rng = np.random.default_rng([seed, obj, i])
        n = int(N_POINTS * rng.uniform(0.9, 1.1))
        pts, normals = part.sample(n, seed=int(rng.integers(2**31)))
        labels = np.zeros(len(pts), dtype=bool)
        if kind != "good":
            pts, labels = inject(kind, pts, normals, rng, len(pts) / part.visible_area)
        order = rng.permutation(len(pts))
        out.append((kind, posed(pts[order], rng), labels[order]))
    return out


@dataclass
class Scored:
    """One object's clouds under one seed: kinds, object scores, per-point truths and maps."""

    kinds: list[str]
    scores: list[float]
    truths: list[np.ndarray]
    maps: list[np.ndarray]

    def __add__(self, other: Scored) -> Scored:
        return Scored(self.kinds + other.kinds, self.scores + other.scores, self.truths + other.truths,
                      self.maps + other.maps)

    @property
    def object_auroc(self) -> float:
        return auroc([int(k != "good") for k in self.kinds], self.scores)

    @property
    def point_auroc(self) -> float:
        return point_auroc(self.truths, self.maps)

    def line(self, name: str) -> str:
        good_max = max(s for s, k in zip(self.scores, self.kinds, strict=True) if k == "good")
        bad_min = min(s for s, k in zip(self.scores, self.kinds, strict=True) if k != "good")
        per = {d: [s for s, k in zip(self.scores, self.kinds, strict=True) if k == d] for d in DEFECTS}
        return (f"{name:14s} {self.object_auroc:6.3f} {self.point_auroc:6.3f} {good_max:5.2f} {bad_min:5.2f}  "
                + " ".join(f"{np.mean(per[d]):7.2f}" for d in DEFECTS))


def score_object(expert: PointCloudExpert, part: Part, seed: int, obj: int, digest: Callable[[bytes], object],
                 seconds: list[float]) -> Scored:
    """Every cloud of one object scored alone; ``digest`` is fed every cloud, ``seconds`` the time per cloud."""
    scored = Scored([], [], [], [])
    for kind, pts, labels in clouds(part, seed, obj):
        digest(np.round(pts, 6).tobytes())
        digest(labels.tobytes())
        start = time.perf_counter()
        result = expert.score(PointCloudSample.from_array(pts))
        seconds.append(time.perf_counter() - start)
        scored.kinds.append(kind)
        scored.scores.append(float(result.score))
        scored.truths.append(labels)
        scored.maps.append(np.asarray(result.anomaly_map, dtype=np.float64))
    return scored


HEADER = (f"{'object':14s} {'obj':>6s} {'point':>6s} {'gmax':>5s} {'amin':>5s}  "
          + " ".join(f"{d[:7]:>7s}" for d in DEFECTS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="first seed of sampling, poses and defects")
    parser.add_argument("--n-seeds", type=int, default=1, help="also seeds seed+1 ...; then a pooled table")
    parser.add_argument("--objects", nargs="*", default=None, choices=sorted(SHAPES))
    args = parser.parse_args()
    expert = PointCloudExpert()
    digest = hashlib.sha256()
    seconds: list[float] = []
    parts = {name: (o, make().normalised()) for o, (name, make) in enumerate(SHAPES.items())
             if not args.objects or name in args.objects}
    pooled: dict[str, Scored] = {}
    print("columns: object AUROC, point AUROC, largest normal score, smallest anomalous score, score per defect")
    for seed in range(args.seed, args.seed + args.n_seeds):
        print(f"seed {seed}\n{HEADER}")
        runs = {}
        for name, (o, part) in parts.items():
            runs[name] = score_object(expert, part, seed, o, digest.update, seconds)
            pooled[name] = pooled[name] + runs[name] if name in pooled else runs[name]
            print(runs[name].line(name), flush=True)
        print(f"{'mean':14s} {np.mean([r.object_auroc for r in runs.values()]):6.3f} "
              f"{np.mean([r.point_auroc for r in runs.values()]):6.3f}")
    if args.n_seeds > 1:
        print(f"pooled over seeds {args.seed}-{args.seed + args.n_seeds - 1} (per-defect: mean score)\n{HEADER}")
        for name, run in pooled.items():
            print(run.line(name))
        print(f"{'mean':14s} {np.mean([r.object_auroc for r in pooled.values()]):6.3f} "
              f"{np.mean([r.point_auroc for r in pooled.values()]):6.3f}")
    print(f"{np.mean(seconds):.2f} s per cloud; clouds sha256 {digest.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
