"""Draw the pictures of ``README.md``, ``docs/index.md`` and ``docs/images.md`` from code-drawn images.

Everything comes from :mod:`genad.synthetic` (no dataset files) and the local image expert; hybrid mode's marks
image is the one the detector builds for the VLM, captured with a scripted stand-in client (no model is called).

    python scripts/make_doc_images.py            # writes docs/img/demo_overlay.png and docs/img/images_*.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from genad import Detector
from genad.modalities.image import ImageRenderer, ImageSample
from genad.synthetic import make_image
from genad.testing import ScriptedClient

SIZE = 256
NORMAL_ANSWER = {"is_anomalous": False, "score": 0.0, "regions": [], "rejected_marks": [], "explanation": "-"}


def captioned(image: np.ndarray, text: str) -> np.ndarray:
    """``image`` under a black strip holding ``text`` in white."""
    strip = np.zeros((26, image.shape[1], 3), np.uint8)
    cv2.putText(strip, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([strip, image])


def row(images: list[np.ndarray], gap: int = 6) -> np.ndarray:
    """Images of one height side by side, on white, ``gap`` pixels apart."""
    height = images[0].shape[0]
    spacer = np.full((height, gap, 3), 255, np.uint8)
    parts: list[np.ndarray] = []
    for image in images:
        parts += [image, spacer]
    return np.hstack(parts[:-1])


def save(path: Path, image: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {path}")


def demo_overlay(out: Path, detector: Detector) -> None:
    """Four overlays of the offline demo: two defects and a normal image per category."""
    tiles = []
    for category, defect, seed in (("weave", "hole", 100), ("weave", None, 2), ("washer", "scratch", 105),
                                   ("washer", "missing_part", 100)):
        reference = make_image(category, seed=0, size=SIZE).image
        item = make_image(category, defect, seed=seed, size=SIZE)
        report = detector.detect(item.image, references=[reference], category=category)
        verdict = "anomalous" if report.is_anomalous else "normal"
        tiles.append(captioned(report.overlay(item.image), f"{item.defect or 'good'}: {verdict} {report.score:.2f}"))
    save(out / "demo_overlay.png", row(tiles))


def image_page(out: Path, detector: Detector) -> None:
    """What the VLM sees for one image in hybrid mode, and the overlay of the local report."""
    reference = ImageSample(make_image("washer", seed=0, size=SIZE).image, name="reference")
    part = ImageSample(make_image("washer", "scratch", seed=105, size=SIZE).image, name="inspected")
    sent = [ImageRenderer().render(s).images[0] for s in (reference, part)]
    save(out / "images_rendering.png", row([captioned(sent[0], "1: normal reference"),
                                            captioned(sent[1], "2: inspected")]))

    hybrid = Detector(client=ScriptedClient([NORMAL_ANSWER]), mode="hybrid")
    conversation = hybrid.converse(part, references=[reference], category="washer")
    marks = conversation.exchange.context.marks
    assert marks is not None, "the expert found no candidate region to mark"
    save(out / "images_marks.png", captioned(marks.images[0], "3: marks"))

    report = detector.detect(part, references=[reference], category="washer")
    save(out / "images_overlay.png", captioned(report.picture(part), f"report.picture(): score {report.score:.2f}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, nargs="?", default=Path(__file__).resolve().parents[1] / "docs" / "img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    detector = Detector(mode="local")
    demo_overlay(args.out, detector)
    image_page(args.out, detector)


if __name__ == "__main__":
    main()
