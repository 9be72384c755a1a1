"""What the command line shows people: progress and a short summary, quiet by default (the
Dagster events go to the instance), every event with --verbose, and no control characters
off a terminal."""

from __future__ import annotations

import io
import re

import pytest
from analyse import at, day
from dagster import DagsterInstance, asset
from runs import Run, llm, write_runs

from rvbbit_assets.cli import commands as cli
from rvbbit_assets.cli.progress_line import ProgressLine
from rvbbit_assets.cli.run_logging import RunLogging, execute_assets
from rvbbit_assets.cli.run_progress import RunProgress
from rvbbit_assets.store import ClickHouseStore

pytestmark = pytest.mark.store_open_for_the_test

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # anything but \t and \n


def _cli_env(monkeypatch: pytest.MonkeyPatch, store: ClickHouseStore) -> None:
    monkeypatch.setenv("RVBBIT_SOURCE_DATABASE", store.source_database)
    monkeypatch.setenv("RVBBIT_ANALYTICS_DATABASE", store.analytics_database)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_line_redraws_on_a_terminal_and_prints_plain_lines_elsewhere(
    monkeypatch,
):
    monkeypatch.setenv("TERM", "xterm")
    shown: dict[str, str] = {}
    for name, stream in (("tty", _Terminal()), ("pipe", io.StringIO())):
        line = ProgressLine(stream)
        line.status("Writing: 1/2 days")
        line.step("Writing: 2/2 days")
        line.note("a note")
        line.close()
        shown[name] = stream.getvalue()
    assert shown["pipe"] == "Writing: 2/2 days (0:00)\na note\n"
    assert "\r\x1b[KWriting: 1/2 days · 0:00" in shown["tty"]
    assert "\r\x1b[Ka note\n" in shown["tty"] and shown["tty"].endswith("\r\x1b[K")


def test_demo_prints_its_progress_and_a_summary_whose_numbers_match_the_store(
    store, monkeypatch, capsys
):
    _cli_env(monkeypatch, store)
    assert cli.main(["demo", "--days", "2", "--sessions-per-day", "5"]) == 0
    out = capsys.readouterr().out
    with store.session("test read") as session:
        runs, first = session.rows(
            "SELECT count(), toDate(min(created_at)) FROM ${source}.cascade_sessions")[0]
    assert not CONTROL.search(out), out
    assert "DemoSummary(" not in out
    lines = out.splitlines()
    assert re.fullmatch(r"Writing demo runs: 2/2 days \(\d:\d\d\)", lines[-4]), lines
    assert lines[-3].startswith(f"Wrote {runs:,} demo runs over 2 days, {first}..")
    assert lines[-1].endswith(f"export RVBBIT_PARTITIONS_START={first} so that Dagster's "
                              "daily partitions start with them (make run does).")


def test_materialize_is_quiet_and_its_summary_matches_the_store(store, monkeypatch, capfd):
    with store.session("test data") as session:
        write_runs(session, [Run(f"r{i}", "c", at(0, 10 + i), [llm(0.1 * (i + 1))])
                             for i in range(3)])
    _cli_env(monkeypatch, store)
    assert cli.main(["materialize", "--start", day(0).isoformat(),
                     "--end", day(0).isoformat()]) == 0
    out, err = capfd.readouterr()
    with store.session("test read") as session:
        (runs, cost), = session.rows(
            "SELECT count(), sum(total_cost) FROM ${analytics}.cascade_analytics")
    assert runs == 3
    assert "DEBUG" not in out + err and not CONTROL.search(out + err), out + err
    lines = out.splitlines()
    assert lines[0] == f"Analysing {day(0)} (1 day): 13 stages and 6 data-quality checks."
    assert lines[1].startswith("  1/13 session_facts done (") and "13/13" in lines[13]
    assert re.fullmatch(rf"Analysed 3 runs of {day(0)} \(1 day\) in 0:\d\d; "
                        "every data-quality check passed.", lines[14]), lines[14]
    assert f"Cost of these runs: ${cost:,.2f}." in lines[16]
    assert "in a temporary instance" in lines[17]


def test_materialize_brings_a_store_analysed_by_older_code_up_to_date_first(
    store, monkeypatch, capfd
):
    with store.session("test data") as session:
        write_runs(session, [Run("r1", "c", at(0, 10), [llm(0.1)])])
        # As the store was before the last migration: its tables and its record gone.
        for table in ("priced_day_models", "priced_day_cells"):
            session.command(f"DROP TABLE ${{analytics}}.{table} SYNC")
        session.command("DELETE FROM ${analytics}.schema_migrations"
                        " WHERE version = '0014_priced_day_states'")
    _cli_env(monkeypatch, store)
    assert cli.main(["materialize", "--start", day(0).isoformat(),
                     "--end", day(0).isoformat()]) == 0
    out, _ = capfd.readouterr()
    assert ("Brought the analytics schema up to date first: applied "
            "analytics/0014_priced_day_states.") in out.splitlines()
    with store.session("test read") as session:
        assert session.scalar("SELECT count() FROM ${analytics}.cascade_analytics") == 1


@asset
def chatty(context) -> None:  # noqa: ANN001 (Dagster rejects a string annotation)
    context.log.debug("a debug line from the step")


def _run_chatty(logging: RunLogging, instance: DagsterInstance) -> str:
    result = execute_assets([chatty], ClickHouseStore(), instance, logging)
    assert result.success
    return result.run_id


def test_the_terminal_gets_every_event_only_when_verbose_and_the_instance_always(capfd):
    instance = DagsterInstance.ephemeral()
    line = ProgressLine(io.StringIO())
    quiet = _run_chatty(RunLogging.choose(RunProgress(line, "x", ["chatty"], 0), False),
                        instance)
    assert "DEBUG" not in "".join(capfd.readouterr())
    assert line.stream.getvalue() == "  1/1 chatty done (0:00)\n"
    loud = _run_chatty(RunLogging.choose(None, verbose=True), instance)
    err = capfd.readouterr().err
    assert "DEBUG" in err and "a debug line from the step" in err and "STEP_SUCCESS" in err
    for run_id in (quiet, loud):  # the UI reads the instance: every event is there
        messages = [entry.user_message for entry in instance.all_logs(run_id)]
        assert "a debug line from the step" in messages
