from __future__ import annotations

import pytest

from genad import errors


def test_every_error_derives_from_the_base() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, errors.GenadError), name


def test_input_errors_are_value_errors_and_missing_extras_import_errors() -> None:
    assert issubclass(errors.CorruptInputError, ValueError)
    assert issubclass(errors.MissingDependencyError, ImportError)


@pytest.mark.parametrize("text", [
    "Incorrect API key provided: sk-proj-abcdefghijk123",
    "header Authorization: Bearer abc.def-ghi",
    "key is supersecret",
])
def test_redact_hides_secrets(text: str) -> None:
    out = errors.redact(text, "supersecret")
    assert "sk-proj-abcdefghijk123" not in out
    assert "abc.def-ghi" not in out
    assert "supersecret" not in out
    assert "***" in out
