"""What `codegen-mcp up` prints once it serves: where everything is, and a first command
that works as printed (with the Authorization header when auth is on, and the `config set`
commands first when no Codegen token is configured yet)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

FIRST_TASK = {"command": "new", "args": {"repo": "acme/demo", "query": "Add a README"}}
SET_TOKEN = {
    "command": "config",
    "args": {"action": "set", "key": "api_token", "value": "YOUR_TOKEN"},
}
SET_ORG = {"command": "config", "args": {"action": "set", "key": "org_id", "value": 323}}


@dataclass(frozen=True)
class UpView:
    """What the banner tells: where `up` serves, keeps its data, and which API it talks to."""

    web_url: str
    redis_url: str
    data_dir: str
    api: str
    auth: bool
    configured: bool


def banner(view: UpView) -> str:
    """The lines `up` prints once it serves, ending with a first command that works as printed."""
    lines = [
        "",
        "codegen-mcp is up",
        f"  web:       {view.web_url}  (POST / with a command)",
        f"  dashboard: {view.web_url}/dashboard",
        f"  redis:     {no_password(view.redis_url)}  data in {view.data_dir}",
        f"  api:       {view.api}",
    ]
    if not view.configured:
        lines += [
            "no Codegen token and org yet: set them first (or export CODEGEN_API_TOKEN and "
            "CODEGEN_ORG_ID before `up`):",
            "  " + curl(view, SET_TOKEN),
            "  " + curl(view, SET_ORG),
            "then try:",
        ]
    else:
        lines.append("try:")
    lines += ["  " + curl(view, FIRST_TASK), "Ctrl-C stops everything.", ""]
    return "\n".join(lines)


def curl(view: UpView, body: dict[str, Any]) -> str:
    """A curl command line that works as printed; the auth token is named, never shown."""
    auth = ' -H "Authorization: Bearer $CODEGEN_MCP_AUTH_TOKEN"' if view.auth else ""
    return (
        f"curl -s {view.web_url} -H 'Content-Type: application/json'{auth} -d '{json.dumps(body)}'"
    )


def no_password(url: str) -> str:
    """`url` with its password, if any, shown as ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))
