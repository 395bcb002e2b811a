"""Idempotency keys: a `new` or `resume` sent again with the same key starts nothing.

A caller that lost an answer (a dropped connection, a timeout) sends the command again with
the key it chose the first time, and gets the task the first call made. The same key with other
arguments is a 409 that names them. A key lasts 24 h (a Redis TTL).

How a key is held: the first request claims it before anything is recorded (SET NX of the
command, a digest of each argument and a task id chosen in advance), then creates its task
under that id. The claim and the task together say where the first request stands:
- claim and task: done. A retry answers from the task (`replay`), taking no allowance.
- claim without a task: the first request is recording it now. A retry waits a few seconds for
  the task, then is told to try again. A claim whose task has not come within CLAIM_GRACE was
  left by a front that died in between: the next request takes it over. (Recording takes a
  few Redis calls, each cut at 2 s: a front still alive that long after its claim is stuck.)
- A request refused after its claim (rate limit, queue full, Redis down) gives the claim back
  (`given_back_on_error`): a refused request does not burn its key.

Scope: with auth on, each bearer token has its own keys (the client of clients.py); with auth
off, every caller of the deployment shares them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis

from codegen_mcp.errors import Conflict, InvalidRequest
from codegen_mcp.redis_conn import UNREACHABLE
from codegen_mcp.services import Services
from codegen_mcp.store import new_task_id

STARTS = frozenset({"new", "resume"})  # the commands a key makes safe to send again

FIELD = "idempotency_key"
HEADER = "Idempotency-Key"
TTL = 24 * 3600
IN_FLIGHT_WAIT = 10.0  # how long a retry waits for the first request to record its task
CLAIM_GRACE = 60.0  # a claim this old without its task was abandoned

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    """An idempotency key held in Redis: the task it stands for, and whether that task was
    made by an earlier request (`replay`) or is this request's to make."""

    name: str  # the Redis key
    value: str  # the claim as stored, to give back only our own
    task_id: str
    replay: bool


def scope(client: str) -> str:
    """Whose keys a client sees: its bearer token's with auth on, else the deployment's."""
    return client if client.startswith("token:") else "deployment"


def with_header(command: object, args: object, header: str | None) -> object:
    """A command's arguments sent over HTTP, with the key of the Idempotency-Key header in
    them (as `idempotency_key`, validated with the rest). The header counts for `new` and
    `resume` only: the other commands are idempotent already."""
    if header is None or not isinstance(command, str) or command not in STARTS:
        return args  # execute() refuses a command that is not one, by name
    key = _unquoted(header.strip())
    args = {} if args is None else args
    if not isinstance(args, dict):
        return args  # schemas.load says what args must be
    given = args.get(FIELD)
    if given is not None and given != key:
        raise InvalidRequest(
            f"the {HEADER} header and the {FIELD} argument differ: send the key once, or the "
            "same key in both",
            field=FIELD,
        )
    return {**args, FIELD: key}


def claim(services: Services, client: str, command: str, args: dict[str, Any]) -> Claim | None:
    """Claim the key of validated `args` for `client`; None when they carry none.

    Raises Conflict when the key was first used for another command or other arguments, or
    when the request that claimed it is still recording its task after IN_FLIGHT_WAIT.
    """
    key = args.get(FIELD)
    if key is None:
        return None
    name = services.store.keys.idempotency(scope(client), key)
    task_id = new_task_id()
    mine = {"command": command, "task_id": task_id, "args": _digests(args)}
    value = json.dumps(mine, sort_keys=True)
    deadline = time.monotonic() + IN_FLIGHT_WAIT
    pause = 0.01
    while True:
        if services.redis.set(name, value, nx=True, ex=TTL):
            return Claim(name, value, task_id, replay=False)
        held = services.redis.get(name)
        if held is None:
            continue  # given back or expired in between: claim it again
        first = json.loads(held)
        _refuse_other_use(first, mine)
        if _recorded(services, first["task_id"]):
            return Claim(name, held, first["task_id"], replay=True)
        if _abandoned(services, name) and _take_over(services, name, held, value):
            return Claim(name, value, task_id, replay=False)
        if time.monotonic() >= deadline:
            raise _in_flight()
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def recorded(services: Services, client: str, command: str, args: dict[str, Any]) -> str | None:
    """The task an earlier request with the key of `args` recorded, found without writing
    (what a retry may be told while the memory guard refuses new work); None when the key is
    new. Conflict when the key was first used otherwise, or its task is still being recorded,
    as `claim` says."""
    key = args.get(FIELD)
    name = services.store.keys.idempotency(scope(client), key) if key is not None else ""
    held = name and services.redis.get(name)
    if not held:
        return None
    first = json.loads(held)
    _refuse_other_use(first, {"command": command, "args": _digests(args)})
    if _recorded(services, first["task_id"]):
        return str(first["task_id"])
    if _abandoned(services, name):
        return None  # its front died before recording it: this is new work, which waits
    raise _in_flight()  # the first request is recording it now


def with_task_id(args: dict[str, Any], held: Claim | None) -> dict[str, Any]:
    """`args` for the command, carrying the task id a fresh claim chose (commands/tasks.py
    records the task under it)."""
    return args if held is None else {**args, "task_id": held.task_id}


@contextmanager
def given_back_on_error(services: Services, held: Claim | None) -> Iterator[None]:
    """Give a fresh claim back if the block raises before its task was recorded."""
    try:
        yield
    except BaseException:
        if held is not None and not held.replay:
            _give_back(services, held)
        raise


# -- helpers -------------------------------------------------------------------------
def _unquoted(value: str) -> str:
    # The IETF draft spells the key as a structured-field string ("..."); Stripe's does not.
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _digests(args: dict[str, Any]) -> dict[str, str]:
    """A digest of each argument but the key: enough to tell which differ, without keeping
    their values."""
    return {
        name: hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]
        for name, value in args.items()
        if name != FIELD
    }


def _refuse_other_use(first: dict[str, Any], mine: dict[str, Any]) -> None:
    if first["command"] != mine["command"]:
        raise Conflict(
            f"this {FIELD} was first used for {first['command']!r}, not {mine['command']!r}: "
            "use a new key for a new request",
            field=FIELD,
        )
    old, new = first["args"], mine["args"]
    differ = sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
    if differ:
        raise Conflict(
            f"this {FIELD} was first used with other arguments ({', '.join(differ)} "
            "differ): send the first arguments to get the first answer, or use a new key "
            "for a new request",
            details={"field": FIELD, "differ": differ},
        )


def _recorded(services: Services, task_id: str) -> bool:
    """The claim's task was recorded: it is in the store, or retention removed it since (its
    replay then says so, rather than the key being taken over for a second run)."""
    keys = services.store.keys
    pipe = services.redis.pipeline(transaction=False)
    pipe.exists(keys.task(task_id))
    pipe.zscore(keys.removed(), task_id)
    found, removed = pipe.execute()
    return bool(found) or removed is not None


def _abandoned(services: Services, name: str) -> bool:
    # The claim's age on Redis' clock (its TTL counts down from TTL), not on ours.
    left = int(services.redis.ttl(name))
    return left >= 0 and TTL - left > CLAIM_GRACE


def _take_over(services: Services, name: str, held: str, value: str) -> bool:
    """Replace the abandoned claim `held` with ours, unless it changed meanwhile."""
    with services.redis.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(name)
            if pipe.get(name) != held:
                return False
            pipe.multi()
            pipe.set(name, value, ex=TTL)
            pipe.execute()
        except redis.WatchError:
            return False
    log.warning("idempotency key claim %s was abandoned without its task: taken over", name)
    return True


def _give_back(services: Services, held: Claim) -> None:
    """Delete our claim unless its task was recorded after all (a create whose answer was
    lost); if Redis does not answer, the claim is taken over after CLAIM_GRACE."""
    task = services.store.keys.task(held.task_id)
    try:
        with services.redis.pipeline(transaction=True) as pipe:
            pipe.watch(held.name, task)
            if pipe.get(held.name) != held.value or pipe.exists(task):
                return
            pipe.multi()
            pipe.delete(held.name)
            pipe.execute()
    except (redis.WatchError, *UNREACHABLE) as exc:
        log.warning("idempotency key claim %s not given back (%s)", held.name, type(exc).__name__)


def _in_flight() -> Conflict:
    wait = math.ceil(IN_FLIGHT_WAIT)
    error = Conflict(
        f"the first request with this {FIELD} is still being recorded: try again in {wait} s "
        "for its answer",
        details={"field": FIELD, "retry_after": wait},
    )
    error.retry_after = wait
    return error
