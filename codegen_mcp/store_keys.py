"""Every Redis key of one deployment, spelled here and nowhere else.

All keys share the deployment's prefix (`CODEGEN_MCP_REDIS_PREFIX`), so several deployments
can share one Redis. The store's Lua scripts get their keys from here too (in KEYS, or the
head of the per-state indexes in ARGV).
"""

from __future__ import annotations


class Keys:
    """The key names under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _join(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])

    # -- tasks and their indexes (sorted sets of task ids by creation time) -------------
    def task(self, task_id: str) -> str:
        """The hash holding one task."""
        return self._join("task", task_id)

    def tasks(self) -> str:
        """Every task."""
        return self._join("tasks")

    def state(self, state: str) -> str:
        """The tasks in `state`; `state("")` is the head the transition script completes."""
        return self._join("state", state)

    def repo(self, repo: str) -> str:
        """The tasks of one repository (`repo` as given: callers lower-case it)."""
        return self._join("repo", repo)

    def orch(self, orchestrator: object) -> str:
        """The children of one orchestrator run."""
        return self._join("orch", orchestrator)

    def run(self, run_id: object) -> str:
        """The tasks of one agent run (a new and its resumes); the newest owns the run."""
        return self._join("run", run_id)

    def runowner(self) -> str:
        """Hash: agent run id → the task that owns the run."""
        return self._join("runowner")

    def watch(self) -> str:
        """Running tasks, scored by when they were last checked upstream."""
        return self._join("watch")

    def outbox(self) -> str:
        """Outcomes ("task id:seq") whose finished-hook has not run yet."""
        return self._join("outbox")

    def recent(self) -> str:
        """Tasks by when they last settled (their runs may still re-open)."""
        return self._join("recent")

    def settled(self) -> str:
        """Settled tasks by when they settled (left when a run re-opens): retention's index."""
        return self._join("settled")

    def settled_indexed(self) -> str:
        """Marker: the settled index was built from the per-state indexes (older stores)."""
        return self._join("settled", "indexed")

    def removed(self) -> str:
        """Tombstones: the tasks retention removed, by when (bounded, see retention.py)."""
        return self._join("removed")

    def gone(self, orchestrator: object) -> str:
        """Hash: the removed children of one orchestrator → their final state and when."""
        return self._join("gone", orchestrator)

    def events(self) -> str:
        """Stream: one entry per change of a task's state or Codegen status (store.Event)."""
        return self._join("events")

    # -- the caller's webhooks (notify.py) ---------------------------------------------
    def notify(self, task_id: str) -> str:
        """List: a task's webhook events (JSON) still to deliver, oldest first."""
        return self._join("notifyq", task_id)

    def notify_pending(self) -> str:
        """Tasks with webhook events to deliver, scored by when to try next."""
        return self._join("notify", "pending")

    def notify_lock(self, task_id: str) -> str:
        """The lock of the one delivery of a task's webhooks running."""
        return self._join("lock", "notify", task_id)

    # -- orchestrators and their inboxes ------------------------------------------------
    def orchestrators(self) -> str:
        """Every orchestrator, by the time its first child came."""
        return self._join("orchestrators")

    def orchestrators_indexed(self) -> str:
        """Marker: the orchestrators index was built from the per-orchestrator indexes."""
        return self._join("orchestrators", "indexed")

    def pending(self) -> str:
        """Orchestrators with outcomes waiting in their inbox."""
        return self._join("orchestrators", "pending")

    def looks(self) -> str:
        """Hash: orchestrator → the sweep's latest look at its run (JSON)."""
        return self._join("orchestrators", "looks")

    def resumed(self) -> str:
        """Hash: orchestrator → when a resume of ours last reached it."""
        return self._join("orchestrators", "resumed")

    def inbox(self, orchestrator: object) -> str:
        """The outcomes ("task id:seq") waiting for one orchestrator, by when they settled."""
        return self._join("inbox", orchestrator)

    def inflight(self, orchestrator: object) -> str:
        """The id of the resume carrying an orchestrator's inbox right now."""
        return self._join("inflight", orchestrator)

    # -- the workers' bookkeeping -------------------------------------------------------
    def launch_lock(self, task_id: str) -> str:
        """The lock a launcher of `task_id` holds."""
        return self._join("lock", "launch", task_id)

    def sweep_lock(self) -> str:
        """The lock of the one sweep running."""
        return self._join("lock", "sweep")

    def sweep(self, what: str) -> str:
        """The sweep's own record: "last", "report" or "reopen_check"."""
        return self._join("sweep", what)

    def missing(self) -> str:
        """Hash: task id → since when its run is missing from the list pages."""
        return self._join("missing")

    def requeued(self, member: str) -> str:
        """Marker: a stale task (or outbox entry "id:seq") was sent to the queue lately."""
        return self._join("requeued", member)

    # -- run webhooks received from Codegen (webhooks_in.py, workers/confirm.py) -------------
    def hook_tokens(self) -> str:
        """Hash: SHA-256 of a task's webhook path token → the task id."""
        return self._join("hooks", "tokens")

    def hook_seen(self, digest: str) -> str:
        """Marker: a delivery (its id, else its body's digest) was received lately."""
        return self._join("hooks", "seen", digest)

    def hook_read(self, run_id: object) -> str:
        """Counter: a run's confirming reads in the current window (workers/confirm.py)."""
        return self._join("hooks", "read", run_id)

    def hooks(self, what: str) -> str:
        """The webhooks' own records: "working" (they arrive), "degraded" (one was missed),
        "pending" (set of hinted runs to read), "reader" (the lock of the one draining it)."""
        return self._join("hooks", what)

    # -- idempotency keys (idempotency.py) ---------------------------------------------
    def idempotency(self, scope: str, key: str) -> str:
        """The claim of one idempotency key within `scope` (a caller, or the deployment):
        which task it stands for and a digest of the arguments it came with."""
        return self._join("idem", scope, key)

    # -- upstream answers kept a while --------------------------------------------------
    def me(self, token_key: str) -> str:
        """Who a token belongs to (`token_key` is a digest, never the token)."""
        return self._join("me", token_key)

    def repos(self, org_id: object) -> str:
        """An organization's repositories."""
        return self._join("repos", org_id)

    def models(self, org_id: object) -> str:
        """The models an organization's runs may use (and the `:fresh` marker of a re-read)."""
        return self._join("models", org_id)

    def logpage(self, run_id: object, version: object, *page: object) -> str:
        """One page of a run's log, as of a version of the run."""
        return self._join("logpage", run_id, version, *page)

    # -- the families other modules name inside -----------------------------------------
    def config(self) -> str:
        """The runtime configuration hash (`config set`)."""
        return self._join("config")

    def quota(self) -> str:
        """The head of the per-client quota keys."""
        return self._join("quota")

    def budget(self) -> str:
        """The head of the shared API budget's keys."""
        return self._join("budget")

    def cooldown(self, who: str, bucket: str) -> str:
        """The pause one token's `bucket` keeps after the API answered 429."""
        return self._join("cooldown", who, bucket)

    def metrics(self, name: str) -> str:
        """One hash or set of figures for /metrics."""
        return self._join("metrics", name)
