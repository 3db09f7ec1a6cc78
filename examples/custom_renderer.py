"""A custom renderer: show a series to a vision-language model (VLM) as a spectrogram, and map boxes back.

Audio and vibration signals show their anomalies as changes of frequency content, which a line plot hides and a
spectrogram shows. ``SpectrogramRenderer`` draws one spectrogram per value column (time left to right, frequency
rising upwards); ``SpectrogramRendering.to_native`` turns a box the VLM draws on it into an interval of positions.

Each spectrogram column is an FFT of ``nperseg`` samples taken every ``hop`` samples. Column ``c`` stands for the
positions nearest its segment's centre, so the columns tile the series with no gap and no overlap, and mapping a
column to positions and back gives the same column.

The script checks the renderer with ``genad.testing.check_renderer``, then runs a detector with it. No model is
called: a scripted stand-in (``ScriptedClient``) plays the VLM by boxing the columns whose upper half (the high
frequencies) is bright, so the run shows the renderer's map back, not a model's judgement.

    python examples/custom_renderer.py
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.signal import spectrogram

from genad import Detector, Mapped, Message, Region, Rendering, ViewRegion
from genad.modalities.series import SeriesSample
from genad.testing import ScriptedClient, check_renderer


@dataclass(eq=False)
class SpectrogramRendering(Rendering):
    """Spectrogram images and the map between their pixel columns and the series' positions.

    ``starts[c]`` is the first position spectrogram column ``c`` stands for; ``length`` the series' length.
    """

    starts: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    length: int = 0
    index: Any = None

    @property
    def n_columns(self) -> int:
        return len(self.starts)

    def columns_to_positions(self, first: int, last: int) -> tuple[int, int]:
        """The inclusive positions covered by spectrogram columns ``first .. last``."""
        end = self.starts[last + 1] - 1 if last + 1 < self.n_columns else self.length - 1
        return int(self.starts[first]), int(end)

    def position_to_column(self, position: int) -> int:
        return int(np.searchsorted(self.starts, position, side="right") - 1)

    def to_native(self, region: ViewRegion) -> Mapped:
        if not 0 <= region.view < len(self.images):
            return Mapped(None, f"dropped a region on image {region.view + 1}: there are {len(self.images)} images")
        if region.box is None:
            return Mapped(Region(label=region.label, confidence=region.confidence, view=region.view))
        width = self.images[region.view].shape[1]
        x0, x1 = sorted((region.box[0], region.box[2]))
        if x1 < 0 or x0 > width:
            return Mapped(None, f"dropped box {list(region.box)}: outside the {width} px wide spectrogram")
        note = f"clipped box {list(region.box)} to the spectrogram" if x0 < 0 or x1 > width else None
        per_column = width / self.n_columns
        first = min(max(math.floor(max(x0, 0.0) / per_column), 0), self.n_columns - 1)
        last = min(max(math.ceil(min(x1, width) / per_column) - 1, first), self.n_columns - 1)
        p0, p1 = self.columns_to_positions(first, last)
        return Mapped(Region(interval=(p0, p1), span=(self.index[p0], self.index[p1]), label=region.label,
                             confidence=region.confidence, view=region.view), note)

    def to_views(self, region: Region) -> list[ViewRegion]:
        if region.interval is None:
            return []
        first, last = (self.position_to_column(p) for p in sorted(region.interval))
        views = []
        for view, image in enumerate(self.images):
            height, width = image.shape[:2]
            per_column = width / self.n_columns
            box = (first * per_column, 0.0, (last + 1) * per_column, float(height))
            views.append(ViewRegion(view, box=box, label=region.label, confidence=region.confidence))
        return views


@dataclass(frozen=True)
class SpectrogramRenderer:
    """Spectrograms of a :class:`~genad.SeriesSample`, one per column, ``width`` x ``height`` pixels each.

    ``nperseg`` samples per FFT, one every ``hop`` samples; magnitudes in dB, scaled per image between the 1st and
    99.9th percentile and coloured with OpenCV's inferno colour map.
    """

    nperseg: int = 128
    hop: int = 32
    width: int = 768
    height: int = 256

    def render(self, sample: SeriesSample) -> SpectrogramRendering:
        nperseg = min(self.nperseg, sample.length)
        hop = min(self.hop, nperseg)
        images, labels = [], []
        for c, column in enumerate(sample.columns):
            values = np.nan_to_num(sample.values[:, c] - np.nanmean(sample.values[:, c]))
            _, _, power = spectrogram(values, nperseg=nperseg, noverlap=nperseg - hop, window="hann")
            images.append(self._picture(10 * np.log10(power + 1e-12)))
            labels.append(f"spectrogram of {column!r}: positions 0 to {sample.length - 1} from left to right, "
                          "frequency from 0 (bottom) to half the sampling rate (top)")
        n_columns = 1 + (sample.length - nperseg) // hop  # the FFT segments, as scipy cuts them
        starts = np.arange(n_columns) * hop + nperseg // 2 - hop // 2
        starts[0] = 0
        return SpectrogramRendering(
            images=images, labels=labels, noun="spectrogram", image_format="png",
            locate_hint=("Give each region as a box [x_min, y_min, x_max, y_max] in pixels of the spectrogram it is "
                         "in. Time runs from left to right, so the box's x range says when the anomaly happens."),
            starts=starts, length=sample.length, index=sample.index,
        )

    def _picture(self, decibels: np.ndarray) -> np.ndarray:
        lo, hi = np.percentile(decibels, [1.0, 99.9])
        grey = np.clip((decibels - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)[::-1]  # high f on top
        grey = cv2.resize(grey, (self.width, self.height), interpolation=cv2.INTER_NEAREST)
        return cv2.cvtColor(cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


BURST = (5200, 5999)  # positions of the high-pitched rattle


def vibration(n: int = 12_000) -> np.ndarray:
    """A motor hum (a low tone with its harmonic, plus noise) with a high-pitched rattle in ``BURST``."""
    t = np.arange(n)
    rng = np.random.default_rng(0)
    signal = np.sin(2 * np.pi * 0.02 * t) + 0.4 * np.sin(2 * np.pi * 0.04 * t) + rng.normal(0, 0.1, n)
    first, last = BURST
    signal[first:last + 1] += 0.6 * np.sin(2 * np.pi * 0.37 * t[first:last + 1])
    return signal


def stand_in_vlm(messages: list[Message]) -> dict[str, Any]:
    """Plays the VLM: boxes the pixel columns whose upper half is much brighter than usual on the last image."""
    part = messages[-1].images[-1]
    decoded = cv2.imdecode(np.frombuffer(part.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if decoded is None:
        raise ValueError(f"cannot decode {part}")
    image = decoded.astype(np.float32)
    upper = image[: image.shape[0] // 2].mean(axis=0)
    bright = np.flatnonzero(upper > np.median(upper) + 2 * upper.std())
    if bright.size == 0:
        return {"is_anomalous": False, "score": 0.1, "regions": [], "explanation": "stand-in: nothing bright"}
    box = [float(bright.min()), 0.0, float(bright.max() + 1), float(image.shape[0] // 2)]
    return {"is_anomalous": True, "score": 0.8, "anomaly_type": "high-pitched noise",
            "regions": [{"image": 1, "box": box, "label": "rattle", "confidence": 0.8}],
            "explanation": "stand-in: a band of high-frequency energy appears and ends"}


def main(out_dir: Path) -> None:
    sample = SeriesSample.from_array(vibration(), name="motor")
    renderer = SpectrogramRenderer()
    rendering = check_renderer(renderer, sample)  # raises AssertionError naming any broken rule
    print(f"check_renderer passed: {len(rendering.images)} spectrogram(s) of {rendering.images[0].shape}")
    out_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_dir / "spectrogram.png"), cv2.cvtColor(rendering.images[0], cv2.COLOR_RGB2BGR))

    print("No model is called: a scripted stand-in plays the VLM (it boxes bright high-frequency columns).")
    detector = Detector(renderers={"series": renderer}, client=ScriptedClient(stand_in_vlm), mode="vlm")
    report = detector.detect(sample)
    print(report)
    print(f"  truth: positions {BURST[0]}-{BURST[1]}")
    for region in report.regions:
        assert region.interval is not None
        print(f"  region {region.label!r}: positions {region.interval[0]}-{region.interval[1]}")
    print(f"spectrogram written to {out_dir / 'spectrogram.png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("examples_out"))
