"""A local 3-D expert: :class:`PointCloudExpert` scores every point of a cloud, with or without normal references.

With references, each is registered to the sample without assuming close poses (:func:`register`: the two PCA
frames matched under every axis permutation/flip and turns about the distinct axis, the best starts refined by
trimmed point-to-plane ICP). Every point then gets its distance to the reference surface (to the tangent planes of
its nearest reference points), its local normal deviation from those points' normals, and a reverse term for holes
(reference surface with no sample point near it, charged to the rim points that border it), smoothed over
neighbours. Several references: the per-point minimum.

Without references (zero-shot) a point is anomalous when its surface has no twin in the same cloud. Two kinds
of twin count: its mirror twin (a reflection of the cloud registered onto it like a reference finds the best
mirror plane; the deviation from it is measured like a reference's) and a look-alike elsewhere (the local shape,
described by rotation-invariant moments of the neighbours' heights over the tangent plane at a few radii, matched
against the same description of other places more than ``twin_exclusion`` point spacings away). Where the mirror
plane holds around a point (most points of the cloud, and most within ``symmetry_radius`` spacings, have a mirror
twin) the mirror deviation alone decides; elsewhere a point must lack both twins. Repeated features (edges along
their length, patterns of holes, the four corners of a plate) find look-alikes; a defect is at one place only and
finds neither. Parts without a mirror plane rely on the look-alikes and on openness: the rim of a hole or of a
broken-off part has surface on one side only, so a one-sided neighbourhood counts as rare too (as do sharp edges
without a mirrored twin). ``score_many`` without references scores each cloud of a batch against the others
instead (a point is anomalous when no peer has surface there).

Distances are measured in units of the reference's own surface noise (the same distance measured between two
interleaved halves of the reference), so ``score >= 0.5`` means anomalous without a per-dataset threshold.
Zero-shot look-alike distances are divided by their median over the cloud and multiplied by ``rarity_scale`` to
share that scale.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from genad._confidence import params_of
from genad._expert import ExpertResult
from genad._report import Region
from genad._sample import load_with
from genad.modalities.pointcloud._confidence import TABLE
from genad.modalities.pointcloud._sample import PointCloudSample

__all__ = ["PointCloudExpert", "register"]


def _cube_rotations() -> np.ndarray:
    """The 24 proper rotations that map the coordinate axes onto themselves (signed permutations, det +1)."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            m[np.arange(3), perm] = signs
            if np.linalg.det(m) > 0:
                out.append(m)
    return np.stack(out)


_CUBE = _cube_rotations()
_CACHED_REFERENCES = 8
_RIM_POINTS = 5  # test points charged with each missing reference point's gap
_TWINS = 3  # zero-shot: a place's rarity is its distance to the third nearest look-alike
_FILL_WEIGHT = 0.3  # weight of the ring fill fractions against the height moments in a local description
_SPREAD = 4  # every point takes the mean rarity of this many nearest described centres
_OPEN_NEIGHBOURS = 100  # neighbours whose centroid gives a point's openness (its noise falls as 1/sqrt of this)


@dataclass
class _Surface:
    """A cloud with what scoring needs: KD-tree, median point spacing and, when asked for, unit normals and
    each point's nearest neighbours (itself first)."""

    points: np.ndarray
    tree: cKDTree
    normals: np.ndarray | None
    spacing: float
    neighbours: np.ndarray | None = None


def _surface(points: np.ndarray, k_normals: int = 0, k_neighbours: int = 0) -> _Surface:
    """Index a cloud; with ``k_normals`` it gets PCA normals over that many neighbours, with ``k_neighbours``
    it keeps that many nearest neighbours of every point."""
    tree = cKDTree(points)
    k = min(max(k_normals + 1, k_neighbours, 2), len(points))
    dist, nbrs = tree.query(points, k=k, workers=-1)
    normals = _pca_normals(points[nbrs[:, :k_normals + 1]]) if k_normals else None
    gaps = dist[:, 1][dist[:, 1] > 0]
    spacing = float(np.median(gaps)) if gaps.size else 1.0  # all points coincide only in invalid samples
    return _Surface(points, tree, normals, spacing, nbrs[:, :k_neighbours] if k_neighbours else None)


def _pca_normals(neighbourhoods: np.ndarray) -> np.ndarray:
    """Unit normals (smallest-variance direction) of ``(N, k, 3)`` neighbourhoods."""
    centred = neighbourhoods - neighbourhoods.mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", centred, centred)
    _, vecs = np.linalg.eigh(cov)
    return vecs[:, :, 0]


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def _fit_cost(points: np.ndarray, target: _Surface) -> float:
    """Mean distance to the target's tangent planes, each capped at three point spacings (so a part left
    unmatched counts fully, and sampling offsets along the surface do not count at all)."""
    dist, idx = target.tree.query(points)
    if target.normals is not None:
        dist = np.abs(np.einsum("ij,ij->i", points - target.points[idx], target.normals[idx]))
    return float(np.minimum(dist, 3.0 * target.spacing).mean())


def _icp(src: np.ndarray, target: _Surface, start: np.ndarray, iterations: int, keep: float = 0.9
         ) -> tuple[np.ndarray, float]:
    """Trimmed point-to-plane ICP (linearised rotation) from ``start``; returns the transform and its
    :func:`_fit_cost`."""
    assert target.normals is not None
    matrix = start
    n_keep = max(6, int(keep * len(src)))
    for _ in range(iterations):
        moved = _apply(matrix, src)
        _, idx = target.tree.query(moved)
        normals = target.normals[idx]
        diff = np.einsum("ij,ij->i", moved - target.points[idx], normals)
        order = np.argpartition(np.abs(diff), n_keep - 1)[:n_keep]
        a = np.hstack([np.cross(moved[order], normals[order]), normals[order]])
        x = np.linalg.solve(a.T @ a + 1e-12 * np.eye(6), -a.T @ diff[order])
        step = np.eye(4)
        step[:3, :3] = Rotation.from_rotvec(x[:3]).as_matrix()
        step[:3, 3] = x[3:]
        matrix = step @ matrix
        if np.abs(x[3:]).max() < 1e-3 * target.spacing and np.abs(x[:3]).max() < 1e-5:
            break
    return matrix, _fit_cost(_apply(matrix, src), target)


def _starting_rotations(eigenvalues: np.ndarray, step_degrees: float = 10.0) -> np.ndarray:
    """Rotations, in PCA coordinates, to start from: the 24 axis permutations/flips, each combined with turns
    about the principal axis whose variance stands apart (a near-symmetric shape's frame is only defined up to
    such a turn)."""
    low, mid, high = np.maximum(eigenvalues, np.finfo(float).tiny)
    axis = 2 if mid / low < high / mid else 0
    turns = [Rotation.from_rotvec(np.radians(a) * np.eye(3)[axis]).as_matrix()
             for a in np.arange(0.0, 90.0, step_degrees)]
    return np.stack([g @ t for g in _CUBE for t in turns])


def _frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centroid, principal axes (columns, by increasing variance) and their variances."""
    centre = points.mean(axis=0)
    values, vecs = np.linalg.eigh(np.cov((points - centre).T))
    if np.linalg.det(vecs) < 0:
        vecs[:, 2] = -vecs[:, 2]  # right-handed, so frame-to-frame maps are rotations, never reflections
    return centre, vecs, values


def register(source: np.ndarray, target: _Surface, n_coarse: int = 200, n_fine: int = 1000, n_icp: int = 24,
             n_refine: int = 4, seed: int = 0
             ) -> tuple[np.ndarray, float]:
    """A rigid 4x4 transform taking ``source`` points onto the ``target`` surface (which has normals), from any
    starting pose.

    Starts: the identity and the two PCA frames matched under the 24 axis permutations/flips, each turned about
    the source's most distinct principal axis in 10-degree steps. All are ranked by their capped distance on
    ``n_coarse`` points against a subsample of the target; the best ``n_icp`` get a short trimmed point-to-plane
    ICP there, the best ``n_refine`` of those a longer one on ``n_fine`` points against the whole target, and the
    winner a last one on ``3 * n_fine`` points. Returns the transform and its :func:`_fit_cost`.
    """
    rng = np.random.default_rng(seed)
    ranked_source = source[_canonical_order(source)]  # draws by rank: the same points in any order and pose
    coarse = ranked_source[rng.choice(len(source), min(n_coarse, len(source)), replace=False)]
    fine = ranked_source[rng.choice(len(source), min(n_fine, len(source)), replace=False)]
    n_sub = min(4 * n_coarse, len(target.points))
    keep = _canonical_order(target.points)[rng.choice(len(target.points), n_sub, replace=False)]
    sub = _Surface(target.points[keep], cKDTree(target.points[keep]),
                   None if target.normals is None else target.normals[keep],
                   target.spacing * np.sqrt(len(target.points) / n_sub))
    c_src, f_src, var_src = _frame(source)
    c_dst, f_dst, _ = _frame(target.points)
    starts = [np.eye(4)]
    starts[0][:3, 3] = c_dst - c_src
    for g in _starting_rotations(var_src):
        m = np.eye(4)
        m[:3, :3] = f_dst @ g @ f_src.T
        m[:3, 3] = c_dst - m[:3, :3] @ c_src
        starts.append(m)
    stacked = np.stack(starts)
    moved = np.einsum("sij,nj->sni", stacked[:, :3, :3], coarse) + stacked[:, None, :3, 3]
    dist, _ = sub.tree.query(moved.reshape(-1, 3), workers=-1)
    costs = np.minimum(dist, 3.0 * sub.spacing).reshape(len(starts), -1).mean(axis=1)
    ranked = [starts[i] for i in np.argsort(costs)[:n_icp]]
    tried = sorted((_icp(coarse, sub, m, iterations=6) for m in ranked), key=lambda t: t[1])
    refined = [_icp(fine, target, m, iterations=10) for m, _ in tried[:n_refine]]
    final = ranked_source[rng.choice(len(source), min(3 * n_fine, len(source)), replace=False)]
    best, _ = _icp(final, target, min(refined, key=lambda t: t[1])[0], iterations=10)
    return best, _fit_cost(_apply(best, final), target)


@dataclass
class _Reference:
    """A normal reference prepared once: its surface (with normals) and its own noise level."""

    surface: _Surface
    noise: float


@dataclass
class PointCloudExpert:
    """Per-point anomaly scores for point clouds (see the module docstring for the method).

    ``k_plane`` reference neighbours give the surface distance; ``k_smooth`` neighbours smooth it; the object
    score is the mean of the top ``top_fraction`` of point scores. Reference surface missing from the sample by
    more than ``hole_spacings`` point spacings counts as a hole. Deviations are divided by the reference's noise
    and mapped to [0, 1] by a logistic centred at ``threshold`` noise units with scale ``width``.
    ``n_peers`` is how many other clouds of a batch each is compared with in zero-shot ``score_many``.
    Zero-shot look-alikes: the local shape is described at ``twin_radii`` (point spacings) around
    ``twin_centres`` places of the cloud, and a place's rarity is its descriptor distance to the third nearest
    place farther than ``twin_exclusion`` spacings away, over its median, times ``rarity_scale``. That rarity, or
    the point's openness if larger, caps the mirror deviation except where at least half the points of the cloud
    and half of those within ``symmetry_radius`` spacings deviate from their mirror twin by less than
    ``threshold``.
    """

    k_plane: int = 10
    k_smooth: int = 30
    top_fraction: float = 0.01
    hole_spacings: float = 3.0
    threshold: float = 6.0
    width: float = 1.5
    max_regions: int = 3
    n_peers: int = 4
    normal_weight: float = 1.0
    twin_radii: tuple[float, ...] = (6.0, 12.0, 20.0)
    twin_exclusion: float = 25.0
    twin_centres: int = 2000
    rarity_scale: float = 3.0
    symmetry_radius: float = 40.0
    seed: int = 0
    _prepared_: dict[int, tuple[PointCloudSample, _Reference]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_prepared_"] = {}  # a cache: KD-trees of references are rebuilt on demand
        return state

    def score(self, sample: Any, references: Sequence[Any] = ()) -> ExpertResult:
        """Score one cloud against normal reference clouds (any poses), or against its own mirror image when
        there are none."""
        cloud = _as_cloud(sample)
        if not references:
            return self._score_mirrored(cloud)
        refs = [self._reference(_as_cloud(r)) for r in references]
        return self._score_against(cloud, refs, _regime(refs))

    def score_many(self, samples: Sequence[Any], references: Sequence[Any] = ()) -> list[ExpertResult]:
        """Score a batch. Without references, each cloud is scored against up to ``n_peers`` other clouds of the
        batch (a point is anomalous when no peer has surface there), so defects at different places in
        different clouds do not hide each other."""
        clouds = [_as_cloud(s) for s in samples]
        if references or len(clouds) < 2:
            refs = [self._reference(_as_cloud(r)) for r in references]
            return [self._score_against(c, refs, _regime(refs)) if refs else self._score_mirrored(c) for c in clouds]
        prepared = [self._prepare(c) for c in clouds]
        n_peers = min(self.n_peers, len(clouds) - 1)
        return [self._score_against(c, [prepared[(i + j) % len(clouds)] for j in range(1, n_peers + 1)], "batch",
                                    f"zero-shot: scored against {n_peers} other clouds of the batch")
                for i, c in enumerate(clouds)]

    def _score_against(self, cloud: PointCloudSample, refs: list[_Reference], regime: str, note: str = ""
                       ) -> ExpertResult:
        maps, notes = [], [note] if note else []
        for ref in refs:
            matrix, cost = register(cloud.points, ref.surface, seed=self.seed)
            test = _surface(_apply(matrix, cloud.points), self.k_plane, self.k_smooth)
            maps.append(self._deviation(test, ref.surface, ref.noise))
            notes.append(f"registered to a reference: mean distance {cost / ref.surface.spacing:.2f} point spacings")
        raw_map = np.min(maps, axis=0)
        return self._result(test, raw_map, tuple(notes), {"noise": float(np.median([r.noise for r in refs]))},
                            regime)

    def _score_mirrored(self, cloud: PointCloudSample) -> ExpertResult:
        """Zero-shot: each point's deviation from the cloud's best-fitting mirror image (a reflection registered
        onto the cloud like a reference, which finds the best mirror plane). Where that plane does not hold around
        the point (:func:`_mirror_holds`), the deviation is capped by the point's rarity among the cloud's own
        local shapes (:func:`_rarity`) or its openness (:func:`_openness`), whichever is larger: there a point
        scores only when it has no mirror twin and either no look-alike elsewhere in the cloud or surface on one
        side only."""
        target = self._prepare(cloud, self.k_smooth)
        flipped = cloud.points * np.array([-1.0, 1.0, 1.0])  # any reflection: registration finds the plane
        matrix, cost = register(flipped, target.surface, seed=self.seed)
        reflected = self._prepare(PointCloudSample(_apply(matrix, flipped)))
        test = target.surface
        mirror = self._deviation(test, reflected.surface, reflected.noise)
        centres = _centres(test.points, self.twin_centres, self.seed)
        rarity = _rarity(test, centres, self.twin_radii, self.twin_exclusion)
        holds = _mirror_holds(test, centres, mirror < self.threshold, self.symmetry_radius)
        rare = np.maximum(rarity, _openness(test))
        raw_map = np.where(holds, mirror, np.minimum(mirror, self.rarity_scale * rare))
        note = (f"zero-shot: a point scores when it has no mirror twin (best mirror plane misfit "
                f"{cost / test.spacing:.2f} point spacings, holding around {holds.mean():.0%} of the points) "
                f"and, where the plane does not hold, no look-alike elsewhere in the cloud or an open rim")
        meta = {"mirror_cost": cost / test.spacing, "noise": reflected.noise, "mirror_holds": float(holds.mean())}
        return self._result(test, raw_map, (note,), meta, "zero-shot")

    def _reference(self, ref: PointCloudSample) -> _Reference:
        """The prepared reference, kept for the last few reference objects (the same ones are passed per sample)."""
        hit = self._prepared_.get(id(ref))
        if hit is not None and hit[0] is ref:
            return hit[1]
        prepared = self._prepare(ref)
        if len(self._prepared_) >= _CACHED_REFERENCES:
            self._prepared_.pop(next(iter(self._prepared_)))
        self._prepared_[id(ref)] = (ref, prepared)
        return prepared

    def _prepare(self, ref: PointCloudSample, k_neighbours: int = 0) -> _Reference:
        surface = _surface(ref.points, self.k_plane, k_neighbours)
        assert surface.normals is not None
        half = np.zeros(len(ref.points), dtype=bool)
        half[_canonical_order(ref.points)[::2]] = True  # interleaved halves by rank, whatever the point order
        other = _Surface(ref.points[~half], cKDTree(ref.points[~half]), surface.normals[~half], surface.spacing)
        noise = float(np.median(self._surface_distance(ref.points[half], other, surface.normals[half])))
        return _Reference(surface, max(noise, 1e-6 * surface.spacing))

    def _surface_distance(self, points: np.ndarray, ref: _Surface, normals: np.ndarray | None = None
                          ) -> np.ndarray:
        """Distance of each point to the nearest tangent plane among its ``k_plane`` nearest reference points,
        never less than the distance to the reference points beyond 1.5 spacings. With the points' ``normals``,
        also never less than ``normal_weight`` spacings times the sine of the smallest angle to those points'
        normals (local normal deviation)."""
        assert ref.normals is not None
        dist, nbrs = ref.tree.query(points, k=min(self.k_plane, len(ref.points)), workers=-1)
        plane = np.abs(np.einsum("nkj,nkj->nk", points[:, None, :] - ref.points[nbrs], ref.normals[nbrs])).min(axis=1)
        out = np.maximum(plane, dist[:, 0] - 1.5 * ref.spacing)
        if normals is not None and self.normal_weight > 0:
            cosine = np.abs(np.einsum("nj,nkj->nk", normals, ref.normals[nbrs])).max(axis=1)
            tilt = np.sqrt(np.clip(1.0 - cosine * cosine, 0.0, 1.0))
            out = np.maximum(out, self.normal_weight * ref.spacing * tilt)
        return out

    def _deviation(self, test: _Surface, ref: _Surface, noise: float) -> np.ndarray:
        """Per-test-point deviation from the aligned reference in noise units, smoothed over neighbours."""
        score = self._surface_distance(test.points, ref, test.normals)
        # reverse term: reference points far from every test point are missing surface; charge the gap to the
        # nearest few test points, which lie on the rim
        gap, _ = test.tree.query(ref.points, workers=-1)
        excess = gap - self.hole_spacings * max(ref.spacing, test.spacing)
        missing = np.flatnonzero(excess > 0)
        hole = np.zeros(len(test.points))
        if missing.size:
            _, rim = test.tree.query(ref.points[missing], k=min(_RIM_POINTS, len(test.points)))
            np.maximum.at(hole, rim.reshape(len(missing), -1), excess[missing, None])
        score = np.maximum(score, hole)
        assert test.neighbours is not None
        return score[test.neighbours].mean(axis=1) / noise

    def _result(self, test: _Surface, raw_map: np.ndarray, notes: tuple[str, ...], meta: dict[str, Any],
                regime: str) -> ExpertResult:
        n_top = max(1, int(np.ceil(self.top_fraction * len(raw_map))))
        raw = float(np.partition(raw_map, len(raw_map) - n_top)[-n_top:].mean())
        point_scores = _logistic(raw_map, self.threshold, self.width)
        score = float(_logistic(np.array([raw]), self.threshold, self.width)[0])
        regions = _regions(test, point_scores, self.max_regions)
        confidence, note = TABLE.confidence(params_of(self), regime, score)
        return ExpertResult(score=score, raw_score=raw, anomaly_map=point_scores, regions=regions,
                            notes=(*notes, note), confidence=confidence, meta=meta)


def _regime(refs: Sequence[_Reference]) -> str:
    return "1 reference" if len(refs) == 1 else "2+ references"


def _ring_moments(surface: _Surface, centres: np.ndarray, radius: float, n_rings: int = 3) -> np.ndarray:
    """Rotation-invariant description of the surface within ``radius`` of each centre point: the neighbours'
    heights over the centre's tangent plane (normal oriented so that their sum is not positive: bumps and pits
    alike), in ``n_rings`` equal-area rings, as mean, spread and fill (count over its median; low at a boundary)
    per ring."""
    assert surface.normals is not None
    points = surface.points
    k = min(len(points), int(4.0 * (radius / surface.spacing) ** 2) + 50)  # about twice the expected count
    dist, nbrs = surface.tree.query(points[centres], k=k, distance_upper_bound=radius, workers=-1)
    inside = np.isfinite(dist)
    offsets = points[np.where(inside, nbrs, 0)] - points[centres, None, :]
    height = np.einsum("nkj,nj->nk", offsets, surface.normals[centres]) / radius
    height *= np.where((height * inside).sum(axis=1) > 0, -1.0, 1.0)[:, None]
    ring = np.minimum((dist[inside] / radius) ** 2 * n_rings, n_rings - 1).astype(np.intp)
    bins = (np.nonzero(inside)[0] * n_rings + ring, len(centres) * n_rings)
    count = np.bincount(bins[0], minlength=bins[1]).reshape(-1, n_rings)
    mean = np.bincount(bins[0], height[inside], bins[1]).reshape(-1, n_rings) / np.maximum(count, 1)
    square = np.bincount(bins[0], height[inside] ** 2, bins[1]).reshape(-1, n_rings) / np.maximum(count, 1)
    spread = np.sqrt(np.maximum(square - mean**2, 0.0))
    fill = _FILL_WEIGHT * count / max(float(np.median(count.sum(axis=1))) / n_rings, 1.0)
    return np.stack([mean, spread, fill], axis=2).reshape(len(centres), -1)


def _canonical_order(points: np.ndarray) -> np.ndarray:
    """Indices of ``points`` by distance from their centroid: the same points in the same ranks whatever their order
    and pose, so draws by rank give the same sample for a shuffled or moved cloud."""
    return np.argsort(np.linalg.norm(points - points.mean(axis=0), axis=1), kind="stable")


def _centres(points: np.ndarray, n_centres: int, seed: int) -> np.ndarray:
    """Sorted indices of ``n_centres`` of the points: a fixed draw by rank (:func:`_canonical_order`), so the same
    places in any order and pose."""
    n = len(points)
    return np.sort(_canonical_order(points)[np.random.default_rng(seed).choice(n, min(n_centres, n), replace=False)])


def _mirror_holds(surface: _Surface, centres: np.ndarray, twinned: np.ndarray, radius: float) -> np.ndarray:
    """Whether the mirror plane holds around each point: at least half of the whole cloud and of the points within
    ``radius`` point spacings of the point's nearest centre are ``twinned`` (a radius above a defect's size, so a
    defect does not undo its own surroundings). Without the whole-cloud test, a part with no mirror plane would
    trust the patches where a poor mirror image happens to fit, which depend on the pose."""
    if 2 * np.count_nonzero(twinned) < len(twinned):
        return np.zeros(len(twinned), dtype=bool)
    ball = radius * surface.spacing
    around = surface.points[centres]
    total = surface.tree.query_ball_point(around, ball, return_length=True, workers=-1)
    matched = cKDTree(surface.points[twinned]).query_ball_point(around, ball, return_length=True, workers=-1)
    _, nearest = cKDTree(around).query(surface.points, workers=-1)
    return (2 * matched >= total)[nearest]


def _openness(surface: _Surface) -> np.ndarray:
    """How one-sided each point's neighbourhood is, over the cloud's median: the offset along the tangent plane of
    the centroid of its ``_OPEN_NEIGHBOURS`` nearest points, in units of their mean distance, averaged over the
    point's own neighbours. About half a neighbourhood radius at the rim of a hole or a broken-off part; only
    sampling noise inside a smooth surface."""
    assert surface.normals is not None and surface.neighbours is not None
    points, normals = surface.points, surface.normals
    dist, nbrs = surface.tree.query(points, k=min(_OPEN_NEIGHBOURS, len(points)), workers=-1)
    offset = points[nbrs].mean(axis=1) - points
    along = offset - np.einsum("ij,ij->i", offset, normals)[:, None] * normals
    value = np.linalg.norm(along, axis=1) / np.maximum(dist.mean(axis=1), 1e-12)
    value = value[surface.neighbours].mean(axis=1)
    return value / max(float(np.median(value)), 1e-12)


def _rarity(surface: _Surface, centres: np.ndarray, radii: Sequence[float], exclusion: float) -> np.ndarray:
    """How unlike anything elsewhere in the cloud each point's surroundings are, relative to the cloud's median.

    The ``centres`` (point indices) are described by :func:`_ring_moments` at each of ``radii`` point spacings; a
    centre's rarity is the descriptor distance to its ``_TWINS``-th nearest centre farther than ``exclusion``
    spacings away. Every point takes the mean over its nearest centres.
    """
    from scipy.spatial.distance import cdist

    n = len(surface.points)
    described = np.hstack([_ring_moments(surface, centres, r * surface.spacing) for r in radii])
    distance = cdist(described, described)
    near = cdist(surface.points[centres], surface.points[centres], "sqeuclidean") < (exclusion * surface.spacing) ** 2
    distance[near] = np.inf
    twins = min(_TWINS, len(centres)) - 1
    rarity = np.partition(distance, twins, axis=1)[:, twins]
    finite = np.isfinite(rarity)
    if not finite.any():  # a cloud smaller than the exclusion radius has nothing to compare with
        return np.ones(n)
    rarity = np.where(finite, rarity, rarity[finite].max()) / max(float(np.median(rarity[finite])), 1e-12)
    _, nearest = cKDTree(surface.points[centres]).query(surface.points, k=min(_SPREAD, len(centres)), workers=-1)
    return rarity[nearest.reshape(n, -1)].mean(axis=1)


def _logistic(x: np.ndarray, centre: float, width: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(x - centre) / width))


def _regions(surface: _Surface, point_scores: np.ndarray, limit: int) -> tuple[Region, ...]:
    """Connected groups of points scoring >= 0.5, most anomalous first."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    hot = np.flatnonzero(point_scores >= 0.5)
    if hot.size == 0 or limit <= 0:
        return ()
    pairs = cKDTree(surface.points[hot]).query_pairs(3.0 * surface.spacing, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(hot.size, hot.size))
    n, labels = connected_components(graph, directed=False)
    groups = [hot[labels == i] for i in range(n)]
    groups.sort(key=lambda g: -float(point_scores[g].sum()))
    return tuple(Region(indices=g, label="surface deviation", confidence=float(point_scores[g].max()),
                        source="expert") for g in groups[:limit])


def _as_cloud(obj: Any) -> PointCloudSample:
    return load_with(PointCloudSample, obj)
