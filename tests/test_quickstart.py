"""The README's quick start installs only what the server needs; its test command gets the
test tools (uv's default `dev` group)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess

import pytest

from tests.support import ROOT

TEST_TOOLS = ("playwright", "mypy", "ruff", "pytest")


def quick_start_command() -> list[str]:
    """The first command of the README's quick start."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)\n```", section, re.DOTALL)
    assert block, "no bash block in the quick start"
    return shlex.split(block.group(1).splitlines()[0])


def installed_by(uv_flags: list[str]) -> set[str]:
    """The packages `uv run <uv_flags>` installs, as the lockfile says (nothing downloaded)."""
    exported = subprocess.run(
        ["uv", "export", "--frozen", "--no-hashes", "--format", "requirements-txt", *uv_flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return {
        re.split(r"[=<>\[ ;]", line, maxsplit=1)[0].lower()
        for line in exported.splitlines()
        if line and not line.startswith(("#", " ", "-e", "."))
    }


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not installed")
def test_the_quick_start_installs_no_test_tools() -> None:
    command = quick_start_command()
    assert command[:2] == ["uv", "run"], command
    flags = command[2 : command.index("codegen-mcp")]
    packages = installed_by(flags)
    assert "flask" in packages and "celery" in packages
    assert not packages & set(TEST_TOOLS), (
        f"{shlex.join(command)} installs {packages & set(TEST_TOOLS)}"
    )


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not installed")
def test_the_test_command_gets_the_test_tools() -> None:
    assert set(TEST_TOOLS) <= installed_by([])
