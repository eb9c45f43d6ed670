"""An HTTP endpoint on 127.0.0.1 served from a daemon thread: what the events endpoint, the Lambda
Invoke API and the API gateway share (start, stop, the URL), so each module keeps only its requests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackServer:
    """Subclasses name themselves (`describe`, `thread_name`) and give the request handler class."""

    describe = "the endpoint"
    thread_name = "localfaas-endpoint"

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def request_handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.describe} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", self._port), self.request_handler())
            self._server.daemon_threads = True
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},  # how long stop() waits for the loop to notice
                name=self.thread_name,
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
