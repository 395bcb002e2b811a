"""The one-machine stack is its owner's alone: another local user (uid 65534) gets nothing.

Each test runs tests/attacker.py as uid 65534 against a stack whose data directory sits in a
directory everyone may enter (as a home directory usually is), and asserts that the attacker
could neither talk to the Redis (read the token, CONFIG SET a file of its choosing) nor read
any file the stack wrote (stack.json, the AOF, logs).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codegen_mcp.local.join import LocalStack
from codegen_mcp.local.redis import EmbeddedRedis
from codegen_mcp.redis_conn import connect
from codegen_mcp.store_keys import Keys
from tests.support import ROOT, fast_settings, wait_for
from tests.test_up import Up

NOBODY = 65534
TOKEN = "secret-codegen-token-7f3a9c"
ATTACKER = (ROOT / "tests" / "attacker.py").read_text()
# The attacker's interpreter must be one uid 65534 may run (the virtualenv's may sit in /root).
PYTHON = next((p for p in ("/usr/bin/python3", "/bin/python3") if os.path.exists(p)), None)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or PYTHON is None,
    reason="playing another local user needs root, setpriv and a system python3",
)


@pytest.fixture
def open_parent() -> Iterator[Path]:
    """A directory every user may enter, like a home directory (pytest's tmp_path is 0700)."""
    parent = Path(tempfile.mkdtemp(prefix="cgm-sec-"))
    parent.chmod(0o755)
    yield parent
    shutil.rmtree(parent, ignore_errors=True)


def attack(redis_url: str, data_dir: Path, config_key: str) -> dict[str, Any]:
    """What uid 65534 got out of the stack."""
    as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    result = subprocess.run(
        [*as_nobody, str(PYTHON), "-c", ATTACKER, redis_url, str(data_dir), config_key],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd="/",
    )
    got: dict[str, Any] = json.loads(result.stdout)
    assert got["uid"] == NOBODY
    return got


def assert_nothing_leaked(got: dict[str, Any], redis_url: str) -> None:
    redis = got["redis"]
    assert redis["connect"].startswith("refused"), redis
    files = {name: text for name, text in got.items() if name not in ("uid", "redis")}
    assert files, "the attacker looked at no file"
    for name, text in files.items():
        assert text.startswith("refused"), f"uid {NOBODY} read {name}: {text[:200]!r}"
    assert TOKEN not in json.dumps(got)


def assert_owner_only(data_dir: Path) -> None:
    """The directory 0700, every directory in it 0700, every file 0600 (the socket too)."""
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700, data_dir
    for root, dirs, files in os.walk(data_dir):
        for name in dirs:
            mode = stat.S_IMODE((Path(root) / name).stat().st_mode)
            assert mode == 0o700, f"{root}/{name} is {oct(mode)}"
        for name in files:
            mode = stat.S_IMODE((Path(root) / name).lstat().st_mode)
            assert mode & 0o077 == 0, f"{root}/{name} is {oct(mode)}"


def test_another_local_user_gets_nothing_from_the_embedded_redis(open_parent: Path) -> None:
    data_dir = open_parent / "redis"
    server = EmbeddedRedis(data_dir)
    url = server.start()
    try:
        client = connect(url)
        client.hset("cgm:config", "api_token", TOKEN)
        aof = wait_for(
            lambda: next((p for p in data_dir.rglob("*.aof*") if TOKEN in p.read_text()), None),
            what="the token to reach the AOF",
        )
        got = attack(url, data_dir, "cgm:config")
        assert_nothing_leaked(got, url)
        assert_owner_only(data_dir)
        assert aof.stat().st_mode & 0o077 == 0
        client.close()
    finally:
        server.stop()


def test_our_own_redis_client_still_works_without_config(open_parent: Path) -> None:
    """CONFIG is refused to every client; nothing of ours needs it."""
    server = EmbeddedRedis(open_parent / "redis")
    url = server.start()
    try:
        client = connect(url)
        with pytest.raises(Exception, match="unknown command"):
            client.config_set("dir", "/tmp")
        assert client.ping()
        client.close()
    finally:
        server.stop()


def test_another_local_user_gets_nothing_from_the_mcp_servers_own_stack(
    open_parent: Path,
) -> None:
    data_dir = open_parent / "data"
    settings = fast_settings("", "http://127.0.0.1:9", data_dir).with_(redis_url=None)
    stack = LocalStack(settings)
    url = stack.start()
    try:
        client = connect(url)
        client.hset(Keys(settings.key_prefix).config(), "api_token", TOKEN)
        got = attack(url, data_dir, Keys(settings.key_prefix).config())
        assert_nothing_leaked(got, url)
        assert_owner_only(data_dir)
        client.close()
    finally:
        stack.stop()


def test_another_local_user_gets_nothing_from_up(open_parent: Path) -> None:
    with Up(open_parent, "--simulate") as up:
        assert up.call("config", action="set", key="api_token", value=TOKEN)["status"] == "success"
        url = up.stack()["redis_url"]
        got = attack(url, up.data_dir, "cgm:config")
        assert_nothing_leaked(got, url)
        assert_owner_only(up.data_dir)
        assert up.interrupt() == 0
