"""The errors genad raises, in one tree.

Every error genad raises on purpose derives from :class:`GenadError`, so
``except genad.errors.GenadError`` catches them all::

    GenadError
    ├── InputError (also ValueError)          the sample or an argument is unusable
    │   ├── UnsupportedInputError             no loader for this type or file suffix
    │   ├── CorruptInputError                 the file exists but cannot be decoded
    │   └── EmptyInputError                   nothing to score: no pixels, points, frames or values
    ├── ConfigurationError                    genad is not set up for what was asked
    │   └── MissingDependencyError (also ImportError)   an optional extra is not installed
    ├── BackendError                          the VLM endpoint failed
    │   ├── BackendConnectionError            the server could not be reached
    │   ├── BackendTimeoutError               the server did not answer in time
    │   ├── RateLimitError                    HTTP 429 after all retries
    │   ├── BackendStatusError                any other HTTP error status after all retries
    │   └── RefusalError                      the model refused to answer
    ├── ParseError                            the reply could not be read as a verdict
    ├── DataError                             an evaluation folder does not have the expected layout
    │   └── FeedbackStoreError                the feedback store file is corrupt or not genad's
    └── BatchError                            ``detect_many(errors="raise")`` stopped; ``.reports`` keeps what finished

Messages never contain API keys: backend errors are built from status codes and
the server's message with any secret redacted (see :func:`redact`).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "BackendConnectionError",
    "BackendError",
    "BackendStatusError",
    "BackendTimeoutError",
    "BatchError",
    "ConfigurationError",
    "CorruptInputError",
    "DataError",
    "EmptyInputError",
    "FeedbackStoreError",
    "GenadError",
    "InputError",
    "MissingDependencyError",
    "ParseError",
    "RateLimitError",
    "RefusalError",
    "UnsupportedInputError",
    "redact",
]


class GenadError(Exception):
    """Base class of every error genad raises on purpose."""


class InputError(GenadError, ValueError):
    """The sample, a reference or an argument cannot be used."""


class UnsupportedInputError(InputError):
    """No loader handles this object type or file suffix."""


class CorruptInputError(InputError):
    """The file exists but its content cannot be decoded."""


class EmptyInputError(InputError):
    """The sample holds nothing to score (no pixels, points, frames or values)."""


class ConfigurationError(GenadError):
    """genad is not configured for the requested operation (for example no VLM endpoint)."""


class MissingDependencyError(ConfigurationError, ImportError):
    """An optional dependency is missing; the message names the extra to install.

    A message that names an extra the way an installed genad gets it (``pip install "genad[image]"``) also gets
    the command for a clone of the repository (``pip install -e ".[image]"``), so the hint is right either way;
    :func:`install_hint` writes both.

    Parameters
    ----------
    message
        What is missing and the extra to install.
    """

    def __init__(self, message: str = "", *args: Any) -> None:
        super().__init__(_with_clone_hint(message), *args)


def install_hint(extra: str) -> str:
    """How to install one of genad's optional extras, for an installed genad and for a clone of the repository.

    Parameters
    ----------
    extra
        The extra's name (``"image"``).

    Examples
    --------
    >>> install_hint("image")
    'pip install "genad[image]" (in a clone of the repository: pip install -e ".[image]")'
    """
    return f'pip install "genad[{extra}]"{_CLONE.format(extra=extra)}'


_CLONE = ' (in a clone of the repository: pip install -e ".[{extra}]")'
_EXTRA = re.compile(r"""pip install ["']?genad\[([A-Za-z0-9_,\-]+)\]["']?""")


def _with_clone_hint(message: str) -> str:
    """``message`` with the clone's install command after the first ``pip install "genad[...]"`` it names."""
    match = _EXTRA.search(message)
    if match is None or "pip install -e" in message:
        return message
    return message[: match.end()] + _CLONE.format(extra=match.group(1)) + message[match.end():]


class BackendError(GenadError):
    """The vision-language model endpoint failed."""


class BackendConnectionError(BackendError):
    """The endpoint could not be reached."""


class BackendTimeoutError(BackendError):
    """The endpoint did not answer within the timeout."""


class RateLimitError(BackendError):
    """The endpoint kept answering HTTP 429 after all retries."""


class BackendStatusError(BackendError):
    """The endpoint answered an HTTP error status after all retries.

    Parameters
    ----------
    message
        What failed.
    status_code
        The HTTP status, kept as an attribute.
    """

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class RefusalError(BackendError):
    """The model declined to answer."""


class ParseError(GenadError):
    """A reply could not be turned into a verdict, even leniently.

    Parameters
    ----------
    message
        What is wrong with the reply.
    text
        The reply's text, kept as an attribute.
    """

    def __init__(self, message: str, text: str = "") -> None:
        super().__init__(message)
        self.text = text


class DataError(GenadError):
    """A dataset folder does not have the layout its reader expects."""


class FeedbackStoreError(DataError):
    """The feedback store file is corrupt, or is an SQLite file that is not a genad feedback store."""


class BatchError(GenadError):
    """A batch stopped at its first failure.

    Parameters
    ----------
    message
        Why the batch stopped.
    reports
        The finished reports (``None`` where none), kept as an attribute.
    """

    def __init__(self, message: str, reports: list[Any]) -> None:
        super().__init__(message)
        self.reports = reports


_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]+")
_KEYLIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{6,})")


def redact(text: str, *secrets: str | None) -> str:
    """Return a text with each secret, bearer tokens and ``sk-`` keys replaced by ``***``.

    Parameters
    ----------
    text
        The text to clean.
    *secrets
        Strings to hide (``None`` and empty ones are skipped).
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _BEARER.sub(r"\1***", text)
    return _KEYLIKE.sub("***", text)
