"""`generate_demo`: write a seeded, RVBBIT-shaped load into the source tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from rvbbit_assets.config import setting
from rvbbit_assets.demo import catalog as cat
from rvbbit_assets.demo.chunk import Chunk, generate_chunk
from rvbbit_assets.demo.inputs import build_pools
from rvbbit_assets.demo.plan import Plan, generator, make_plan
from rvbbit_assets.demo.runs import build_callers
from rvbbit_assets.demo.truth import GroundTruth
from rvbbit_assets.demo.worlds import DEFAULT_WORLD, WORLDS
from rvbbit_assets.store import StoreSession, embedded_path

GROUND_TRUTH_FILE = "demo_ground_truth.json"
SOURCE_TABLES = ("cascade_sessions", "unified_logs", "prompt_lineage")

# RVBBIT's background cost job: fill the costs that arrived late, in place, once.
_FILL_LATE_COSTS = """
ALTER TABLE ${source}.unified_logs
UPDATE cost = (
    toFloat64(tokens_in) * transform(assumeNotNull(model), {models:Array(String)},
                                     {input_prices:Array(Float64)}, 0.)
    + toFloat64(tokens_out) * transform(assumeNotNull(model), {models:Array(String)},
                                        {output_prices:Array(Float64)}, 0.)
) / 1000000
WHERE cost IS NULL
  AND node_type = {node_type:String}
  AND role = {role:String}
  AND model IN {models:Array(String)}
  AND timestamp >= fromUnixTimestamp64Micro({start:Int64})
  AND timestamp < fromUnixTimestamp64Micro({fill_before:Int64})
SETTINGS mutations_sync = 2
"""


@dataclass(frozen=True)
class DemoSummary:
    runs: int  # rows of cascade_sessions, sub-cascade children included
    log_rows: int
    lineage_rows: int
    days: int
    world: str
    first_day: date
    last_day: date
    ground_truth_path: Path

    def summary(self) -> str:
        return "\n".join([
            f"Wrote {self.runs:,} demo runs over {self.days} days, "
            f"{self.first_day}..{self.last_day} (world {self.world!r}): "
            f"{self.log_rows:,} log rows, {self.lineage_rows:,} prompt lineage rows.",
            f"  Planted ground truth: {self.ground_truth_path}",
            f"  The runs start {self.first_day}: export RVBBIT_PARTITIONS_START="
            f"{self.first_day} so that Dagster's daily partitions start with them "
            "(make run does).",
        ])


# Called after each chunk of runs is written: (days written, days in all).
DemoProgress = Callable[[int, int], None]


def generate_demo(
    session: StoreSession,
    days: int,
    sessions_per_day: int,
    seed: int,
    end_date: date | None = None,
    ground_truth_path: Path | None = None,
    *,
    now: datetime | None = None,
    world: str = DEFAULT_WORLD,
    progress: DemoProgress | None = None,
) -> DemoSummary:
    """Write `days` days of synthetic runs ending on `end_date` (default: today, UTC).

    The same arguments give byte-identical rows. Rows stop at the horizon: the end of
    `end_date`, or a couple of minutes before `now` when that is earlier, so a load ending
    today depends on `now` too (default: the current time; pass it for a reproducible load
    ending today; a naive `now` is local time, as in `datetime.astimezone`). The source
    tables must exist (`apply_migrations(session, with_source=True)`); rows are appended.
    The planted ground truth is written as JSON to `ground_truth_path` (default: next to
    the embedded store, see `default_ground_truth_path`). `world` sets the shape of the
    costs (worlds.py); the default looks like production. `progress` hears of each chunk
    of runs written.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if world not in WORLDS:
        raise ValueError(f"unknown world {world!r}; worlds: {', '.join(WORLDS)}")
    plan = make_plan(seed, days, sessions_per_day, end_date or now.date(), now, WORLDS[world])
    _require_source_tables(session)
    setup = generator(seed, 0)
    pools = build_pools(setup, plan.total)
    callers = build_callers(setup, plan.total)
    truth = GroundTruth(plan, pools)
    for number, pieces in enumerate(plan.chunks):
        rng = generator(seed, 2 + number)
        chunk = generate_chunk(rng, plan, pieces, pools, callers, is_first=number == 0)
        _insert(session, chunk)
        truth.add(chunk)
        if progress is not None:
            # The last chunk ends the load, though a day just begun can have no runs yet.
            last = number == len(plan.chunks) - 1
            progress(plan.days if last else pieces[-1].day + 1, plan.days)
    _fill_late_costs(session, plan, truth.fill_before_us)
    path = ground_truth_path or default_ground_truth_path()
    truth.write(path)
    return DemoSummary(
        runs=truth.counts["runs"],
        log_rows=truth.counts["log_rows"],
        lineage_rows=truth.counts["lineage_rows"],
        days=plan.days,
        world=world,
        first_day=plan.first_day,
        last_day=plan.end_date,
        ground_truth_path=path,
    )


def default_ground_truth_path() -> Path:
    """Beside the embedded store directory (`.../.rvbbit/chdb` → `.../.rvbbit/`), else
    `./.rvbbit/`."""
    store = embedded_path(setting("RVBBIT_CLICKHOUSE_URL"))
    folder = Path(store).parent if store else Path.cwd() / ".rvbbit"
    return folder / GROUND_TRUTH_FILE


def _require_source_tables(session: StoreSession) -> None:
    found = {
        row[0]
        for row in session.rows(
            "SELECT name FROM system.tables WHERE database = {db:String}",
            {"db": session.source_database},
        )
    }
    missing = [t for t in SOURCE_TABLES if t not in found]
    if missing:
        raise RuntimeError(
            f"source tables {', '.join(missing)} are missing in {session.source_database}: "
            "run `rvbbit-analytics init --with-source` first"
        )


def _insert(session: StoreSession, chunk: Chunk) -> None:
    database = session.source_database
    session.insert_df("cascade_sessions", chunk.sessions_frame, database=database)
    session.insert_df("unified_logs", chunk.logs_frame, database=database)
    if len(chunk.lineage_frame):
        session.insert_df("prompt_lineage", chunk.lineage_frame, database=database)


def _fill_late_costs(session: StoreSession, plan: Plan, fill_before_us: int) -> None:
    session.command(
        _FILL_LATE_COSTS,
        {
            "models": list(cat.MODEL_NAMES),
            "input_prices": cat.INPUT_PRICE.tolist(),
            "output_prices": cat.OUTPUT_PRICE.tolist(),
            "node_type": "agent",
            "role": "assistant",
            "start": int(plan.day_start_us[0]),
            "fill_before": fill_before_us,
        },
    )
