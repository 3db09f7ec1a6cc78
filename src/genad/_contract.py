"""The JSON output contract appended to every prompt, its JSON Schema and the validated :class:`Answer`."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

__all__ = ["ANSWER_SCHEMA", "Answer", "AnswerRegion", "EmptyIfNone", "EmptyListIfNone", "contract_text"]

# Models answer null where the contract says "" or []; read those as empty rather than as a broken reply.
EmptyIfNone = BeforeValidator(lambda v: ("" if v is None else v))
EmptyListIfNone = BeforeValidator(lambda v: ([] if v is None else v))


class AnswerRegion(BaseModel):
    """A region as the VLM names it, in the terms of the image it points at.

    A location key that cannot be read (a box of other than four numbers, an interval of other than two, cells
    that are not whole numbers, a confidence outside [0, 1]) is dropped and noted in ``dropped``; the region and
    the rest of the answer stand. Only the verdict itself is strict.
    """

    model_config = ConfigDict(extra="ignore")

    image: int | None = Field(default=None, description="1-based number of the image the region is in")
    box: list[float] | None = Field(default=None, description="[x_min, y_min, x_max, y_max] in image pixels")
    interval: list[float] | None = Field(default=None, description="[start, end] in the plot's x-axis units")
    cells: list[int] | None = Field(default=None, description="1-based keyframe-grid cell numbers")
    mark: int | None = Field(default=None, description="number of the candidate mark this region confirms")
    label: Annotated[str, EmptyIfNone] = ""
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    dropped: list[str] = Field(default_factory=list, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_unreadable(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = {k: v for k, v in data.items() if k != "dropped"}
        dropped = []
        for key, size in (("box", 4), ("interval", 2)):
            value = out.get(key)
            if value is not None and not _numbers(value, size):
                dropped.append(f"{key} {value!r} (expected {size} numbers)")
                out[key] = None
        cells = out.get("cells")
        if cells is not None and not (isinstance(cells, list) and all(_whole(c) for c in cells)):
            dropped.append(f"cells {cells!r} (expected whole numbers)")
            out["cells"] = None
        confidence = out.get("confidence")
        if confidence is not None and not (_number(confidence) and 0.0 <= float(confidence) <= 1.0):
            dropped.append(f"confidence {confidence!r} (expected 0 to 1)")
            out["confidence"] = None
        for key in ("image", "mark"):
            if out.get(key) is not None and not _whole(out[key]):
                dropped.append(f"{key} {out[key]!r} (expected a whole number)")
                out[key] = None
        out["dropped"] = dropped
        return out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value: Any) -> bool:
    return _number(value) and float(value).is_integer()


def _numbers(value: Any, size: int) -> bool:
    return isinstance(value, list) and len(value) == size and all(_number(v) for v in value)


class Answer(BaseModel):
    """A VLM's verdict, validated against the contract."""

    model_config = ConfigDict(extra="ignore")

    is_anomalous: bool
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    anomaly_type: str | None = None
    regions: Annotated[list[AnswerRegion], EmptyListIfNone] = Field(default_factory=list)
    rejected_marks: Annotated[list[int], EmptyListIfNone] = Field(default_factory=list)
    explanation: Annotated[str, EmptyIfNone] = ""


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


# Ranges (score and confidence in [0, 1]) are checked by the Answer model, not the schema: OpenAI's strict
# structured outputs have not accepted every JSON Schema keyword, and a rejected schema costs a fallback request.
_NUMBER_LIST = {"type": "array", "items": {"type": "number"}}

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["is_anomalous", "score", "anomaly_type", "regions", "rejected_marks", "explanation"],
    "properties": {
        "is_anomalous": {"type": "boolean"},
        "score": {"type": "number"},
        "anomaly_type": _nullable({"type": "string"}),
        "regions": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["image", "box", "interval", "cells", "mark", "label", "confidence"],
                "properties": {
                    "image": {"type": "integer"},
                    "box": _nullable(_NUMBER_LIST),
                    "interval": _nullable(_NUMBER_LIST),
                    "cells": _nullable({"type": "array", "items": {"type": "integer"}}),
                    "mark": _nullable({"type": "integer"}),
                    "label": {"type": "string"},
                    "confidence": {"type": "number"},
                },
            },
        },
        "rejected_marks": {"type": "array", "items": {"type": "integer"}},
        "explanation": {"type": "string"},
    },
}


def contract_text(locate_hint: str, *, marks: bool = False) -> str:
    """The instruction appended after the study's wording: answer as one JSON object."""
    mark_keys = (
        ' Use "mark" to confirm a numbered candidate mark and list the numbers of marks that show nothing'
        ' anomalous in "rejected_marks".'
        if marks
        else ' Leave "mark" null and "rejected_marks" empty.'
    )
    return (
        "Answer with one JSON object and nothing else. Keys: "
        '"is_anomalous" (true or false); '
        '"score" (0 to 1, how likely the inspected sample is anomalous); '
        '"anomaly_type" (a short name such as "scratch" or "missing part", or null); '
        '"regions" (a list, empty if normal; each with "image": the 1-based number of the image it is in, '
        '"box", "interval", "cells", "mark" (null where they do not apply), "label" and "confidence" from 0 to 1); '
        '"rejected_marks" (a list of numbers); "explanation" (the specific reason). '
        f"{locate_hint}{mark_keys}"
    )
