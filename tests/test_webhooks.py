"""Signed webhooks end to end: a real worker runs tasks against the simulator, and a real HTTP
receiver on loopback (allowed by CODEGEN_MCP_NOTIFY_ALLOW_PRIVATE) gets their events, checks
them with the verification code docs/webhooks.md shows, goes down and comes back."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from codegen_mcp import webhook
from codegen_mcp.notify import Outbox
from codegen_mcp.notify_target import Target
from codegen_mcp.services import Services
from codegen_mcp.settings import Settings
from codegen_mcp.simulator import Simulator
from codegen_mcp.states import State
from tests.support import ROOT, Front, Worker, fast_settings, wait_for
from workers import notify

SECRET = "whsec-test-0123456789abcdef-SECRET"
QUICK = "[sim:active=0.3] [sim:eval=0]"
SIGNATURE = "Codegen-MCP-Signature"
TIMEOUT = 1.0  # CODEGEN_MCP_NOTIFY_TIMEOUT here
SLOW = -1  # a status in Receiver.plan: answer 200 after 3 * TIMEOUT


def documented_verify() -> Any:
    """The `verify` function of docs/webhooks.md, run as a reader would copy it."""
    text = (ROOT / "docs" / "webhooks.md").read_text()
    section = text.split("## Verifying the signature", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "docs/webhooks.md shows no verification example"
    assert len(code.group(1).strip().splitlines()) <= 12  # about ten lines
    scope: dict[str, Any] = {}
    exec(code.group(1), scope)  # our own documentation, as a reader copies it
    return scope["verify"]


class Receiver:
    """An HTTP server on loopback that records every POST and answers as told: the statuses
    in `plan` first, then `status`. `stop` closes its port (connection refused) and `start`
    opens the same port again."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.plan: list[int] = []
        self.status = 200
        self.port = 0
        self.server: ThreadingHTTPServer | None = None
        self.lock = threading.Lock()

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    status = receiver.plan.pop(0) if receiver.plan else receiver.status
                if status == SLOW:  # takes the event, but answers after the sender gave up
                    time.sleep(3 * TIMEOUT)
                    status = 200
                with receiver.lock:
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "raw": raw,
                            "body": json.loads(raw),
                            "status": status,
                        }
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def of(self, task_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["body"]["task"]["task_id"] == task_id]


@pytest.fixture(scope="module")
def settings(redis_url: str, sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return fast_settings(
        redis_url,
        sim.url,
        tmp_path_factory.mktemp("data"),
        notify_allow_private=("127.0.0.1/32",),  # the receiver below, and nothing else
        notify_backoff=(0.3, 0.6),
        notify_timeout=TIMEOUT,
    )


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hooked(front: Front, worker: Worker) -> Front:
    """The front, with the webhook secret set at runtime (as an operator does)."""
    front.ok("config", {"action": "set", "key": "webhook_secret", "value": SECRET})
    return front


def start(front: Front, receiver: Receiver, **extra: Any) -> str:
    args = {"repo": "acme/demo", "query": f"Add a README {QUICK}", "notify_url": receiver.url}
    return str(front.ok("new", {**args, **extra})["task_id"])


def drained(front: Front, task_id: str) -> bool:
    """Every event of the task is delivered or given up."""
    return Outbox(front.services.store).due_at(task_id) is None


def settle(front: Front, task_id: str) -> None:
    front.wait_state(task_id, "completed")
    wait_for(lambda: drained(front, task_id), 30, f"the webhooks of {task_id}")


def accepted(requests: list[dict[str, Any]]) -> list[str]:
    """The event types the receiver took (2xx), in order, each once."""
    seen: dict[str, str] = {}
    for r in requests:
        if 200 <= r["status"] < 300:
            seen.setdefault(r["body"]["id"], r["body"]["type"])
    return list(seen.values())


def test_events_arrive_signed_in_order_with_the_task_as_task_status_shows_it(
    hooked: Front, receiver: Receiver
) -> None:
    task_id = start(hooked, receiver)
    settle(hooked, task_id)
    got = receiver.of(task_id)
    assert [r["body"]["type"] for r in got] == ["task.running", "task.completed"]
    verify = documented_verify()
    for r in got:
        assert verify(SECRET, r["headers"][SIGNATURE], r["raw"])
        assert not verify("another-secret-0123456789", r["headers"][SIGNATURE], r["raw"])
        assert not verify(SECRET, r["headers"][SIGNATURE], r["raw"] + b" ")
        assert r["path"] == "/hook" and r["headers"]["Codegen-MCP-Event-Id"] == r["body"]["id"]
    running, completed = (r["body"] for r in got)
    assert (running["previous_state"], completed["previous_state"]) == ("queued", "running")
    assert running["task"]["state"] == "running" and running["task"]["result"] is None
    status = hooked.status(task_id)
    status.pop("status")
    assert completed["task"] == status  # the task as task_status shows it
    assert completed["created_at"].endswith("Z")


def test_notify_events_selects_the_states_that_send_one(hooked: Front, receiver: Receiver) -> None:
    task_id = start(hooked, receiver, notify_events=["completed", "failed"])
    settle(hooked, task_id)
    assert [r["body"]["type"] for r in receiver.of(task_id)] == ["task.completed"]


def test_resume_takes_a_notify_url_too(hooked: Front, receiver: Receiver) -> None:
    first = start(hooked, receiver)
    run_id = hooked.wait_state(first, "completed")["agent_run_id"]
    args = {"agent_run_id": run_id, "query": f"Now add tests {QUICK}"}
    task_id = hooked.ok("resume", {**args, "notify_url": receiver.url})["task_id"]
    settle(hooked, task_id)
    assert accepted(receiver.of(task_id)) == ["task.running", "task.completed"]


def test_a_receiver_down_for_a_while_misses_nothing_and_gets_them_in_order(
    hooked: Front, receiver: Receiver
) -> None:
    receiver.status = 503
    try:
        task_id = start(hooked, receiver)
        hooked.wait_state(task_id, "completed")
        wait_for(lambda: len(receiver.of(task_id)) >= 3, 30, "three refused tries")
        receiver.stop()  # now nobody listens: connection refused
        store = hooked.services.store
        wait_for(
            lambda: (
                "no answer" in (store.fields([task_id], "notify_error")[0]["notify_error"] or "")
            ),
            30,
            "a try that found nobody listening",
        )
        receiver.plan, receiver.status = [429], 200  # back, at first too busy
        receiver.start()
        wait_for(lambda: drained(hooked, task_id), 30, "the events after the receiver came back")
    finally:
        receiver.status = 200
        if receiver.server is None:
            receiver.start()
    got = receiver.of(task_id)
    assert accepted(got) == ["task.running", "task.completed"]
    first_taken = next(i for i, r in enumerate(got) if r["status"] == 200)
    assert all(r["body"]["type"] == "task.running" for r in got[: first_taken + 1])
    assert {r["status"] for r in got} >= {503, 429, 200}


def test_a_4xx_is_not_retried_and_counts_as_failed(hooked: Front, receiver: Receiver) -> None:
    before = metric(hooked, "codegen_mcp_webhooks_failed_total")
    receiver.status = 400
    try:
        task_id = start(hooked, receiver)
        settle(hooked, task_id)
    finally:
        receiver.status = 200
    got = receiver.of(task_id)
    assert [(r["body"]["type"], r["status"]) for r in got] == [
        ("task.running", 400),
        ("task.completed", 400),
    ]  # each tried once, in order: a 4xx will not go better
    assert metric(hooked, "codegen_mcp_webhooks_failed_total") == before + 2
    assert metric(hooked, "codegen_mcp_webhooks_sent_total") >= 2
    assert metric(hooked, "codegen_mcp_webhooks_pending") == 0


def test_the_secret_is_never_shown_whole(hooked: Front, receiver: Receiver, worker: Worker) -> None:
    task_id = start(hooked, receiver)
    settle(hooked, task_id)
    shown = hooked.ok("config", {"action": "get"})
    assert SECRET not in json.dumps(shown)
    assert {"key": "webhook_secret", "value": "…" + SECRET[-4:], "source": "runtime"} in shown[
        "config"
    ]
    one = hooked.ok("config", {"action": "get", "key": "webhook-secret"})
    assert SECRET not in json.dumps(one)
    again = hooked.ok("config", {"action": "set", "key": "webhook_secret", "value": SECRET})
    # a secret is not used by API calls: the message says when it is used
    assert again["message"] == (
        "webhook_secret set; it signs every webhook sent from now on, events queued before too"
    )
    assert SECRET not in json.dumps(again)
    assert "delivered" in worker.log()  # the worker logged its deliveries...
    assert SECRET not in worker.log()  # ...and never the secret


def metric(front: Front, name: str) -> float:
    text = front.session.get(front.url + "/metrics", timeout=10).text
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


# -- the delivery itself, in this process (workers/notify.py is plain functions) ---------------
@pytest.fixture
def direct(settings: Settings) -> Iterator[Services]:
    """Services of a fresh deployment (own prefix) with the secret in its environment and the
    receiver's address allowed, as a worker would have them."""
    own = settings.with_(key_prefix=f"d{uuid.uuid4().hex[:8]}", webhook_secret=SECRET)
    services = Services(own, own.redis_url or "")
    yield services
    services.redis.close()


def queued_event(services: Services, url: str) -> str:
    """A task whose URL passed the check when given, and one webhook event queued for it."""
    store = services.store
    task_id = store.create({"repo": "acme/demo", "query": "q", "notify_url": url})
    assert store.transition(task_id, State.RUNNING, allowed=[State.QUEUED]).hooked
    return task_id


def test_two_deliveries_at_once_send_each_event_once(direct: Services, receiver: Receiver) -> None:
    task_id = queued_event(direct, receiver.url)
    direct.store.transition(task_id, State.COMPLETED, allowed=[State.RUNNING], result="done")
    runs = [threading.Thread(target=notify.deliver, args=(direct, task_id)) for _ in range(4)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(30)
    wait_for(lambda: Outbox(direct.store).due_at(task_id) is None, 10, "the events delivered")
    types = [r["body"]["type"] for r in receiver.of(task_id)]
    assert types == ["task.running", "task.completed"]  # once each (the lock), in order


def test_an_address_refused_at_delivery_is_given_up_without_a_request(
    direct: Services, receiver: Receiver
) -> None:
    # The name passed when it was given; now it resolves (or the operator's list says) otherwise.
    task_id = queued_event(direct, receiver.url)
    strict = Services(direct.settings.with_(notify_allow_private=()), direct.redis_url)
    notify.deliver(strict, task_id)
    assert receiver.of(task_id) == []
    assert Outbox(strict.store).due_at(task_id) is None  # given up: a 4xx-like refusal
    totals = strict.redis.hgetall(strict.recorder.key("webhooks"))
    assert totals == {"failed": "1"}


def test_a_timeout_is_retried_and_the_event_id_tells_the_duplicate(
    direct: Services, receiver: Receiver
) -> None:
    receiver.plan = [SLOW]
    task_id = queued_event(direct, receiver.url)
    notify.deliver(direct, task_id)  # times out: the receiver took it, we do not know
    row = direct.store.fields([task_id], "notify_error", "notify_attempts")[0]
    assert (
        "no answer (ReadTimeoutError)" in str(row["notify_error"]) and row["notify_attempts"] == "1"
    )
    wait_for(lambda: len(receiver.of(task_id)) == 1, 10, "the slow receiver to record it")
    wait_for(lambda: (Outbox(direct.store).due_at(task_id) or 0) <= time.time(), 10, "the retry")
    notify.deliver(direct, task_id)
    got = receiver.of(task_id)
    assert [r["body"]["id"] for r in got] == [got[0]["body"]["id"]] * 2  # at least once
    assert got[0]["raw"] == got[1]["raw"]  # the same body; only the signature's time moves
    assert Outbox(direct.store).due_at(task_id) is None


def test_an_address_that_takes_no_connection_gives_way_to_the_hosts_next(
    receiver: Receiver,
) -> None:
    """A host with two addresses, the first not listening (an IPv6 address the receiver does
    not serve, a dead machine): the event goes to the second, once. It went to the first
    address alone, so every attempt failed."""
    port = receiver.port
    target = Target(
        url=receiver.url,
        scheme="http",
        host="hooks.example.test",
        port=port,
        addresses=("127.0.0.2", "127.0.0.1"),  # nothing listens on 127.0.0.2
        netloc=f"hooks.example.test:{port}",
        path="/hook",
    )
    event = f"evt-{uuid.uuid4()}"
    raw = json.dumps({"id": event, "task": {"task_id": "t-two-addresses"}}).encode()

    def hosts() -> list[str]:
        mine = [r for r in receiver.requests if r["headers"].get(webhook.EVENT_HEADER) == event]
        return [r["headers"].get("Host") for r in mine]

    reply = webhook.post(target, raw, "s" * 32, event, timeout=5.0)
    assert reply.delivered, reply
    assert hosts() == [target.netloc]
    dead = webhook.post(replace(target, addresses=("127.0.0.2",)), raw, "s" * 32, event, 5.0)
    assert (dead.status, dead.detail) == (0, "no answer (NewConnectionError)")
    assert hosts() == [target.netloc]
