"""What `start-lambda` and `start-api` share: a real-time stack and the servers in front of it, run
until SIGINT (Ctrl-C) or SIGTERM, then stopped in reverse order; a port in use is one line."""

from __future__ import annotations

import errno
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from localfaas.commands._options import usage_error

# Starts the servers in front of a started stack, appending each to the list as it starts (so a
# failure half-way still stops those already up), and returns the lines announcing them.
StartServers = Callable[[Any, list[Any]], list[str]]


def serve_until_stopped(command: str, stack: Any, port: int, start_servers: StartServers) -> int:
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    servers: list[Any] = []
    try:
        try:
            stack.start()
            lines = start_servers(stack, servers)
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                return usage_error(command, e)
            return usage_error(command, f"port {port} is in use; choose another with --port")
        except Exception as e:
            return usage_error(command, e)
        for warning in stack.warnings:
            print(f"localfaas {command}: warning: {warning}", file=sys.stderr)
        print("\n".join([*lines, "Ctrl-C to stop."]), file=sys.stderr, flush=True)
        stop.wait()
        print(f"localfaas {command}: stopping", file=sys.stderr)
    finally:
        for server in reversed(servers):
            server.stop()
        stack.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
