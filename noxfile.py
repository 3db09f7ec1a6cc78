"""Developer sessions: ``nox -s tests lint typecheck tests_core tests_openai2 docs``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "tests_core"]
nox.options.default_venv_backend = "venv"
PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The full suite with every extra installed."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def tests_core(session: nox.Session) -> None:
    """The suite without optional extras: what needs an extra must skip or raise MissingDependencyError."""
    session.install("-e", ".", "pytest>=8")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def tests_openai2(session: nox.Session) -> None:
    """The client and detector tests against the openai 2.x SDK (3.x is the default)."""
    session.install("-e", ".[test]", "openai>=2,<3")
    files = ["tests/test_client_wire.py", "tests/test_parse.py", "tests/test_detector.py"]
    session.run("pytest", *files, *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "benchmarks", "examples", "noxfile.py")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site; any warning fails the build."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", f"{session.create_tmp()}/site")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy")
    session.run("mypy", "benchmarks")
