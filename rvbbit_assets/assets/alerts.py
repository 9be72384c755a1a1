"""alerts: the design's _check_for_alerts for every analysed run, stored once and delivered once.

Each run of a partition rewrites that day's `alerts` (REPLACE PARTITION, so a rerun or a
backfill never adds a second copy of an alert), then delivers what is due to the webhook:

1. holding the store, it reads each alert's delivery state (`alert_deliveries`, a table
   that day rewrites never touch) and claims the alerts to send by recording `sending`;
   alerts of runs that finished before the send window are recorded `not_sent_too_old`
   (a backfill of old history pages nobody);
2. without holding the store (webhooks can be slow), it POSTs the claimed alerts with
   retries and backoff (alert_delivery.py);
3. holding the store again, it records each one `sent` or `failed`.

An alert recorded `sent` is never sent again; `failed` ones are retried by a later run of
the day while still inside the window. A claim left `sending` by a run that stopped is
recorded `interrupted` and not resent (it may have gone out). Delivery failures are
recorded and logged, never raised: the pipeline does not fail because a webhook is down.
"""

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue

from rvbbit_assets.analysis.alert_rules import ALERT_RULES_SQL, ALERT_TYPES, alert_rule_params
from rvbbit_assets.assets.alert_delivery import Alert, DeliveryResult, DeliverySettings, deliver
from rvbbit_assets.assets.cascade_analytics import cascade_analytics
from rvbbit_assets.assets.groups import INSIGHTS_GROUP
from rvbbit_assets.assets.per_run import day_range, per_run_asset
from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.orchestration.day_range import DayRange, utc_now
from rvbbit_assets.store import ClickHouseStore, StoreSession
from rvbbit_assets.store.sql_files import load_sql
from rvbbit_assets.store.table_writes import replace_days

# A `sending` claim older than this belongs to a run that stopped mid-delivery.
CLAIM_TIMEOUT = timedelta(minutes=15)
# After this many alerts in a row fail (after their retries), the rest wait for a later run.
MAX_CONSECUTIVE_FAILURES = 2
FINAL_STATUSES = frozenset({"sent", "not_sent_too_old", "interrupted"})

DELIVERY_COLUMNS = (
    "session_id", "alert_type", "status", "attempts", "last_error", "destination",
    "updated_at", "version",
)


def _day_alerts_sql() -> str:
    analysed = (
        "SELECT * FROM ${analytics}.cascade_analytics"
        " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}"
    )
    return (
        f"WITH analysed AS ({analysed}),\n"
        f"raised AS ({ALERT_RULES_SQL})\n"
        f"{load_sql(__file__, 'alerts')}"
    )


def build_alerts(session: StoreSession, days: DayRange) -> dict[str, Any]:
    rows = replace_days(
        session, "alerts", _day_alerts_sql(),
        days.params() | alert_rule_params(session.settings), days,
    )
    counts = dict(
        session.rows(
            "SELECT alert_type, count() FROM ${analytics}.alerts"
            " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime} GROUP BY 1",
            days.params(),
        )
    )
    critical = session.scalar(
        "SELECT count() FROM ${analytics}.alerts WHERE severity = 'critical'"
        " AND created_at >= {start:DateTime} AND created_at < {end:DateTime}",
        days.params(),
    )
    return {
        "dagster/row_count": rows,
        "critical_alerts": int(critical or 0),
        **{f"alerts_{name}": int(counts.get(name, 0)) for name in ALERT_TYPES},
    }


_PENDING_SQL = """
SELECT
    a.session_id, a.alert_type, a.cascade_id, a.created_at, a.run_finished_at,
    a.severity, a.message, a.metric,
    d.status, d.attempts, d.updated_at, d.version
FROM ${analytics}.alerts AS a
LEFT JOIN
(
    SELECT session_id, alert_type, status, attempts, updated_at, version
    FROM ${analytics}.alert_deliveries FINAL
    WHERE (session_id, alert_type) IN
    (
        SELECT session_id, alert_type FROM ${analytics}.alerts
        WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
    )
) AS d ON d.session_id = a.session_id AND d.alert_type = a.alert_type
WHERE a.created_at >= {start:DateTime} AND a.created_at < {end:DateTime}
ORDER BY a.created_at, a.session_id, a.alert_type
"""


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


@dataclass
class _Versions:
    """Increasing versions (microseconds since the epoch) for alert_deliveries rows."""

    last: int = 0

    def next(self, after: int = 0) -> int:
        self.last = max(time.time_ns() // 1000, self.last + 1, after + 1)
        return self.last


@dataclass
class _Claim:
    alert: Alert
    previous_attempts: int
    claim_version: int


@dataclass
class DeliveryPlan:
    claims: list[_Claim] = field(default_factory=list)
    outcome: Counter = field(default_factory=Counter)


def _delivery_row(
    alert: Alert, status: str, attempts: int, error: str, destination: str, version: int
) -> tuple:
    return (
        alert.session_id, alert.alert_type, status, min(attempts, 255), error, destination,
        utc_now(), version,
    )


def plan_deliveries(
    session: StoreSession,
    days: DayRange,
    settings: DeliverySettings,
    versions: _Versions,
    now: datetime | None = None,
) -> DeliveryPlan:
    """Read the day's alerts with their delivery state; record what is decided now.

    Runs while holding the store, so the read and the `sending` claims are one step for
    every process sharing the embedded store (two runs of a day never both send).
    """
    now = now or utc_now()
    window_start = now - settings.send_window
    destination = settings.destination
    plan = DeliveryPlan()
    records: list[tuple] = []
    for (session_id, alert_type, cascade_id, created_at, finished_at, severity, message,
         metric, status, attempts, updated_at, version) in session.rows(_PENDING_SQL,
                                                                        days.params()):
        alert = Alert(session_id, alert_type, cascade_id, _naive_utc(created_at), severity,
                      message, float(metric))
        if status in FINAL_STATUSES:
            plan.outcome[f"already_{status}"] += 1
        elif status == "sending" and _naive_utc(updated_at) > now - CLAIM_TIMEOUT:
            plan.outcome["in_flight_elsewhere"] += 1
        elif status == "sending":
            records.append(_delivery_row(
                alert, "interrupted", attempts,
                "a run stopped while delivering this alert; not resent to avoid a duplicate",
                destination, versions.next(version)))
            plan.outcome["interrupted"] += 1
        elif _naive_utc(finished_at) < window_start:
            if status == "":
                records.append(_delivery_row(alert, "not_sent_too_old", 0, "", "",
                                             versions.next(version)))
            plan.outcome["not_sent_too_old"] += 1
        elif not settings.webhook_url:
            plan.outcome["not_sent_no_webhook"] += 1
        else:
            claim_version = versions.next(version)
            records.append(_delivery_row(alert, "sending", attempts, "", destination,
                                         claim_version))
            plan.claims.append(_Claim(alert, int(attempts or 0), claim_version))
    if records:
        session.insert_rows("alert_deliveries", records, DELIVERY_COLUMNS)
    return plan


def send_claimed(
    plan: DeliveryPlan,
    settings: DeliverySettings,
    versions: _Versions,
    log: Any = None,
) -> list[tuple]:
    """POST each claimed alert (without the store); return the delivery rows to record."""
    assert settings.webhook_url or not plan.claims
    destination = settings.destination
    records: list[tuple] = []
    failures_in_a_row = 0
    for claim in plan.claims:
        alert = claim.alert
        if failures_in_a_row >= MAX_CONSECUTIVE_FAILURES:
            result = DeliveryResult(
                False, 0, "not attempted: the webhook failed repeatedly earlier in this run"
            )
        else:
            result = deliver(settings.webhook_url or "", alert, settings)
            failures_in_a_row = 0 if result.sent else failures_in_a_row + 1
        status = "sent" if result.sent else "failed"
        plan.outcome[status] += 1
        if not result.sent and log is not None and result.attempts:
            log.warning(
                f"alert {alert.alert_type} of session {alert.session_id!r} not delivered to "
                f"{destination} after {result.attempts} attempts: {result.last_error}"
            )
        records.append(_delivery_row(
            alert, status, claim.previous_attempts + result.attempts, result.last_error,
            destination, versions.next(claim.claim_version)))
    return records


def deliver_alerts(
    store: ClickHouseStore,
    days: DayRange,
    purpose: str,
    settings: DeliverySettings | None = None,
    log: Any = None,
) -> Counter:
    """Plan, send and record the deliveries of the alerts of `days`; return the counts."""
    settings = settings or DeliverySettings.of(store.settings())
    versions = _Versions()
    with store.session(f"{purpose}: plan deliveries") as session:
        plan = plan_deliveries(session, days, settings, versions)
    if plan.claims:
        records = send_claimed(plan, settings, versions, log)
        with store.session(f"{purpose}: record deliveries") as session:
            session.insert_rows("alert_deliveries", records, DELIVERY_COLUMNS)
    return plan.outcome


@per_run_asset(
    also_writes=("alert_deliveries",),
    deps=[cascade_analytics, session_facts],  # session_facts: each run's finish time
    group_name=INSIGHTS_GROUP,
    description=(
        "The design's alerts for every analysed run (cost spike z > 3, regression, prediction "
        "miss > 150%, error outlier) and ours (robust cost anomaly, significant regression), "
        "stored once per (session_id, alert_type), delivered once "
        "to RVBBIT_ALERT_WEBHOOK_URL with retries; runs older than "
        "RVBBIT_ALERT_SEND_WINDOW_HOURS are recorded, not sent."
    ),
)
def alerts(context: AssetExecutionContext, store: ClickHouseStore) -> MaterializeResult:
    days = day_range(context)
    stage = f"alerts {days} (run {context.run.run_id[:8]})"
    settings = DeliverySettings.of(store.settings())
    with store.session(stage) as session:
        summary = build_alerts(session, days)
    outcome = deliver_alerts(store, days, stage, settings, context.log)
    delivery = {f"delivery_{name}": int(count) for name, count in sorted(outcome.items())}
    context.log.info(f"{stage}: {summary} {delivery} webhook={settings.destination or 'unset'}")
    return MaterializeResult(
        metadata={
            "days": MetadataValue.text(str(days)),
            "webhook": MetadataValue.text(settings.destination or "not configured"),
            **summary,
            **delivery,
        }
    )
