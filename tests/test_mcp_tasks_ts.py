"""The official TypeScript MCP Tasks client (`@modelcontextprotocol/ext-tasks`, from npm)
starts a run as a task on `codegen-mcp mcp --transport http` and gets its result.

The client is tests/ts_tasks/client.mjs, its package pinned in package.json and
package-lock.json, installed with `npm ci` into a temporary directory. Without npm the test
skips, and fails under CI (tests/support.py `require`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from codegen_mcp.settings import Settings
from tests.mcp_hosts import Servers
from tests.support import ROOT, Worker, require

CLIENT = ROOT / "tests" / "ts_tasks"


def test_the_typescript_tasks_client_gets_a_run_result_through_a_task(
    settings: Settings, worker: Worker, tmp_path: Path
) -> None:
    npm, node = shutil.which("npm"), shutil.which("node")
    require(npm and node, "npm and node are needed for the TypeScript Tasks client")
    assert npm and node
    for name in ("package.json", "package-lock.json", "client.mjs"):
        shutil.copy(CLIENT / name, tmp_path / name)
    installed = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    servers = Servers("http", settings, tmp_path)
    try:
        query = "Add a README [sim:active=1] [sim:eval=0]"
        ran = subprocess.run(
            [node, "client.mjs", servers.url, "acme/demo", query],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        servers.stop()
    assert ran.returncode == 0, ran.stderr[-3000:]
    answer = json.loads(ran.stdout.strip().splitlines()[-1])
    assert answer["declared"] and answer["kind"] == "task", answer
    assert answer["last"] == {"status": "completed", "ttl": 30 * 24 * 3600 * 1000}, answer
    final = answer["result"]["structuredContent"]
    assert final["task_id"] == answer["task"] and final["state"] == "completed", answer
    assert json.loads(answer["result"]["content"][0]["text"]) == final
