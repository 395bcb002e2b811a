"""The house tooling runs with the tests, so CI keeps the code clean: ruff and mypy."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import ROOT

PATHS = ["codegen_mcp", "workers", "tests", "bench"]


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", *PATHS],
        ["ruff", "format", "--check", *PATHS],
        ["mypy", "codegen_mcp", "workers"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_code_passes(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
