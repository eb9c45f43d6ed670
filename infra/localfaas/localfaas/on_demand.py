"""A stack that starts when a function first reaches for it: what `localfaas invoke` runs one call on.

A one-off invocation needs its AWS services, EventBridge endpoint and Lambda Invoke API only if the
function calls them, and most of a call's time went to starting them (moto's server, the template's
resources provisioned, the buses, the endpoints: issue 15, 8.7x python-lambda-local for a no-op).
Here each of those endpoints is first a loopback listening socket (a gate) whose address the
function gets in its environment, as it would get the started stack's; the first connection to any
gate starts the stack, and every connection is then relayed, byte for byte, to the stack's own
endpoint. A function that calls nothing never starts it; one that calls finds the same services,
resources and answers as before, a relay hop later. A stack that cannot start closes the
connections: the call fails as an unreachable endpoint does, and `error` says why.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

__all__ = ["OnDemandStack"]

_BUFFER = 65536


class OnDemandStack:
    """Gates named by endpoint ("aws", "events", "lambda"); `start()` starts the stack and returns the
    stack's URL for each name and what stops it, called once, on the first connection. `urls` are the
    gates' own."""

    def __init__(
        self, names: tuple[str, ...], start: Callable[[], tuple[Mapping[str, str], Callable[[], None]]]
    ) -> None:
        self._start = start
        self._stop: Callable[[], None] | None = None
        self._began: float | None = None
        self._took: float | None = None
        self._lock = threading.Lock()
        self._upstreams: dict[str, tuple[str, int]] = {}
        self.error: BaseException | None = None
        self.started = False
        self._closing = False
        self._listeners: dict[str, socket.socket] = {}
        self._open: set[socket.socket] = set()
        for name in names:
            listener = socket.create_server(("127.0.0.1", 0))
            self._listeners[name] = listener
        self.urls = {name: f"http://127.0.0.1:{s.getsockname()[1]}" for name, s in self._listeners.items()}
        for name, listener in self._listeners.items():
            threading.Thread(
                target=self._accept, args=(name, listener), name=f"localfaas-gate-{name}", daemon=True
            ).start()

    def _accept(self, name: str, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._relay, args=(name, client), daemon=True).start()

    def starting_s(self) -> float:
        """Seconds spent starting the stack so far: the function's call waited for them, and Lambda
        would not have made it wait (a runtime adds them to its deadline)."""
        began, took = self._began, self._took
        if took is not None:
            return took
        return time.monotonic() - began if began is not None else 0.0

    def _upstream(self, name: str) -> tuple[str, int] | None:
        with self._lock:  # one start, however many connections arrive together
            if not self.started and self.error is None and not self._closing:
                self._began = time.monotonic()
                try:
                    urls, self._stop = self._start()
                    self._upstreams = {n: _address(u) for n, u in urls.items()}
                    self.started = True
                except BaseException as error:  # the function's call fails; the command says why
                    self.error = error
                self._took = time.monotonic() - self._began
        return self._upstreams.get(name)

    def _relay(self, name: str, client: socket.socket) -> None:
        address = self._upstream(name)
        if address is None:
            client.close()
            return
        try:
            upstream = socket.create_connection(address)
        except OSError:
            client.close()
            return
        with self._lock:
            self._open.update((client, upstream))
        other = threading.Thread(target=_copy, args=(upstream, client), daemon=True)
        other.start()
        _copy(client, upstream)
        other.join()
        with self._lock:
            self._open.difference_update((client, upstream))
        client.close()
        upstream.close()

    def close(self) -> None:
        """Stop accepting, cut the connections still open (the call they serve is over), stop the stack."""
        with self._lock:
            self._closing = True
            listeners, self._listeners = list(self._listeners.values()), {}
            still_open = list(self._open)
            stop, self._stop = self._stop, None
        for listener in listeners:
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept() (Linux)
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for connection in still_open:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if stop is not None:
            stop()

    def __enter__(self) -> OnDemandStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _copy(source: socket.socket, target: socket.socket) -> None:
    """Bytes from `source` to `target` until `source` ends; then `target` is told no more will come."""
    try:
        while data := source.recv(_BUFFER):
            target.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80
