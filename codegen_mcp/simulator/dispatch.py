"""Sending run webhooks from a few background threads, never from the API's request threads.

Every delivery is recorded (for `/_sim/deliveries`): each attempt with its time and the
receiver's status or the network error. A 2xx is delivered; a 5xx, a 429 or no answer is tried
again after `backoff * 2**(n-1)` seconds, up to `attempts` tries, then given up (`failed`); any
other 4xx is final at once. A duplicate carries the same `delivery_id` as its original.
"""

from __future__ import annotations

import heapq
import itertools
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from codegen_mcp.simulator.faults import Dice
from codegen_mcp.simulator.statuses import wire_time
from codegen_mcp.simulator.webhook_faults import COUNTS, WebhookFaults
from codegen_mcp.simulator.webhook_http import post
from codegen_mcp.simulator.webhooks import TEST_EVENT, Target, headers_for, payload_body

SENDERS = 4
MAX_RECORDED = 100_000
IDLE_WAIT = 1.0
WRONG_KEY_SUFFIX = "-not-the-secret"


@dataclass
class Delivery:
    number: int
    delivery_id: str
    event_type: str
    run_id: int | None
    target: Target
    body: bytes
    queued_at: float
    due: float = 0.0
    duplicate: bool = False
    wrong_signature: bool = False
    held: bool = False
    state: str = "queued"
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        """The delivery for the control API: everything but the secret."""
        return {
            "number": self.number,
            "delivery_id": self.delivery_id,
            "event_type": self.event_type,
            "run_id": self.run_id,
            "url": self.target.url,
            "signed": bool(self.target.secret) or self.wrong_signature,
            "duplicate": self.duplicate,
            "wrong_signature": self.wrong_signature,
            "held": self.held,
            "state": self.state,
            "queued_at": self.queued_at,
            "attempts": [dict(attempt) for attempt in self.attempts],
            "payload": json.loads(self.body),
        }


class Dispatcher:
    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self.clear()

    # -- set-up ------------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every delivery (queued ones are dropped) and every fault."""
        with self._cond:
            self._heap: list[tuple[float, int, Delivery]] = []
            self._held: list[Delivery] = []
            self._records: deque[Delivery] = deque(maxlen=MAX_RECORDED)
            self._numbers = itertools.count(1)
            self._dice = Dice(self._seed)
            self.set_faults(WebhookFaults())

    def set_faults(self, faults: WebhookFaults) -> dict[str, Any]:
        """Script the deliveries from now on (the `*_next` counts start over); the faults."""
        faults.validate()
        with self._cond:
            self.faults = faults
            self._left = {name: int(getattr(faults, name)) for name in COUNTS}
            return self.faults_view()

    def faults_view(self) -> dict[str, Any]:
        """The faults in force, with what is left of each `*_next` count."""
        with self._cond:
            return {**self.faults.as_dict(), "left": dict(self._left)}

    def start(self) -> None:
        """Start the sender threads (idempotent)."""
        with self._cond:
            if self._threads:
                return
            self._stopping = False
            self._threads = [
                threading.Thread(target=self._run, name=f"codegen-sim-webhook-{n}", daemon=True)
                for n in range(SENDERS)
            ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop the sender threads; what is still queued stays queued."""
        with self._cond:
            self._stopping = True
            threads, self._threads = self._threads, []
            self._cond.notify_all()
        for thread in threads:
            thread.join(timeout=10)

    # -- submitting --------------------------------------------------------------------------

    def submit(
        self, event_type: str, run_id: int, run: dict[str, Any], targets: list[Target], at: float
    ) -> None:
        """Queue one delivery of `run` per target, with the scripted faults applied."""
        with self._cond:
            for target in targets:
                self._submit_one(event_type, run_id, run, target, at)
            self._cond.notify_all()

    def _submit_one(
        self, event_type: str, run_id: int, run: dict[str, Any], target: Target, at: float
    ) -> None:
        delivery_id = f"dlv_{secrets.token_hex(10)}"
        body = payload_body(run, event_type, delivery_id, wire_time(at))
        lost = self._fault("lose")
        copies = 1 if lost else 1 + self._fault("duplicate")
        for copy in range(copies):
            delivery = self._record(event_type, run_id, target, body, delivery_id)
            delivery.duplicate = copy > 0
            delivery.wrong_signature = self._fault("wrong_signature")
            if lost:
                delivery.state = "lost"
            elif self._fault("hold"):
                delivery.held, delivery.state = True, "held"
                delivery.due = time.monotonic() + self.faults.hold_seconds
                self._held.append(delivery)
            else:
                self._push(delivery, time.monotonic() + self.faults.delay)

    def _record(
        self, event_type: str, run_id: int | None, target: Target, body: bytes, delivery_id: str
    ) -> Delivery:
        delivery = Delivery(
            next(self._numbers), delivery_id, event_type, run_id, target, body, time.time()
        )
        self._records.append(delivery)
        return delivery

    def _fault(self, name: str) -> bool:
        """Whether this delivery gets fault `name`: the next-N count first, then the rate."""
        count = f"{name}_next"
        if self._left.get(count, 0) > 0:
            self._left[count] -= 1
            return True
        return self._dice.chance(getattr(self.faults, f"{name}_rate", 0.0))

    def _push(self, delivery: Delivery, due: float) -> None:
        delivery.due, delivery.state = due, "queued"
        heapq.heappush(self._heap, (due, delivery.number, delivery))

    # -- sending -----------------------------------------------------------------------------

    def send_test(self, url: str, secret: str | None) -> dict[str, Any]:
        """POST a test event to `url` now, once, in the caller's thread; what the receiver said."""
        delivery_id = f"dlv_{secrets.token_hex(10)}"
        body = payload_body({"test": True}, TEST_EVENT, delivery_id, wire_time(time.time()))
        with self._cond:
            delivery = self._record(TEST_EVENT, None, Target(url, secret), body, delivery_id)
            delivery.state = "sending"
        attempt = self._attempt(delivery)
        with self._cond:
            delivery.attempts.append(attempt)
            delivery.state = "delivered" if _ok(attempt) else "failed"
        status = attempt["status"]
        message = f"The endpoint answered {status}." if status else attempt["error"]
        return {"success": _ok(attempt), "status_code": status, "message": message}

    def _run(self) -> None:
        while True:
            with self._cond:
                delivery = self._next_due()
                while delivery is None:
                    if self._stopping:
                        return
                    self._cond.wait(self._wait_time())
                    delivery = self._next_due()
                delivery.state = "sending"
            attempt = self._attempt(delivery)
            with self._cond:
                self._settle(delivery, attempt)
                self._cond.notify_all()

    def _next_due(self) -> Delivery | None:
        now = time.monotonic()
        for held in [d for d in self._held if d.due <= now]:
            self._release(held, now)
        if self._stopping or not self._heap or self._heap[0][0] > now:
            return None
        return heapq.heappop(self._heap)[2]

    def _wait_time(self) -> float:
        dues = [self._heap[0][0]] if self._heap else []
        dues += [d.due for d in self._held]
        return max(0.0, min([IDLE_WAIT, *(due - time.monotonic() for due in dues)]))

    def _release(self, delivery: Delivery, now: float) -> None:
        self._held.remove(delivery)
        self._push(delivery, now)

    def _attempt(self, delivery: Delivery) -> dict[str, Any]:
        secret = delivery.target.secret
        if delivery.wrong_signature:
            secret = (secret or "") + WRONG_KEY_SUFFIX
        headers = headers_for(
            delivery.event_type, delivery.delivery_id, delivery.body, secret, int(time.time())
        )
        at = time.time()
        status, error = post(delivery.target.url, delivery.body, headers)
        return {"at": at, "status": status, "error": error}

    def _settle(self, delivery: Delivery, attempt: dict[str, Any]) -> None:
        delivery.attempts.append(attempt)
        status, tries = attempt["status"], len(delivery.attempts)
        if _ok(attempt):
            delivery.state = "delivered"
        elif (status is None or status == 429 or status >= 500) and tries < self.faults.attempts:
            self._push(delivery, time.monotonic() + self.faults.backoff * 2 ** (tries - 1))
        else:
            delivery.state = "failed"
        now = time.monotonic()
        for held in list(self._held):  # a later delivery went first: the held ones may follow
            self._release(held, now)

    # -- inspection --------------------------------------------------------------------------

    def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery recorded, oldest first."""
        with self._cond:
            return [delivery.view() for delivery in self._records]

    def pending(self) -> int:
        """How many deliveries are queued, held or being sent."""
        with self._cond:
            return sum(d.state in ("queued", "held", "sending") for d in self._records)


def _ok(attempt: dict[str, Any]) -> bool:
    status = attempt["status"]
    return status is not None and 200 <= status < 300
