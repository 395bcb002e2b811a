"""Another local user, as tests/test_local_security.py plays it (run as uid 65534).

Stdlib only, so it needs nothing from the project's virtualenv beyond the interpreter.
Given the Redis address the stack uses and its data directory, it tries what the issue did:
connect and HGET the token, CONFIG SET a file of its choosing, read every file in the data
directory (stack.json, the AOF). It prints one JSON object of what it got.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from urllib.parse import urlsplit


def command(sock: socket.socket, *words: str) -> str:
    frame = f"*{len(words)}\r\n" + "".join(f"${len(w.encode())}\r\n{w}\r\n" for w in words)
    sock.sendall(frame.encode())
    return sock.recv(65536).decode(errors="replace")


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    if parts.scheme in ("unix", "redis+socket", "socket"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(3)
        sock.connect(parts.path)
        return sock
    return socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 3)


def talk(url: str, config_key: str) -> dict[str, str]:
    try:
        sock = connect(url)
    except OSError as exc:
        return {"connect": f"refused: {exc}"}
    with sock:
        return {
            "connect": "ok",
            "hget": command(sock, "HGET", config_key, "api_token"),
            "config_set": command(sock, "CONFIG", "SET", "dir", "/tmp"),
        }


def read_files(data_dir: str) -> dict[str, str]:
    got: dict[str, str] = {}
    names = ["stack.json", "redis/appendonly.aof", "redis/redis.log"]
    for root, _dirs, files in os.walk(data_dir):
        names += [os.path.relpath(os.path.join(root, name), data_dir) for name in files]
    for name in sorted(set(names)):
        try:
            with open(os.path.join(data_dir, name), "rb") as handle:
                got[name] = handle.read().decode(errors="replace")
        except OSError as exc:
            got[name] = f"refused: {exc.strerror}"
    return got


def main() -> None:
    url, data_dir, config_key = sys.argv[1:4]
    print(json.dumps({"uid": os.getuid(), "redis": talk(url, config_key), **read_files(data_dir)}))


if __name__ == "__main__":
    main()
