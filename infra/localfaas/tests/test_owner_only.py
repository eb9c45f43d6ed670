"""What localfaas keeps is readable by its owner only: files 0600, the folders it makes 0700, whatever
the umask (the embedded log holds account requests, password hashes included)."""

from __future__ import annotations

import os
import stat

import pytest

from localfaas.bus import JsonLinesArchiveStore
from localfaas.commands.up import _write_endpoints
from localfaas.embedded_log import EmbeddedLog
from localfaas.owner_only import make_directory, open_file, write_text


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _modes_under(root) -> dict[str, int]:
    modes = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = os.path.join(folder, name)
            modes[os.path.relpath(path, root)] = _mode(path)
    return modes


def test_the_embedded_log_writes_owner_only_files_and_folders(tmp_path, umask):
    before = _mode(tmp_path)
    with EmbeddedLog(tmp_path / "state" / "log") as log:
        log.create_topic("customer-accounts", partitions=2)
        log.produce("customer-accounts", b'{"passwordHash": "$argon2id$..."}', key=b"c-1")
        log.commit("storefront-create-account", "customer-accounts", 0, 1)

    modes = _modes_under(tmp_path)
    files = {p: m for p, m in modes.items() if (tmp_path / p).is_file()}
    folders = {p: m for p, m in modes.items() if (tmp_path / p).is_dir()}
    assert any(p.endswith(".log") for p in files) and any(p.startswith("state/log/groups/") for p in files)
    assert set(files.values()) == {0o600}, files
    assert set(folders.values()) == {0o700}, folders  # state/ too: made for the log
    assert _mode(tmp_path) == before  # a folder that was there is the user's, left as it was


def test_a_segment_an_older_run_left_world_readable_becomes_owner_only(tmp_path, umask):
    partition = tmp_path / "log" / "topics" / "inventory" / "0"
    partition.mkdir(parents=True)
    segment = partition / "00000000000000000000.log"
    segment.write_bytes(b"")
    segment.chmod(0o644)
    with EmbeddedLog(tmp_path / "log") as log:
        log.create_topic("inventory")
        log.produce("inventory", b"{}", partition=0)
    assert _mode(segment) == 0o600


def test_the_bus_archive_is_owner_only(tmp_path, umask):
    store = JsonLinesArchiveStore(tmp_path / "archives")
    store.append("storefront-events", {"detail": {"email": "customer@example.com"}})
    assert _mode(tmp_path / "archives") == 0o700
    assert _mode(tmp_path / "archives" / "storefront-events.jsonl") == 0o600
    assert store.events("storefront-events") == [{"detail": {"email": "customer@example.com"}}]


def test_reports_and_the_endpoints_file_are_owner_only(tmp_path, umask):
    write_text(tmp_path / "report.json", "{}\n")
    _write_endpoints(tmp_path / ".localfaas" / "endpoints.json", {"events": "http://127.0.0.1:4010"})
    assert _mode(tmp_path / "report.json") == 0o600
    assert _mode(tmp_path / ".localfaas") == 0o700
    assert _mode(tmp_path / ".localfaas" / "endpoints.json") == 0o600
    assert [p.name for p in (tmp_path / ".localfaas").iterdir()] == ["endpoints.json"]  # no temporary left


def test_what_is_not_a_regular_file_keeps_its_mode(tmp_path, umask):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o644)
    os.chmod(fifo, 0o644)
    os.close(open_file(fifo, os.O_RDWR))  # O_RDWR: a FIFO opens without waiting for a reader
    assert _mode(fifo) == 0o644


def test_an_existing_folder_is_left_as_its_owner_made_it(tmp_path, umask):
    mine = tmp_path / "mine"
    mine.mkdir()
    mine.chmod(0o755)
    make_directory(mine / "log")
    assert (_mode(mine), _mode(mine / "log")) == (0o755, 0o700)
