"""`codegen-mcp up`: every role on one machine, in one process.

Embedded Redis (unless REDIS_URL is set), the simulator with --simulate, the web front on a
thread, celery beat on a thread, and a Celery worker (thread pool) in the main thread, so
Ctrl-C reaches the worker's own warm shutdown and then everything else stops in order.
The worker runs the Celery app loaded by name, as `celery -A workers.celery_app` does (the
workers package is never imported here). Everything it writes is its owner's alone (umask
077, the data dir 0700).
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from celery.beat import EmbeddedService

from codegen_mcp import queue
from codegen_mcp.errors import ConfigurationError, NotConfigured
from codegen_mcp.local.banner import UpView, banner
from codegen_mcp.local.keeper import RedisKeeper
from codegen_mcp.local.processes import load_celery_app
from codegen_mcp.local.quiet_stop import quiet_clean_stop
from codegen_mcp.local.record import clear_stack, read_stack, reap_stale_stack, write_stack
from codegen_mcp.local.redis import OWNER_ONLY_UMASK, EmbeddedRedis, free_port, owner_only_dir
from codegen_mcp.services import Services
from codegen_mcp.serving import ThreadedServer, check_bind
from codegen_mcp.settings import Settings
from codegen_mcp.web import create_app

log = logging.getLogger(__name__)

SIM_TOKEN = "sim-token"
SIM_ORG = 1


class Stack:
    """Every role of codegen-mcp on one machine, for as long as `run` runs."""

    def __init__(self, settings: Settings, *, simulate: bool = False, concurrency: int = 4) -> None:
        self.settings = settings
        self.simulate = simulate
        self.concurrency = concurrency
        # Simulated tasks live in their own Redis, never mixed with real ones.
        self.data_dir = settings.data_dir / "simulate" if simulate else settings.data_dir
        self.redis: EmbeddedRedis | None = None
        self.sim_url: str | None = None
        self.record: dict[str, Any] = {}
        self.failure: str | None = None

    def run(self) -> None:
        """Serve until Ctrl-C (or SIGTERM), then stop everything in order and say so.

        ConfigurationError, before anything starts, if another stack runs on the data dir
        or the port is taken; after a stop, if the embedded Redis could not be kept up.
        """
        check_bind(self.settings)
        os.umask(OWNER_ONLY_UMASK)  # this process's files (beat's schedule, logs) too
        self._refuse_if_running()
        check_port_free(self.settings.host, self.settings.port)
        reap_stale_stack(self.settings.data_dir)
        owner_only_dir(self.settings.data_dir)
        owner_only_dir(self.data_dir)
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
            self.record = {
                "redis_url": url,
                "web_url": web.url,
                "simulate": self.simulate,
                "api_base_url": settings.api_base_url,
            }
            self._write_record()
            cleanup.callback(clear_stack, self.settings.data_dir)
            self._keep_redis(cleanup)
            print(banner(self._view(web.url, url, services)), file=sys.stderr, flush=True)
            self._run_worker(settings, url)
        if self.failure:
            raise ConfigurationError(self.failure)
        print("codegen-mcp stopped cleanly; tasks are kept in", self.data_dir, file=sys.stderr)

    def _refuse_if_running(self) -> None:
        running = read_stack(self.settings.data_dir)
        if running:
            owner = running.get("started_by") or "codegen-mcp up"
            where = f", web {running['web_url']}" if running.get("web_url") else ""
            raise ConfigurationError(
                f"{owner} already runs the local stack in {self.settings.data_dir} "
                f"(pid {running['pid']}{where}); stop it first, or use another --data-dir"
            )

    def _write_record(self) -> None:
        redis_pid = self.redis.process.pid if self.redis and self.redis.process else None
        write_stack(self.settings.data_dir, **self.record, redis_pid=redis_pid)

    def _start_backends(self, cleanup: ExitStack) -> tuple[Settings, str]:
        settings = self.settings.with_(data_dir=self.data_dir)
        url = settings.redis_url
        if not url:
            self.redis = EmbeddedRedis(self.data_dir / "redis")
            url = self.redis.start()
            cleanup.callback(self.redis.stop)
        if self.simulate:
            from codegen_mcp.simulator import SimConfig, Simulator

            simulator = Simulator(
                SimConfig(tokens={SIM_TOKEN: 7}, org_id=SIM_ORG),
                state_file=self.data_dir / "simulator.json",
            )
            sim_url = simulator.start(port=free_port())
            cleanup.callback(simulator.stop)
            settings = settings.with_(api_base_url=sim_url, api_token=SIM_TOKEN, org_id=SIM_ORG)
            self.sim_url = sim_url
        return settings, url

    def _keep_redis(self, cleanup: ExitStack) -> None:
        if self.redis is None:
            return  # REDIS_URL's Redis is someone else's to keep
        keeper = RedisKeeper(self.redis, lambda _: self._write_record(), self._give_up)
        keeper.start()
        cleanup.callback(keeper.stop)

    def _give_up(self, reason: str) -> None:
        """Stop `up` the way Ctrl-C does (the worker's warm shutdown), then say why."""
        log.error("%s", reason)
        self.failure = reason
        os.kill(os.getpid(), signal.SIGTERM)

    def _run_worker(self, settings: Settings, url: str) -> None:
        # Our own "task X: completed" lines tell the story; Celery's per-task lines drown it.
        for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat"):
            logging.getLogger(name).setLevel(logging.WARNING)
        app = load_celery_app(settings, url)
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
                # Our banner says what matters; our last line must reach the terminal as is.
                quiet=True,
                redirect_stdouts=False,
            )
            with quiet_clean_stop():
                worker.start()
        finally:
            # After a give-up the Redis is gone for good, and a beat caught publishing to it
            # retries for minutes: `up` would hang instead of stopping. Its thread is a daemon,
            # so it ends with the process; only a clean stop waits for it.
            beat.service.stop(wait=self.failure is None)

    def _view(self, web_url: str, redis_url: str, services: Services) -> UpView:
        api = (
            f"simulated Codegen API at {self.sim_url} "
            f"(no account needed; its record: {self.sim_url}/_sim/runs)"
            if self.simulate
            else self.settings.api_base_url
        )
        try:
            services.config.credentials()
            configured = True
        except NotConfigured:
            configured = False
        return UpView(
            web_url=web_url,
            redis_url=redis_url,
            data_dir=str(self.data_dir),
            api=api,
            auth=bool(self.settings.auth_token),
            configured=configured,
        )


def check_port_free(host: str, port: int) -> None:
    """Fail before anything starts if the web port is taken, naming the option to change it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the web server does
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise ConfigurationError(
                    f"cannot listen on {host}:{port}: {exc.strerror}"
                ) from None
            raise ConfigurationError(
                f"port {port} on {host} is already in use (another program, or another "
                "`codegen-mcp up`?); choose another with --port, e.g. --port 8081"
            ) from None
