"""The 3-D expert: pose-free registration, per-point scores, holes, zero-shot and batch scoring."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from genad.errors import InputError
from genad.modalities.pointcloud import PointCloudExpert, PointCloudSample
from genad.modalities.pointcloud._expert import _openness, _surface, register

SIZE = (1.0, 0.6, 0.3)


def _part(seed: int, n: int = 5000, defect: str | None = None, at: tuple[float, float] = (0.2, 0.1)
          ) -> tuple[PointCloudSample, np.ndarray]:
    """A noisy box sampled on its surface, optionally with a bump on top or a hole through the top face at ``at``."""
    import trimesh

    mesh = trimesh.creation.box(extents=SIZE)
    mesh.vertices[:, 0] += 0.25 * (mesh.vertices[:, 0] > 0) * (mesh.vertices[:, 2] > 0)  # slanted, not a cuboid
    pts, _ = trimesh.sample.sample_surface(mesh, n, seed=seed)
    pts = np.asarray(pts)
    rng = np.random.default_rng(seed)
    top = pts[:, 2] > SIZE[2] / 2 - 1e-6
    centre = np.array(at)
    r = np.linalg.norm(pts[:, :2] - centre, axis=1)
    truth = np.zeros(len(pts), dtype=bool)
    if defect == "bump":
        inside = top & (r < 0.12)
        pts[inside, 2] += 0.04 * np.cos(np.pi / 2 * r[inside] / 0.12) ** 2
        truth = inside & (r < 0.1)
    elif defect == "hole":
        keep = ~(top & (r < 0.1))
        pts, r, top = pts[keep], r[keep], top[keep]
        truth = top & (r < 0.14)
    pts = pts + rng.normal(scale=0.001, size=pts.shape)
    return PointCloudSample.from_array(pts), truth


def _posed(sample: PointCloudSample, seed: int) -> PointCloudSample:
    rot = Rotation.random(random_state=seed).as_matrix()
    return PointCloudSample.from_array(sample.points @ rot.T + np.array([3.0, -1.0, 2.0]))


def test_register_recovers_any_pose() -> None:
    from genad.modalities.pointcloud._expert import _surface

    ref, _ = _part(0)
    test, _ = _part(1)
    rot = Rotation.from_euler("xyz", [150, -40, 75], degrees=True).as_matrix()
    moved = test.points @ rot.T + 5.0
    matrix, _ = register(moved, _surface(ref.points, 10))
    back = moved @ matrix[:3, :3].T + matrix[:3, 3]
    assert np.abs(back - test.points).max() < 0.01


@pytest.mark.parametrize("defect", ["bump", "hole"])
def test_one_shot_pose_free(defect: str) -> None:
    expert = PointCloudExpert()
    ref, _ = _part(0)
    good = _posed(_part(1)[0], 1)
    bad_sample, truth = _part(2, defect=defect)
    bad = _posed(bad_sample, 2)
    good_result = expert.score(good, [ref])
    bad_result = expert.score(bad, [ref])
    assert good_result.score < 0.5 <= bad_result.score
    assert bad_result.anomaly_map is not None
    assert bad_result.anomaly_map.shape == (len(bad),)
    assert 0.0 <= bad_result.anomaly_map.min() <= bad_result.anomaly_map.max() <= 1.0
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(truth, bad_result.anomaly_map) > 0.9
    assert bad_result.regions
    top = bad_result.regions[0]
    assert top.source == "expert"
    assert top.indices is not None
    # the top region lies at the defect (a hole's rim may split into several regions, each partly outside the
    # labelled ring, so the share of labelled points in one region says little)
    near = np.linalg.norm(bad_sample.points[:, :2] - np.array([0.2, 0.1]), axis=1) < 0.2
    assert near[top.indices].mean() > 0.9
    assert truth[np.concatenate([r.indices for r in bad_result.regions if r.indices is not None])].any()


def _asymmetric(seed: int, bump: bool = False) -> tuple[PointCloudSample, np.ndarray]:
    """A plate with a slanted end and two bosses placed off any mirror plane, optionally with a bump on top."""
    import trimesh

    plate = trimesh.creation.box(extents=(1.0, 0.6, 0.12))
    plate.vertices[:, 0] += 0.2 * (plate.vertices[:, 0] > 0) * (plate.vertices[:, 1] > 0)
    pts = np.asarray(trimesh.sample.sample_surface(plate, 8000, seed=seed)[0])
    for i, centre in enumerate([(-0.3, 0.15), (0.3, -0.1)]):  # bosses standing on the top face (z = 0.06)
        boss = trimesh.creation.cylinder(radius=0.08, height=0.2, sections=48)
        boss.apply_translation((*centre, 0.16))
        on_boss = np.asarray(trimesh.sample.sample_surface(boss, 1200, seed=seed + 1 + i)[0])
        under = (np.linalg.norm(pts[:, :2] - centre, axis=1) < 0.08) & (pts[:, 2] > 0.05)
        pts = np.vstack([pts[~under], on_boss[on_boss[:, 2] > 0.06 + 1e-6]])  # one surface, no inner sheets
    r = np.linalg.norm(pts[:, :2] - (0.0, 0.05), axis=1)
    truth = (pts[:, 2] > 0.06 - 1e-6) & (r < 0.1) & bump
    pts[truth, 2] += 0.03 * np.cos(np.pi / 2 * r[truth] / 0.1) ** 2
    return PointCloudSample.from_array(pts + np.random.default_rng(seed).normal(scale=0.001, size=pts.shape)), truth


def test_zero_shot_uses_mirror_symmetry() -> None:
    expert = PointCloudExpert()
    good = expert.score(_part(3, n=20_000)[0])  # zero-shot radii are in point spacings, set for ~20k points
    assert good.score < 0.5
    assert good.meta["mirror_holds"] == 1.0
    assert any("mirror" in note for note in good.notes)
    for defect in ("bump", "hole"):  # clear of the mirror plane y = 0
        sample, truth = _part(4, n=20_000, defect=defect, at=(0.2, 0.2))
        bad = expert.score(sample)
        assert bad.score > 0.5
        # where the mirror plane holds, a defect that has look-alikes (a smooth bump, a rim) is not capped by them
        assert bad.anomaly_map is not None
        assert (bad.anomaly_map[truth] >= 0.5).mean() > 0.8
        assert (bad.anomaly_map[~truth] >= 0.5).mean() < 0.02


def test_openness_marks_the_rim_of_a_hole() -> None:
    """On a smooth closed surface, the rim of a hole is more one-sided than any point of the intact surface."""
    import trimesh

    mesh = trimesh.creation.icosphere(subdivisions=4)
    mesh.apply_scale((0.5, 0.35, 0.25))
    pts = np.asarray(trimesh.sample.sample_surface(mesh, 20_000, seed=1)[0])
    pts += np.random.default_rng(1).normal(scale=0.001, size=pts.shape)
    intact = _openness(_surface(pts, 10, 30))
    gap = np.linalg.norm(pts - (0.0, 0.0, 0.25), axis=1)
    holed = _openness(_surface(pts[gap > 0.08], 10, 30))
    rim = gap[gap > 0.08] < 0.1
    assert np.median(holed[rim]) > 1.3 * intact.max()
    assert np.median(holed[~rim]) < 1.2


def test_zero_shot_is_pose_invariant_and_deterministic() -> None:
    expert = PointCloudExpert()
    sample, _ = _asymmetric(11, bump=True)
    result = expert.score(sample)
    assert result.meta["mirror_cost"] > 1.0  # no mirror plane (symmetric parts: about 0.2 point spacings)
    assert result.meta["mirror_holds"] < 0.5  # so mostly capped by the look-alikes
    assert result.anomaly_map is not None
    assert result.anomaly_map.shape == (len(sample),)
    posed = expert.score(_posed(sample, 3))
    assert posed.anomaly_map is not None
    assert abs(posed.score - result.score) < 0.02
    # a part without a mirror plane: its best mirror image depends a little on the pose and, where the openness
    # lifts the look-alike cap, shows through
    assert np.corrcoef(posed.anomaly_map, result.anomaly_map)[0, 1] > 0.9
    again = expert.score(sample)
    assert again.score == result.score
    assert again.anomaly_map is not None and result.anomaly_map is not None
    assert np.array_equal(again.anomaly_map, result.anomaly_map)


def test_scores_do_not_depend_on_the_order_of_the_points() -> None:
    """Every draw (registration subsets, described places) is by rank from the centroid, not by index."""
    expert = PointCloudExpert()
    sample, _ = _asymmetric(11, bump=True)
    order = np.random.default_rng(0).permutation(len(sample))
    shuffled = PointCloudSample.from_array(sample.points[order])
    for references in ([], [_asymmetric(12)[0]]):
        result, again = expert.score(sample, references), expert.score(shuffled, references)
        assert result.anomaly_map is not None and again.anomaly_map is not None
        assert abs(again.score - result.score) < 1e-6
        assert np.allclose(again.anomaly_map, result.anomaly_map[order], atol=1e-6)


def test_batch_scores_against_peers() -> None:
    expert = PointCloudExpert(n_peers=2)
    clouds = [_part(5)[0], _part(6, defect="bump")[0], _posed(_part(7)[0], 7)]
    results = expert.score_many(clouds)
    assert len(results) == 3
    assert results[1].score > max(results[0].score, results[2].score)
    with_refs = expert.score_many(clouds[:2], references=[_part(8)[0]])
    assert with_refs[1].score > with_refs[0].score


def test_confidence_states_how_often_such_verdicts_were_right() -> None:
    from genad.modalities.pointcloud._confidence import TABLE

    table = TABLE.read()
    assert table is not None, "src/genad/modalities/pointcloud/confidence.json is shipped with the package"
    expert = PointCloudExpert()
    good, bumped = _part(5)[0], _part(6, defect="bump")[0]
    notes = {"zero-shot": expert.score(bumped), "1 reference": expert.score(bumped, [good]),
             "batch": expert.score_many([good, bumped, _part(7)[0]])[1]}
    for regime, result in notes.items():
        assert result.confidence is not None and 0.0 < result.confidence <= 1.0, regime
        assert result.notes[-1].startswith(f"{regime}: "), result.notes[-1]
        assert f"verdicts on {len(table['sets'])} objects of pointcloud_mesh_defects" in result.notes[-1]
    two = expert.score(bumped, [good, _part(8)[0]])
    assert two.confidence is None and "'2+ references' verdicts were not measured" in two.notes[-1]
    other = PointCloudExpert(threshold=5.0).score(bumped, [good])
    assert other.confidence is None and "default settings only" in other.notes[-1]


def test_bad_inputs_and_pickling() -> None:
    expert = PointCloudExpert()
    with pytest.raises(InputError):
        expert.score(np.ones((10, 3)), [])
    with pytest.raises(InputError):
        expert.score(_part(0)[0], [np.zeros((0, 3))])
    assert pickle.loads(pickle.dumps(expert)) == expert
    reference = _part(0)[0]
    expert.score(_part(1)[0], [reference])
    assert len(pickle.dumps(expert)) < 10_000  # the prepared-reference cache is not pickled


@pytest.mark.slow
def test_shared_data_one_shot(shared_data: Path) -> None:
    root = shared_data / "pointcloud_mesh_defects" / "plate_holes"
    ref = PointCloudSample.from_path(root / "good" / "000.ply")
    expert = PointCloudExpert()
    good = expert.score(PointCloudSample.from_path(root / "good" / "001.ply"), [ref])
    bad = expert.score(PointCloudSample.from_path(root / "dent" / "000.ply"), [ref])
    assert good.score < 0.5 <= bad.score
