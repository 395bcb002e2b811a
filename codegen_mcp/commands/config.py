"""The `config` command: read or set the Codegen API token and organization id."""

from __future__ import annotations

from typing import Any

from codegen_mcp import answers, org_webhook
from codegen_mcp.answers import ConfigAnswer
from codegen_mcp.services import Services


def config(services: Services, args: dict[str, Any]) -> ConfigAnswer:
    """`set` stores a value for every worker from the next API call on; `get` shows one value
    or all of them and where each comes from, a token only ever masked. `org_webhook` is
    Codegen's (org_webhook.py): read and written upstream, its secret never shown."""
    if args.get("key") == org_webhook.KEY:
        if args["action"] == "set":
            return org_webhook.apply(services, args["value"])
        return org_webhook.show(services)
    if args["action"] == "set":
        return answers.config_set(services.config.set(args["key"], args["value"]).to_dict())
    if "key" in args:
        return answers.config_value(services.config.get(args["key"]).to_dict())
    return answers.config_values([value.to_dict() for value in services.config.all()])
