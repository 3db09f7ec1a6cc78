"""Backend-neutral chat messages: text and encoded images."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["ImagePart", "Message", "messages_digest"]


@dataclass(frozen=True)
class ImagePart:
    """An encoded image (PNG or JPEG bytes) inside a message.

    Parameters
    ----------
    data
        The encoded bytes.
    mime
        ``"image/png"`` or ``"image/jpeg"``.
    width, height
        The image's size in pixels.
    """

    data: bytes
    mime: str
    width: int
    height: int

    @classmethod
    def from_array(cls, image: np.ndarray, *, format: Literal["png", "jpeg"] = "png", quality: int = 95) -> ImagePart:
        """Encode an RGB uint8 array as PNG or JPEG.

        Parameters
        ----------
        image
            RGB uint8, ``(H, W, 3)``.
        format
            ``"png"`` (lossless, for flat-colour plots) or ``"jpeg"`` (for photos).
        quality
            The JPEG quality (95 by default).

        Raises
        ------
        ValueError
            When the image cannot be encoded.
        """
        import cv2

        bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
        if format == "png":
            ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        else:
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("could not encode image")
        return cls(buf.tobytes(), "image/png" if format == "png" else "image/jpeg", image.shape[1], image.shape[0])

    def __repr__(self) -> str:
        return f"ImagePart({self.mime}, {self.width}x{self.height}, {len(self.data)} bytes)"


@dataclass(frozen=True)
class Message:
    """One chat turn: a role and an ordered mix of text and images.

    Parameters
    ----------
    role
        ``"system"``, ``"user"`` or ``"assistant"``.
    content
        Texts and :class:`ImagePart` images, in order.
    """

    role: Literal["system", "user", "assistant"]
    content: tuple[str | ImagePart, ...]

    @property
    def text(self) -> str:
        """The text parts joined by blank lines."""
        return "\n\n".join(p for p in self.content if isinstance(p, str))

    @property
    def images(self) -> list[ImagePart]:
        """The image parts, in order."""
        return [p for p in self.content if isinstance(p, ImagePart)]


def messages_digest(model: str, messages: list[Message], extra: str = "") -> str:
    """A stable SHA-256 of the model name, the messages (image bytes included) and an extra text.

    Parameters
    ----------
    model
        The model name.
    messages
        The messages, image bytes included.
    extra
        Any other text the digest depends on (e.g. the schema).

    Returns
    -------
    str
        The hex digest.
    """
    h = hashlib.sha256()
    h.update(model.encode())
    for m in messages:
        h.update(b"\x00role:" + m.role.encode())
        for part in m.content:
            if isinstance(part, str):
                h.update(b"\x00text:" + part.encode())
            else:
                h.update(b"\x00image:" + part.mime.encode() + hashlib.sha256(part.data).digest())
    h.update(b"\x00extra:" + extra.encode())
    return h.hexdigest()
