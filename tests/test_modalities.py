from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from genad import load_sample
from genad._registry import modality_of
from genad.errors import UnsupportedInputError


@pytest.mark.parametrize(("obj", "expected"), [
    (np.zeros(10), "series"),
    (pd.Series([1.0, 2.0, 3.0]), "series"),
    (pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}), "series"),
    (np.zeros((100, 3), np.float32), "pointcloud"),
    (np.zeros((32, 32), np.uint8), "image"),
    (np.zeros((32, 32, 3), np.uint8), "image"),
    (np.zeros((5, 32, 32), np.uint8), "video"),
    (np.zeros((5, 32, 32, 3), np.uint8), "video"),
    (Image.new("RGB", (4, 4)), "image"),
    ("part.PNG", "image"),
    ("scan.ply", "pointcloud"),
    ("clip.mp4", "video"),
    ("sensor.csv", "series"),
])
def test_modality_is_guessed_from_type_shape_or_suffix(obj: object, expected: str) -> None:
    assert modality_of(obj) == expected


def test_a_folder_of_frames_is_a_video(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "000.png"), np.zeros((8, 8), np.uint8))
    assert modality_of(tmp_path) == "video"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UnsupportedInputError):
        modality_of(empty)


def test_txt_and_npy_are_judged_by_their_content(tmp_path: Path) -> None:
    np.savetxt(tmp_path / "values.txt", np.arange(20.0))
    np.save(tmp_path / "cloud.npy", np.random.default_rng(0).normal(size=(50, 3)))
    assert modality_of(tmp_path / "values.txt") == "series"
    assert load_sample(tmp_path / "cloud.npy").modality == "pointcloud"


def test_unknown_inputs_raise_a_typed_error() -> None:
    with pytest.raises(UnsupportedInputError):
        modality_of("notes.docx")
    with pytest.raises(UnsupportedInputError):
        modality_of(object())
    with pytest.raises(UnsupportedInputError):
        load_sample(np.zeros(4), modality="audio")
