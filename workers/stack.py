"""`codegen-mcp up`: every role on one machine, in one process.

Embedded Redis (unless REDIS_URL is set), the simulator with --simulate, the web front on a
thread, celery beat on a thread, and a Celery worker (thread pool) in the main thread, so
Ctrl-C reaches the worker's own warm shutdown and then everything else stops in order.
This is the one place the CLI reaches into the workers package, because it runs a worker.
"""

from __future__ import annotations

import logging
import socket
import sys
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from celery.beat import EmbeddedService

from codegen_mcp import queue
from codegen_mcp.embedded import (
    EmbeddedRedis,
    clear_stack,
    free_port,
    read_stack,
    reap_stale_stack,
    write_stack,
)
from codegen_mcp.errors import ConfigurationError
from codegen_mcp.services import Services
from codegen_mcp.serving import ThreadedServer, check_bind
from codegen_mcp.settings import Settings
from codegen_mcp.web import create_app
from workers.celery_app import create_celery

log = logging.getLogger(__name__)

SIM_TOKEN = "sim-token"
SIM_ORG = 1


class Stack:
    def __init__(self, settings: Settings, *, simulate: bool = False, concurrency: int = 4) -> None:
        self.settings = settings
        self.simulate = simulate
        self.concurrency = concurrency
        # Simulated tasks live in their own Redis, never mixed with real ones.
        self.data_dir = settings.data_dir / "simulate" if simulate else settings.data_dir
        self.redis_pid: int | None = None
        self.sim_url: str | None = None

    def run(self) -> None:
        check_bind(self.settings)
        running = read_stack(self.settings.data_dir)
        if running:
            owner = running.get("started_by") or "codegen-mcp up"
            where = f", web {running['web_url']}" if running.get("web_url") else ""
            raise ConfigurationError(
                f"{owner} already runs the local stack in {self.settings.data_dir} "
                f"(pid {running['pid']}{where}); stop it first, or use another --data-dir"
            )
        reap_stale_stack(self.settings.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with ExitStack() as cleanup:
            settings, url = self._start_backends(cleanup)
            services = Services(settings, url)
            if self.simulate:
                services.config.set("api_token", SIM_TOKEN)
                services.config.set("org_id", SIM_ORG)
            web = ThreadedServer(
                create_app(services),
                settings.host,
                settings.port,
                read_timeout=settings.read_timeout,
            )
            web.start()
            cleanup.callback(web.stop)
            write_stack(
                self.settings.data_dir,
                redis_url=url,
                web_url=web.url,
                simulate=self.simulate,
                redis_pid=self.redis_pid,
            )
            cleanup.callback(clear_stack, self.settings.data_dir)
            self._banner(web.url, url)
            self._run_worker(settings, url)

    def _start_backends(self, cleanup: ExitStack) -> tuple[Settings, str]:
        settings = self.settings.with_(data_dir=self.data_dir)
        url = settings.redis_url
        if not url:
            redis = EmbeddedRedis(self.data_dir / "redis")
            url = redis.start()
            cleanup.callback(redis.stop)
            self.redis_pid = redis.process.pid if redis.process else None
        if self.simulate:
            from codegen_mcp.simulator import SimConfig, Simulator

            simulator = Simulator(SimConfig(tokens={SIM_TOKEN: 7}, org_id=SIM_ORG))
            sim_url = simulator.start(port=free_port())
            cleanup.callback(simulator.stop)
            settings = settings.with_(api_base_url=sim_url, api_token=SIM_TOKEN, org_id=SIM_ORG)
            self.sim_url = sim_url
        return settings, url

    def _run_worker(self, settings: Settings, url: str) -> None:
        # Our own "task X: completed" lines tell the story; Celery's per-task lines drown it.
        for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat"):
            logging.getLogger(name).setLevel(logging.WARNING)
        app = create_celery(settings, url)
        beat = EmbeddedService(
            app, thread=True, schedule_filename=str(Path(self.data_dir) / "celerybeat")
        )
        beat.start()
        try:
            worker = app.Worker(
                pool="threads",
                concurrency=self.concurrency,
                loglevel="INFO",
                queues=[queue.queue_name(settings)],
                hostname=f"up@{socket.gethostname()}",
                without_mingle=True,
                without_gossip=True,
            )
            worker.start()
        finally:
            beat.stop()

    def _banner(self, web_url: str, redis_url: str) -> None:
        mode = (
            f"simulated Codegen API at {self.sim_url} "
            f"(no account needed; its record: {self.sim_url}/_sim/runs)"
            if self.simulate
            else self.settings.api_base_url
        )
        print(
            f"\ncodegen-mcp is up\n  web:   {web_url}  (POST / with a command)\n"
            f"  redis: {_no_password(redis_url)}  data in {self.data_dir}\n  api:   {mode}\n"
            f"try:\n  curl -s {web_url} -H 'Content-Type: application/json' "
            '-d \'{"command": "new", "args": {"repo": "acme/demo", "query": "Add a README"}}\'\n'
            "Ctrl-C stops everything.\n",
            file=sys.stderr,
            flush=True,
        )


def _no_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))
