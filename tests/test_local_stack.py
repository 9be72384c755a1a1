"""`make run`'s launcher: partitions from the store's first run, two servers served side by
side and stopped together, with nothing left running (real processes, small servers)."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from analyse import at, day
from runs import Run, llm, write_runs

from rvbbit_assets.cli.local_stack import Server, partitions_start, serve_both


def test_partitions_start_on_the_store_s_first_run_unless_chosen(store, monkeypatch):
    monkeypatch.setenv("RVBBIT_SOURCE_DATABASE", store.source_database)
    monkeypatch.delenv("RVBBIT_PARTITIONS_START", raising=False)
    assert partitions_start(store) == (None, "")  # no runs: Dagster's default stays
    with store.session("test data") as session:
        write_runs(session, [Run("late", "c", at(2), [llm(0.1)]),
                             Run("early", "c", at(0), [llm(0.1)])])
    assert partitions_start(store) == (day(0).isoformat(), "the store's first run")
    monkeypatch.setenv("RVBBIT_PARTITIONS_START", "2026-10-01")
    assert partitions_start(store) == ("2026-10-01", "RVBBIT_PARTITIONS_START")


def _free_ports(count: int) -> list[int]:
    """Distinct free ports (sockets closed one by one may hand out the same port twice)."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _server(name: str, folder: Path, script: str, port: int) -> Server:
    """A server whose shell leaves a child of its own (as `dagster dev` does), whose pid it
    writes to `<name>.child`."""
    child = folder / f"{name}.child"
    command = ["sh", "-c", f"sleep 300 & echo $! > {child}; exec {sys.executable} {script}"]
    return Server(name, f"http://127.0.0.1:{port}", "/", command, folder / f"{name}.log")


def _http_server(name: str, folder: Path, port: int) -> Server:
    return _server(name, folder, f"-m http.server --bind 127.0.0.1 {port}", port)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return True
    return state == "Z"  # killed, waiting for its new parent to reap it


def _children_gone(folder: Path, names: list[str]) -> bool:
    pids = [int((folder / f"{name}.child").read_text()) for name in names]
    deadline = time.monotonic() + 5
    while not all(_gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return all(_gone(pid) for pid in pids)


def test_ctrl_c_stops_both_servers_and_their_children(tmp_path, capsys):
    ports = _free_ports(2)
    both = [_http_server("first", tmp_path, ports[0]), _http_server("second", tmp_path, ports[1])]

    printed: list[str] = []

    def press_ctrl_c() -> None:  # once the launcher says both are up
        while "Ctrl-C stops both." not in "".join(printed):
            printed.append(capsys.readouterr().out)
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    assert serve_both(both, dict(os.environ), verbose=False) == 0
    out = ("".join(printed) + capsys.readouterr().out).splitlines()
    assert out[:2] == [f"first:  {both[0].url}", f"second: {both[1].url}"]
    assert out[-2:] == ["Ctrl-C stops both.", "Stopping both."]
    assert all(server.exited() is not None for server in both)
    assert _children_gone(tmp_path, ["first", "second"])


def test_a_server_that_dies_stops_the_other_and_says_why(tmp_path, capsys):
    ports = _free_ports(2)
    dying = _server("dying", tmp_path, "-c 'print(\"no port for me\"); raise SystemExit(3)'",
                    ports[1])
    both = [_http_server("lasting", tmp_path, ports[0]), dying]
    assert serve_both(both, dict(os.environ), verbose=False) == 1
    err = capsys.readouterr().err
    assert err.startswith("The dying exited (code 3) before answering. Its last lines:\n")
    assert "no port for me" in err
    assert both[0].exited() is not None and _children_gone(tmp_path, ["lasting", "dying"])
