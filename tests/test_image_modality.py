from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from genad import Region, ViewRegion, load_sample
from genad.errors import CorruptInputError, EmptyInputError, InputError, UnsupportedInputError
from genad.modalities.image import ImageRenderer, ImageSample
from genad.testing import check_renderer


def test_gray_rgba_16bit_and_float_become_rgb_uint8(tmp_path: Path) -> None:
    gray = np.arange(100, dtype=np.uint8).reshape(10, 10)
    assert ImageSample.from_array(gray).pixels.shape == (10, 10, 3)
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    assert ImageSample.from_array(rgba).pixels[0, 0].tolist() == [200, 0, 0]
    deep = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), deep)
    sample = ImageSample.from_path(path)
    assert sample.bit_depth == 16
    assert sample.pixels.dtype == np.uint8
    assert sample.pixels.max() > 200
    assert ImageSample.from_array(np.ones((3, 3), np.float32) * 0.5).pixels[0, 0, 0] == 128


def test_pil_image_and_rgb_order(tmp_path: Path) -> None:
    im = Image.new("RGB", (6, 4), (255, 0, 0))
    assert ImageSample.from_array(im).pixels[0, 0].tolist() == [255, 0, 0]
    path = tmp_path / "red.png"
    im.save(path)
    assert load_sample(path).pixels[0, 0].tolist() == [255, 0, 0]  # type: ignore[attr-defined]


def test_bad_inputs_raise_typed_errors(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG not really")
    with pytest.raises(CorruptInputError):
        ImageSample.from_path(corrupt)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(EmptyInputError):
        ImageSample.from_path(empty)
    with pytest.raises(InputError):
        ImageSample.from_path(tmp_path / "missing.png")
    with pytest.raises(UnsupportedInputError):
        load_sample(tmp_path / "notes.docx")
    with pytest.raises(InputError):
        ImageSample.from_array(np.full((4, 4), np.nan, np.float32))
    with pytest.raises(UnsupportedInputError):
        ImageSample.from_array(np.zeros((4, 4, 2), np.uint8))


def test_renderer_bounds_size_and_maps_boxes_exactly() -> None:
    sample = ImageSample.from_array(np.zeros((1000, 2000, 3), np.uint8))
    rendering = check_renderer(ImageRenderer(max_side=500), sample)
    assert rendering.images[0].shape == (250, 500, 3)
    mapped = rendering.to_native(ViewRegion(0, box=(50, 25, 100, 50)))
    assert mapped.region is not None and mapped.note is None
    assert mapped.region.box == (200.0, 100.0, 400.0, 200.0)
    back = rendering.to_views(Region(box=(200.0, 100.0, 400.0, 200.0)))
    assert back[0].box == (50.0, 25.0, 100.0, 50.0)


def test_boxes_outside_are_clipped_or_dropped_with_a_note() -> None:
    rendering = ImageRenderer(max_side=100).render(ImageSample.from_array(np.zeros((100, 100, 3), np.uint8)))
    clipped = rendering.to_native(ViewRegion(0, box=(-10, 50, 120, 80)))
    assert clipped.region is not None and clipped.region.box == (0.0, 50.0, 100.0, 80.0)
    assert clipped.note is not None and "clipped" in clipped.note
    dropped = rendering.to_native(ViewRegion(0, box=(150, 150, 200, 200)))
    assert dropped.region is None and dropped.note is not None and "dropped" in dropped.note
    missing = rendering.to_native(ViewRegion(3, box=(0, 0, 1, 1)))
    assert missing.region is None


def test_tiny_images_are_upscaled_and_huge_ones_bounded() -> None:
    tiny = ImageRenderer().render(ImageSample.from_array(np.zeros((10, 10, 3), np.uint8)))
    assert tiny.images[0].shape[:2] == (64, 64)
    huge = ImageRenderer().render(ImageSample.from_array(np.zeros((8000, 8000, 3), np.uint8)))
    assert huge.images[0].shape[:2] == (768, 768)


def test_sample_and_rendering_pickle() -> None:
    sample = ImageSample.from_array(np.zeros((5, 5, 3), np.uint8), name="x")
    assert pickle.loads(pickle.dumps(sample)).name == "x"
