"""One error shape on the HTTP front: an error that names its input carries
`fields: {name: [messages]}`, the shape marshmallow's validation errors already have."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support import Front


@pytest.mark.parametrize(
    ("command", "args", "status", "field"),
    [
        ("task_status", {"task_id": str(uuid.uuid4())}, 404, "task_id"),
        ("cancel", {"task_id": str(uuid.uuid4())}, 404, "task_id"),
        ("no_such_command", {}, 400, "command"),
        ("config", {"action": "get", "key": "colour"}, 400, "key"),
        ("config", {"action": "set", "key": "org_id", "value": -3}, 400, "value"),
        ("list", {"status": "sleepy"}, 400, "status"),
        ("new", {"repo": "acme/demo"}, 400, "query"),  # marshmallow's own
    ],
)
def test_errors_that_name_an_input_carry_fields(
    front: Front, command: str, args: dict[str, Any], status: int, field: str
) -> None:
    response = front.call(command, args)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error" and "field" not in body, body
    assert list(body["fields"]) == [field], body
    messages = body["fields"][field]
    assert isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages)
