"""A stack started on the first connection to one of its gates, every connection relayed to it."""

from __future__ import annotations

import socket
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from localfaas.on_demand import OnDemandStack


class _Named(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{self.server.name} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def upstreams():
    """Two HTTP servers standing for a stack's AWS and events endpoints; each answers with its name."""
    servers = {}
    for name in ("aws", "events"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Named)
        server.name = name
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[name] = server
    yield {name: f"http://127.0.0.1:{s.server_address[1]}" for name, s in servers.items()}
    for server in servers.values():
        server.shutdown()
        server.server_close()


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def test_nothing_starts_until_a_gate_is_reached(upstreams):
    starts = []
    gates = OnDemandStack(("aws", "events"), lambda: starts.append(1) or (upstreams, lambda: None))

    gates.close()

    assert starts == [] and not gates.started and gates.starting_s() == 0.0


def test_the_first_call_starts_the_stack_once_and_every_gate_reaches_its_endpoint(upstreams):
    starts, stops = [], []
    with OnDemandStack(
        ("aws", "events"), lambda: starts.append(1) or (upstreams, lambda: stops.append(1))
    ) as gates:
        together = []
        calls = [
            threading.Thread(target=lambda: together.append(get(gates.urls["aws"] + "/q"))) for _ in range(4)
        ]
        for call in calls:
            call.start()
        for call in calls:
            call.join()
        answers = (get(gates.urls["aws"] + "/table"), get(gates.urls["events"] + "/bus"))

    assert together == ["aws /q"] * 4
    assert answers == ("aws /table", "events /bus")
    # One start for four calls at once and the later ones; the stack stopped with the gates.
    assert starts == [1] and stops == [1]
    assert gates.started and gates.starting_s() > 0


def test_a_stack_that_cannot_start_closes_the_call_and_says_why(upstreams):
    def fail():
        raise OSError("no port left")

    # The connection is closed unanswered, as an endpoint that is down closes it.
    with OnDemandStack(("aws",), fail) as gates, pytest.raises(OSError):
        get(gates.urls["aws"] + "/q")

    assert str(gates.error) == "no port left" and not gates.started


def test_a_closed_gate_accepts_no_more_calls(upstreams):
    gates = OnDemandStack(("aws",), lambda: (upstreams, lambda: None))
    port = int(gates.urls["aws"].rsplit(":", 1)[1])

    gates.close()

    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).recv(1)
