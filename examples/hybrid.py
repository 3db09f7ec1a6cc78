"""Hybrid mode: the local expert proposes numbered marks, a vision-language model (VLM) confirms or rejects them.

With ``GENAD_MODEL`` set (and ``GENAD_BASE_URL``, ``GENAD_API_KEY`` as your endpoint needs), the real model is
asked. Without it, a scripted stand-in (``genad.testing.ScriptedClient``) answers instead: it always confirms
mark 1, whatever the images show, so the run shows the mechanics, not a model's judgement. The script prints the
prompt text, writes every image the model was sent to ``examples_out/hybrid/`` (the reference, the inspected
image, and the copy with the expert's marks), and prints the report.

    python examples/hybrid.py
    GENAD_MODEL=gpt-4o GENAD_API_KEY=sk-... python examples/hybrid.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from genad import Detector, VLMClient
from genad.synthetic import make_image
from genad.testing import ScriptedClient

CONFIRM_MARK_1 = {
    "is_anomalous": True,
    "score": 0.9,
    "anomaly_type": "scratch",
    "regions": [{"mark": 1, "label": "scratch", "confidence": 0.9}],
    "rejected_marks": [],
    "explanation": "SCRIPTED STAND-IN, NOT A MODEL: confirms mark 1 whatever the images show.",
}


def pick_client() -> VLMClient | None:
    """``None`` lets the detector build an OpenAIClient from GENAD_* variables; else the scripted stand-in."""
    if os.environ.get("GENAD_MODEL"):
        print(f"Using the endpoint configured by GENAD_MODEL={os.environ['GENAD_MODEL']}.")
        return None
    banner = "!" * 100
    print(banner)
    print("!! GENAD_MODEL is not set: NO MODEL IS CALLED. A scripted stand-in answers and always confirms mark 1.")
    print("!! Set GENAD_MODEL (and GENAD_BASE_URL / GENAD_API_KEY) to ask a real vision-language model.")
    print(banner)
    return ScriptedClient([CONFIRM_MARK_1])


def main(out_dir: Path) -> None:
    reference = make_image("washer", seed=0).image
    part = make_image("washer", "scratch", seed=105).image
    detector = Detector(client=pick_client(), mode="hybrid")
    conversation = detector.converse(
        part, references=[reference], category="washer",
        criteria="A normal washer is a smooth, unbroken metal ring with four round bolt holes.",
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    prompt = conversation.exchange.messages  # the first request, exactly as sent
    images = [p for m in prompt for p in m.images]
    for number, image in enumerate(images, 1):  # the encoded bytes sent on the wire
        suffix = "png" if image.mime == "image/png" else "jpg"
        (out_dir / f"image_{number}.{suffix}").write_bytes(image.data)
    print(f"\n--- the prompt ({len(images)} images, written to {out_dir}/image_N.*) ---")
    for message in prompt:
        print(f"[{message.role}]", message.text)
    print("--- end of prompt ---\n")

    report = conversation.report
    print(report)
    print("explanation:", report.explanation)
    print(f"expert score {report.expert_score:.3f}, VLM score {report.vlm_score}, usage {report.usage}")
    for region in report.regions:
        print("  region", region, "box", tuple(round(v) for v in region.box or ()))
    if isinstance(detector.client, ScriptedClient):
        print("!! This verdict came from the SCRIPTED STAND-IN, not from a model: set GENAD_MODEL for a real one.")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("examples_out") / "hybrid")
