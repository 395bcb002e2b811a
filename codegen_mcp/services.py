"""What every front and worker needs, built once per process from Settings."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from functools import cached_property

import requests

from codegen_mcp.api.budget import Budget
from codegen_mcp.api.client import CodegenClient
from codegen_mcp.metrics_recorder import Recorder
from codegen_mcp.queue import Queue
from codegen_mcp.redis_conn import RedisClient, connect
from codegen_mcp.runtime_config import RuntimeConfig
from codegen_mcp.settings import Settings
from codegen_mcp.store import TaskStore
from codegen_mcp.waits import TaskWaits


@dataclass
class Services:
    settings: Settings
    redis_url: str
    _local: threading.local = field(default_factory=threading.local, init=False, repr=False)

    @cached_property
    def redis(self) -> RedisClient:
        """This process's Redis client (built on first use, then shared)."""
        return connect(
            self.redis_url,
            timeout=self.settings.redis_timeout,
            sentinel_password=self.settings.redis_sentinel_password,
        )

    @cached_property
    def store(self) -> TaskStore:
        """The task store on this deployment's Redis and key prefix."""
        return TaskStore(self.redis, self.settings.key_prefix)

    @cached_property
    def waits(self) -> TaskWaits:
        """The waits on tasks of this process, woken by the event stream."""
        settings = self.settings
        return TaskWaits(
            self.redis_url,
            self.store.keys.events(),
            settings.redis_timeout,
            sentinel_password=settings.redis_sentinel_password,
        )

    @cached_property
    def config(self) -> RuntimeConfig:
        """The runtime config (token and org set with `config`) over the settings."""
        return RuntimeConfig(self.redis, self.settings)

    @cached_property
    def queue(self) -> Queue:
        """The queue that hands work to the Celery workers by task name."""
        return Queue(self.redis_url, self.settings)

    def client(self, *, max_wait: float = 60.0, org_id: int | None = None) -> CodegenClient:
        """A client with the credentials in force now (config set takes effect here); in
        organization `org_id` instead when given (a task keeps its org: codegen_mcp.task_org)."""
        credentials = self.config.credentials()
        if org_id is not None and org_id != credentials.org_id:
            credentials = replace(credentials, org_id=org_id)
        client = CodegenClient(
            self.settings.api_base_url,
            credentials,
            budget=Budget(self.redis, self.settings, credentials.token),
            timeout=self.settings.request_timeout,
            max_wait=max_wait,
            session=self._session,
        )
        client.observer = self.recorder.api_request
        return client

    @cached_property
    def recorder(self) -> Recorder:
        """The metrics recorder on this deployment's Redis."""
        return Recorder(self.redis, self.settings.key_prefix)

    @property
    def _session(self) -> requests.Session:
        # One HTTP session (connection pool) per thread: `up` runs tasks in threads.
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session
