"""The sweep's lock is a short lease: renewed while its holder works, gone within seconds
of the holder's death, so a killed sweep does not stall watching for a minute."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

from codegen_mcp.redis_conn import connect
from codegen_mcp.store_keys import Keys
from tests.support import wait_for
from workers import sweep_lock

HOLDER = """
import sys, time
from codegen_mcp.redis_conn import connect
from workers.sweep_lock import lease
with lease(connect(sys.argv[1]), sys.argv[2]) as held:
    print("held" if held else "refused", flush=True)
    time.sleep(120)
"""


def test_a_killed_sweep_s_lock_is_gone_within_one_lease(redis_url: str) -> None:
    redis = connect(redis_url)
    key = Keys(f"l{uuid.uuid4().hex[:8]}").sweep_lock()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, redis_url, key], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        # Renewed while its holder lives: held without a gap for more than one lease ...
        watched_until = time.monotonic() + sweep_lock.LEASE + 1
        while time.monotonic() < watched_until:
            assert redis.exists(key)
            time.sleep(0.05)
        with sweep_lock.lease(redis, key) as held:
            assert not held
        # ... and never set to live much longer than one.
        assert 0 < redis.pttl(key) <= sweep_lock.LEASE * 1000
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        killed = time.monotonic()
        wait_for(lambda: not redis.exists(key), timeout=sweep_lock.LEASE + 2, what="lock expiry")
        assert time.monotonic() - killed <= sweep_lock.LEASE + 2
        with sweep_lock.lease(redis, key) as held:
            assert held
        assert not redis.exists(key)  # released at the end of the block
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
        redis.close()
