"""Our task store as the backend of the MCP Tasks extension (mcp_tasks.py).

- `new` and `resume` from a declaring client answer with a task whose taskId is our task id:
  the command has recorded it in Redis before it answers, so `tasks/get` finds it from any
  MCP server process, after a restart, for as long as the task is kept.
- `tasks/get` is `task_status` mapped: queued/running → working, completed → completed with
  the `task_status` tool result itself, failed → failed (a JSON-RPC error carrying the
  answer), cancelled → cancelled, paused → input_required (the agent's question as an
  elicitation). Nothing of the MCP task lives outside the task hashes.
- `tasks/update` with an answer sends it with `resume`, exactly once: the paused task's
  `mcp_answer` field is set with HSETNX before the resume, and then names the resume's task.
  The resume carries the paused task's webhook (notify_url, notify_events).
  The original task id follows that chain, so `tasks/get` of it shows the newest task of
  the conversation it started (only the resumes sent through tasks/update; a `resume` sent
  some other way is a task of its own).
- `tasks/cancel` is `cancel` on the newest task of the chain (the API cannot stop a run:
  codegen-mcp stops following it); on a task waiting for an answer, the MCP task is
  cancelled and the run stays paused upstream. Idempotent.

ttlMs: retention keeps a task CODEGEN_MCP_RETENTION_DAYS after it settled, so at least that
long after its creation (0: kept for ever, null).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio
import redis
from mcp.server.context import HandlerResult
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, CallToolRequestParams, CallToolResult

from codegen_mcp import clients, commands
from codegen_mcp.errors import CodegenMCPError, Conflict, NotFound
from codegen_mcp.mcp_tasks import TaskView, ToolCall
from codegen_mcp.services import Services

TASK_TOOLS = frozenset({"new", "resume"})
DAY_MS = 24 * 3600 * 1000
POLL_MS = {"queued": 3000, "running": 3000, "paused": 15000}  # a look costs one HGETALL
ANSWER = "mcp_answer"  # on a paused task: the resume that answered it, or one of these
SENDING, DECLINED, CANCELLED = "sending", "declined", "cancelled"
T = TypeVar("T")
ResultOf = Callable[[str, dict[str, Any]], CallToolResult]  # (tool, answer) -> its result


class CodegenTasks:
    """The TaskBackend over the Redis task store and the commands."""

    def __init__(self, services: Callable[[], Services], result_of: ResultOf) -> None:
        self.services = services
        self.result_of = result_of

    async def create(
        self, params: CallToolRequestParams, call: ToolCall
    ) -> TaskView | HandlerResult:
        """`new` and `resume` as tasks; every other tool, and a refused start, plainly."""
        result = await call()
        if params.name not in TASK_TOOLS or not _started(result):
            return result
        assert isinstance(result, CallToolResult) and isinstance(result.structured_content, dict)
        return await self.get(result.structured_content["task_id"]) or result

    async def get(self, task_id: str) -> TaskView | None:
        """The MCP task `task_id` now: the newest task of its chain, mapped."""
        return await _in_thread(self._get, task_id)

    async def update(self, task_id: str, input_responses: dict[str, Any]) -> bool:
        """An answer to the outstanding question, sent once with `resume`."""
        return await _in_thread(self._update, task_id, input_responses)

    async def cancel(self, task_id: str) -> bool:
        """`cancel` on the newest task of the chain; nothing more once it has settled."""
        return await _in_thread(self._cancel, task_id)

    # -- in a worker thread ------------------------------------------------------------
    def _get(self, task_id: str) -> TaskView | None:
        chain = self._chain(task_id)
        if chain is None:
            return None
        current, mark = chain[-1]
        answer = self._execute("task_status", {"task_id": current})
        store = self.services().store
        first = store.fields([task_id], "created_at", "command")[0]
        created = first["created_at"] or answer["created_at"]
        updated = store.fields([current], "updated_at")[0]["updated_at"]
        base: dict[str, Any] = {
            "task_id": task_id,
            "created_at": created,
            "last_updated_at": _iso(updated) or created,
            "ttl_ms": ttl_ms(self.services().settings.retention_days),
        }
        return TaskView(**base, **self._status(first["command"] or "new", answer, mark))

    def _status(self, tool: str, answer: dict[str, Any], mark: str | None) -> dict[str, Any]:
        state = answer["state"]
        poll = POLL_MS.get(state)
        if state in ("queued", "running") or (state == "paused" and mark == SENDING):
            return {
                "status": "working",
                "status_message": _progress(answer, mark),
                "poll_interval_ms": poll,
            }
        if state == "paused" and mark == CANCELLED:
            note = "cancelled while waiting for an answer; the run stays paused upstream"
            return {"status": "cancelled", "status_message": note}
        if state == "paused" and mark != DECLINED:
            return {
                "status": "input_required",
                "status_message": "the agent asks a question",
                "poll_interval_ms": poll,
                "input_requests": {_key(answer["task_id"]): _question(answer)},
            }
        if state in ("completed", "paused"):  # a declined question ends with the paused run
            return {"status": "completed", "result": self._result(tool, answer)}
        if state == "failed":
            error = answer.get("error") or "the run failed"
            failure = {"code": INTERNAL_ERROR, "message": error, "data": answer}
            return {"status": "failed", "status_message": error, "error": failure}
        return {"status": "cancelled", "status_message": answer.get("error") or "cancelled"}

    def _result(self, tool: str, answer: dict[str, Any]) -> dict[str, Any]:
        """The tool result the call that made the task stands for: `task_status`'s answer,
        with the `message` of `new` and `resume`, whose output schema it meets."""
        run = answer.get("agent_run_id")
        if answer["state"] == "paused":
            message = f"Agent run {run} is paused; its question was not answered (see resume)."
        else:
            message = f"Agent run {run} {answer['state']}."
        result = self.result_of(tool, {**answer, "message": message})
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)

    def _update(self, task_id: str, input_responses: dict[str, Any]) -> bool:
        chain = self._chain(task_id)
        if chain is None:
            return False
        current, _ = chain[-1]
        response = input_responses.get(_key(current))
        if not isinstance(response, dict) or not self._asking(current):
            return True  # no answer to a question outstanding: ignored, as the spec says
        store = self.services().store
        if response.get("action") != "accept":
            store.mark_once(current, ANSWER, DECLINED)
            return True
        text = _answer_text(response, _key(current))
        if not store.mark_once(current, ANSWER, SENDING):
            return True  # answered already (the same update sent twice): one resume only
        try:
            started = self._execute("resume", self._resume_args(current, text))
        except BaseException:
            store.update(current, **{ANSWER: None})  # not sent: the answer may come again
            raise
        store.update(current, **{ANSWER: started["task_id"]})
        return True

    def _resume_args(self, task_id: str, text: str) -> dict[str, Any]:
        """The resume that answers paused task `task_id`: the MCP task goes on in it, and so
        does the caller's webhook."""
        names = ("agent_run_id", "notify_url", "notify_events")
        row = self.services().store.fields([task_id], *names)[0]
        args: dict[str, Any] = {"agent_run_id": int(str(row["agent_run_id"])), "query": text}
        if row["notify_url"]:
            args["notify_url"] = row["notify_url"]
            if row["notify_events"]:  # stored comma-separated; absent for every state
                args["notify_events"] = row["notify_events"].split(",")
        return args

    def _asking(self, task_id: str) -> bool:
        """Whether the task is paused with its question unanswered."""
        row = self.services().store.fields([task_id], "state", ANSWER)[0]
        return row["state"] == "paused" and row[ANSWER] is None

    def _cancel(self, task_id: str) -> bool:
        chain = self._chain(task_id)
        if chain is None:
            return False
        current, _ = chain[-1]
        state = self._execute("task_status", {"task_id": current})["state"]
        if state == "paused":
            self.services().store.mark_once(current, ANSWER, CANCELLED)
        elif state in ("queued", "running"):
            with suppress(Conflict):  # it settled meanwhile: nothing left to cancel
                self._execute("cancel", {"task_id": current})
        return True

    def _chain(self, task_id: str) -> list[tuple[str, str | None]] | None:
        """[(task id, its mcp_answer mark)] from `task_id` to the newest resume it led to."""
        store = self.services().store
        chain: list[tuple[str, str | None]] = []
        next_id: str | None = task_id
        while next_id is not None and len(chain) < 1000:
            row = store.fields([next_id], "state", ANSWER)[0]
            if row["state"] is None:
                return chain or None  # a resume not recorded: stop before it
            chain.append((next_id, row[ANSWER]))
            mark = row[ANSWER]
            next_id = mark if mark not in (None, SENDING, DECLINED, CANCELLED) else None
        return chain

    def _execute(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        """A command, for the client of this request; NotFound as the spec's -32602."""
        try:
            return commands.execute(self.services(), command, args, clients.of_mcp())
        except NotFound as exc:
            raise MCPError(code=INVALID_PARAMS, message=exc.message) from exc


async def _in_thread(work: Callable[..., T], *args: Any) -> T:
    """`work` in a worker thread (it talks to Redis), its failures as JSON-RPC errors."""
    try:
        return await anyio.to_thread.run_sync(work, *args)
    except CodegenMCPError as exc:
        raise MCPError(code=INTERNAL_ERROR, message=exc.message) from exc
    except redis.RedisError as exc:
        message = f"the task store (Redis) is unreachable ({type(exc).__name__})"
        raise MCPError(code=INTERNAL_ERROR, message=message) from exc


def _started(result: HandlerResult) -> bool:
    return (
        isinstance(result, CallToolResult)
        and not result.is_error
        and isinstance(result.structured_content, dict)
        and isinstance(result.structured_content.get("task_id"), str)
    )


def _key(task_id: str) -> str:
    """The input request key of a paused task's question: unique over the MCP task's life
    (each question is asked by a task of its own)."""
    return f"answer-{task_id}"


def _question(answer: dict[str, Any]) -> dict[str, Any]:
    asked = answer.get("last_message") or answer.get("result") or "(no question text)"
    return {
        "method": "elicitation/create",
        "params": {
            "mode": "form",
            "message": f"The Codegen agent of run {answer.get('agent_run_id')} asks: {asked}",
            "requestedSchema": {
                "type": "object",
                "properties": {
                    "answer": {
                        "type": "string",
                        "title": "Answer",
                        "description": "Your reply; it is sent to the agent as a follow-up.",
                    }
                },
                "required": ["answer"],
            },
        },
    }


def _answer_text(response: dict[str, Any], key: str) -> str:
    content = response.get("content")
    text = content.get("answer") if isinstance(content, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise MCPError(
            code=INVALID_PARAMS,
            message=f"inputResponses.{key}.content.answer: Must be a non-empty string.",
        )
    return text


def _progress(answer: dict[str, Any], mark: str | None) -> str:
    if mark == SENDING:
        return "sending your answer to the agent"
    since = answer.get("started_at") or answer.get("created_at")
    age = _age(since)
    if answer["state"] == "queued":
        return f"queued, {age}" if age else "queued"
    status = answer.get("codegen_status") or "starting"
    return f"running ({status}), {age}" if age else f"running ({status})"


def _age(iso: str | None) -> str | None:
    if not iso:
        return None
    seconds = (
        datetime.now(UTC) - datetime.fromisoformat(iso.replace("Z", "+00:00"))
    ).total_seconds()
    return f"{max(0, int(seconds))} s" if seconds < 60 else f"{int(seconds // 60)} min"


def ttl_ms(retention_days: float) -> int | None:
    """How long after its creation a task is kept at least; None: without limit."""
    return round(retention_days * DAY_MS) if retention_days > 0 else None


def _iso(timestamp: str | None) -> str | None:
    if not timestamp:
        return None
    moment = datetime.fromtimestamp(float(timestamp), UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
