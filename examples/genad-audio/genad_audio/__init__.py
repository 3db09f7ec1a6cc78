"""Audio for genad: :class:`AudioSample`, :class:`SpectrogramRenderer`, :class:`SpectralExpert` and the modality.

Everything here uses genad's public API only (``genad.ModalityBase``, ``genad.Rendering``, ``genad.Region``, ...);
the package registers itself through the ``genad.modalities`` entry point in its ``pyproject.toml``.
"""

from __future__ import annotations

import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from genad import ExpertResult, Mapped, ModalityBase, Region, Rendering, ViewRegion
from genad.errors import CorruptInputError, InputError, UnsupportedInputError

__all__ = ["AudioModality", "AudioSample", "SpectralExpert", "SpectrogramRenderer", "SpectrogramRendering",
           "modality"]

FRAME = 512  # samples per spectrogram column
HOP = 256


@dataclass(frozen=True, eq=False)
class AudioSample:
    """A mono clip: ``samples`` as float32 in [-1, 1] and its ``rate`` in Hz."""

    samples: np.ndarray
    rate: int
    name: str | None = None
    modality: ClassVar[str] = "audio"

    def __post_init__(self) -> None:
        if self.samples.ndim != 1 or self.samples.size < FRAME:
            raise InputError(f"an audio clip is a 1-D array of at least {FRAME} samples, got {self.samples.shape}")
        if self.rate <= 0:
            raise InputError(f"the sample rate must be positive, got {self.rate}")

    @property
    def seconds(self) -> float:
        return self.samples.size / self.rate

    @classmethod
    def from_path(cls, path: str | Path) -> AudioSample:
        """Read a PCM WAV file (8, 16 or 32 bit; channels are averaged)."""
        p = Path(path)
        if not p.is_file():
            raise InputError(f"no such audio file: {p}")
        try:
            with wave.open(str(p), "rb") as w:
                width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
                raw = w.readframes(w.getnframes())
        except (wave.Error, EOFError) as exc:
            raise CorruptInputError(f"cannot read {p} as WAV: {exc}") from None
        dtype = {1: np.uint8, 2: np.int16, 4: np.int32}.get(width)
        if dtype is None:
            raise UnsupportedInputError(f"{p}: {8 * width}-bit WAV is not supported")
        values = np.frombuffer(raw, dtype=dtype).astype(np.float32)
        if dtype is np.uint8:
            values = values - 128.0
        values = values.reshape(-1, channels).mean(axis=1) / float(2 ** (8 * width - 1))
        return cls(values, rate, str(p))

    @classmethod
    def from_array(cls, obj: Any, name: str | None = None, rate: int = 16000) -> AudioSample:
        return cls(np.asarray(obj, dtype=np.float32).ravel(), rate, name)


def spectrogram(sample: AudioSample) -> np.ndarray:
    """Log-magnitude spectrum per column, ``(FRAME // 2 + 1, columns)``."""
    n = 1 + (sample.samples.size - FRAME) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(sample.samples, FRAME)[::HOP][:n]
    return np.log1p(np.abs(np.fft.rfft(frames * np.hanning(FRAME), axis=1)).T)


@dataclass(eq=False)
class SpectrogramRendering(Rendering):
    """One spectrogram image: column ``c`` of the image covers samples ``c * hop .. c * hop + FRAME``."""

    hop: int = HOP
    rate: int = 16000
    n_samples: int = 0

    def _interval(self, first: float, last: float, note: str | None) -> Mapped:
        a = int(np.clip(round(first), 0, self.n_samples - 1))
        b = int(np.clip(round(last), a, self.n_samples - 1))
        return Mapped(Region(interval=(a, b), span=(a / self.rate, (b + 1) / self.rate)), note)

    def to_native(self, region: ViewRegion) -> Mapped:
        missing = self.missing_view(region.view)
        if missing is not None:
            return missing
        if region.interval is not None:  # seconds on the x axis
            start, end = sorted(region.interval)
            return self._interval(start * self.rate, end * self.rate - 1, None)
        if region.box is not None:
            x0, _, x1, _ = region.box
            return self._interval(min(x0, x1) * self.hop, max(x0, x1) * self.hop + FRAME - 1, None)
        return Mapped(Region(label=region.label, confidence=region.confidence, view=region.view))

    def to_views(self, region: Region) -> list[ViewRegion]:
        if region.interval is None:
            return []
        height = self.images[0].shape[0]
        x0, x1 = region.interval[0] / self.hop, region.interval[1] / self.hop
        return [ViewRegion(0, box=(float(x0), 0.0, float(x1), float(height - 1)), label=region.label,
                           confidence=region.confidence)]


@dataclass(frozen=True)
class SpectrogramRenderer:
    """Renders a clip as a spectrogram: frequency up, time to the right (one column per ``HOP`` samples)."""

    height: int = 256

    def render(self, sample: AudioSample) -> SpectrogramRendering:
        spec = spectrogram(sample)
        rows = np.linspace(0, spec.shape[0] - 1, self.height).astype(int)[::-1]
        scaled = spec[rows] / max(float(spec.max()), 1e-9)
        gray = (np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)
        return SpectrogramRendering(
            images=[np.repeat(gray[:, :, None], 3, axis=2)], labels=[f"spectrogram, {sample.seconds:.2f} s"],
            noun="spectrogram", answer_fields=("interval", "box"), image_format="png",
            locate_hint=(f'Give each region as "interval": [start, end] in seconds; the image spans '
                         f'{sample.seconds:.2f} s from left to right.'),
            hop=HOP, rate=sample.rate, n_samples=sample.samples.size,
        )


@dataclass(frozen=True)
class SpectralExpert:
    """Each column's distance to the nearest normal column (the references', else the clip's own median).

    ``scale``: the distance, in units of the references' own spread, that scores 0.5; ``slope``: how fast the
    score rises around it.
    """

    scale: float = 2.0
    slope: float = 3.0

    def score(self, sample: AudioSample, references: Sequence[AudioSample] = ()) -> ExpertResult:
        sample = modality.load(sample)
        spec = spectrogram(sample).T
        if references:
            bank = np.concatenate([spectrogram(modality.load(r)).T for r in references])
            dist = np.sqrt(((spec[:, None, :] - bank[None, :, :]) ** 2).sum(-1)).min(axis=1)
            own = np.sqrt(((bank[:, None, :] - bank[None, :, :]) ** 2).sum(-1))
            np.fill_diagonal(own, np.inf)
            spread = float(np.median(own.min(axis=1))) + 1e-6
        else:
            dist = np.sqrt(((spec - np.median(spec, axis=0)) ** 2).sum(-1))
            spread = float(np.median(dist)) + 1e-6
        column = 1.0 / (1.0 + np.exp(-self.slope * (dist / spread - self.scale)))
        per_sample = np.zeros(sample.samples.size, dtype=np.float32)
        for c, value in enumerate(column):
            span = per_sample[c * HOP:c * HOP + FRAME]
            np.maximum(span, value, out=span)
        worst = int(np.argmax(column))
        hot = np.flatnonzero(column >= 0.5)
        regions: tuple[Region, ...] = ()
        if hot.size:
            a, b = int(hot.min()) * HOP, min(int(hot.max()) * HOP + FRAME, sample.samples.size) - 1
            regions = (Region(interval=(a, b), span=(a / sample.rate, (b + 1) / sample.rate),
                              label="unusual sound", confidence=float(column.max()), source="expert"),)
        return ExpertResult(score=float(column[worst]), raw_score=float(dist[worst] / spread),
                            anomaly_map=per_sample, regions=regions)

    def score_many(self, samples: Sequence[AudioSample],
                   references: Sequence[AudioSample] = ()) -> list[ExpertResult]:
        return [self.score(s, references) for s in samples]


class AudioModality(ModalityBase):
    """Audio clips as one genad modality."""

    name = "audio"
    suffixes = (".wav",)
    anomaly_phrase = "anomalies or defects"
    coordinates = "samples: inclusive (first, last) sample intervals, with their times in seconds"

    def load(self, obj: object, *, name: str | None = None) -> AudioSample:
        if isinstance(obj, AudioSample):
            return obj
        if isinstance(obj, (str, Path)):
            return AudioSample.from_path(obj)
        return AudioSample.from_array(obj, name=name)

    def default_renderer(self) -> SpectrogramRenderer:
        return SpectrogramRenderer()

    def default_expert(self) -> SpectralExpert:
        return SpectralExpert()


modality = AudioModality()
