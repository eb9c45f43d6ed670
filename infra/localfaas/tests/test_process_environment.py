"""An installed environment is the process's whole environment, in os.environ and in what a child
process inherits; the host's comes back after; what the function changed stays for its next call."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from localfaas.process_environment import ProcessEnvironment

BASE = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TZ": ":UTC"}


def child_environment() -> dict[str, str]:
    """The environment a child process inherits: the C library's, not os.environ's mapping."""
    out = subprocess.run(["env", "-0"], capture_output=True, check=True).stdout.decode()
    return dict(entry.split("=", 1) for entry in out.split("\0") if entry)


def test_installed_variables_are_exactly_the_environments_then_the_hosts_come_back(monkeypatch):
    monkeypatch.setenv("HOST_ONLY", "host")
    host = dict(os.environ)
    environment = ProcessEnvironment({**BASE, "WHO": "fn"})

    with environment.installed():
        inside, inherited = dict(os.environ), child_environment()

    assert inside == {**BASE, "WHO": "fn"}
    assert {k: v for k, v in inherited.items() if k != "_"} == {**BASE, "WHO": "fn"}
    assert dict(os.environ) == host
    assert child_environment()["HOST_ONLY"] == "host" and "WHO" not in child_environment()


def test_what_the_function_sets_or_unsets_stays_for_its_next_call_and_never_reaches_the_host():
    host = dict(os.environ)
    environment = ProcessEnvironment({**BASE, "KEEP": "1", "DROP": "1"})

    with environment.installed():
        os.environ["ADDED"] = "new name"  # grows the C library's array
        os.environ["KEEP"] = "2"
        del os.environ["DROP"]
    assert dict(os.environ) == host
    with environment.installed():
        again, inherited = dict(os.environ), child_environment()

    assert again == {**BASE, "KEEP": "2", "ADDED": "new name"}
    assert {k: inherited[k] for k in ("KEEP", "ADDED")} == {"KEEP": "2", "ADDED": "new name"}
    assert "DROP" not in inherited
    assert dict(os.environ) == host and "ADDED" not in child_environment()


def test_the_host_changing_its_environment_between_calls_keeps_both_apart(monkeypatch):
    environment = ProcessEnvironment({**BASE, "WHO": "fn"})
    with environment.installed():
        pass
    monkeypatch.setenv("HOST_LATER", "yes")  # a new name: the C library makes a new array

    with environment.installed():
        inside, inherited = dict(os.environ), child_environment()

    assert "HOST_LATER" not in inside and "HOST_LATER" not in inherited
    assert os.environ["HOST_LATER"] == "yes" and child_environment()["HOST_LATER"] == "yes"


def test_each_environment_has_its_own_time_zone_and_the_host_keeps_its_own(monkeypatch):
    monkeypatch.setenv("TZ", "UTC0")
    time.tzset()
    east, west = ProcessEnvironment({**BASE, "TZ": "EST5"}), ProcessEnvironment({**BASE, "TZ": "JST-9"})

    offsets = []
    for environment in (east, west, east, west):
        with environment.installed():
            offsets.append(time.timezone)

    assert offsets == [5 * 3600, -9 * 3600, 5 * 3600, -9 * 3600]
    assert time.timezone == 0 and time.tzname[0] == "UTC"


def test_a_large_environment_is_installed_whole():
    variables = {**BASE, **{f"VARIABLE_{i}": "x" * 40 for i in range(500)}}
    environment = ProcessEnvironment(variables)

    for _ in range(2):
        with environment.installed():
            assert dict(os.environ) == variables
            assert child_environment()["VARIABLE_499"] == "x" * 40


def test_an_environment_installed_inside_another_puts_the_outer_one_back():
    outer, inner = ProcessEnvironment({**BASE, "WHO": "outer"}), ProcessEnvironment({**BASE, "WHO": "inner"})

    with outer.installed():
        with inner.installed():
            os.environ["INNER_ADDED"] = "1"
            seen_inside = os.environ["WHO"]
        after = dict(os.environ), child_environment()["WHO"]

    assert seen_inside == "inner"
    assert after == ({**BASE, "WHO": "outer"}, "outer")


@pytest.mark.parametrize("name", ["HOME", "PATH"])
def test_the_hosts_own_variables_are_unchanged_after_many_calls(name):
    before = os.environ.get(name)
    environment = ProcessEnvironment({**BASE, "WHO": "fn"})
    for _ in range(50):
        with environment.installed():
            os.environ["_X_AMZN_TRACE_ID"] = f"Root={time.monotonic_ns()}"
    assert os.environ.get(name) == before and child_environment().get(name) == before


def test_a_variable_put_on_every_call_is_seen_whole_whatever_the_function_does_around_it():
    host = dict(os.environ)
    environment = ProcessEnvironment({**BASE, "WHO": "fn"})
    seen = []
    for call in range(6):
        with environment.installed():
            environment.put("_X_AMZN_TRACE_ID", f"Root=1-{call}")
            if call == 2:
                os.environ["GROWN"] = "1"  # a new name: the array is the C library's for a while
            if call == 3:
                del os.environ["WHO"]  # shifts the slots after it
            seen.append((os.environ["_X_AMZN_TRACE_ID"], child_environment()["_X_AMZN_TRACE_ID"]))
    assert seen == [(f"Root=1-{call}", f"Root=1-{call}") for call in range(6)]
    assert dict(os.environ) == host


def test_putting_a_variable_outside_its_installation_sets_it_as_os_environ_would(monkeypatch):
    monkeypatch.setenv("LOCALFAAS_PUT", "before")  # put back as it was (absent) after the test
    environment = ProcessEnvironment(BASE)
    environment.put("LOCALFAAS_PUT", "host")  # not installed: an ordinary setenv of the host's
    assert os.environ["LOCALFAAS_PUT"] == "host" and child_environment()["LOCALFAAS_PUT"] == "host"


def test_without_the_c_librarys_environ_variables_are_switched_by_name(monkeypatch):
    from localfaas import process_environment

    monkeypatch.setattr(process_environment, "_ENVIRON", None)  # as where environ is out of reach
    host = dict(os.environ)
    environment = ProcessEnvironment({**BASE, "TZ": "EST5", "WHO": "fn"})

    with environment.installed():
        first = dict(os.environ), child_environment()["WHO"], time.timezone
        environment.put("_X_AMZN_TRACE_ID", "Root=1")
    after_first = dict(os.environ)
    with environment.installed():
        again = os.environ.get("_X_AMZN_TRACE_ID")

    assert first == ({**BASE, "TZ": "EST5", "WHO": "fn"}, "fn", 5 * 3600)
    assert again == "Root=1"
    assert after_first == host == dict(os.environ) and "WHO" not in child_environment()
