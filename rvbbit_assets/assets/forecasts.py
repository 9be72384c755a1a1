"""forecasts: daily cost per cascade and in total ('*') for the 7 days after the data.

The model (weekday factors, a shrunk linear level, prediction intervals, the rolling-origin
backtest) is rvbbit_assets/analysis/forecasting.py; this asset reads the daily costs, fits
every active series, writes `forecasts`, `forecast_weekly` and `forecast_backtest`, and
describes them in its metadata.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
)

from rvbbit_assets.analysis.forecasting import (
    BACKTEST_FOLDS,
    COVERAGE,
    FORECAST_COLUMNS,
    HISTORY_DAYS,
    HORIZON_DAYS,
    MIN_BACKTEST_HISTORY_DAYS,
    TOTAL,
    TREND_P_VALUE,
    backtest_series,
    daily_series,
    fit_window,
    forecast_window,
    plus_minus_text,
    projection_sentence,
    usd,
)
from rvbbit_assets.assets.groups import MODELS_GROUP
from rvbbit_assets.assets.store_asset import store_asset
from rvbbit_assets.orchestration.day_range import utc_now
from rvbbit_assets.store import ClickHouseStore, StoreSession
from rvbbit_assets.store.column_schemas import table_metadata
from rvbbit_assets.store.daily_costs import daily_costs
from rvbbit_assets.store.table_writes import replace_table

CHART_BAR_WIDTH = 30


def last_complete_day(session: StoreSession, today: date | None = None) -> date | None:
    """The forecast origin: the last UTC day with analysed runs, or yesterday if that is today
    or later (a day still running is not complete). None without any runs."""
    runs, last_day = session.rows(
        "SELECT count(), toDate(max(created_at)) FROM ${analytics}.cascade_analytics"
    )[0]
    if runs == 0:
        return None
    yesterday = (today or utc_now().date()) - timedelta(days=1)
    return min(last_day, yesterday)


# ---------------------------------------------------------------------------------------
# The whole computation


@dataclass(frozen=True)
class ForecastTables:
    history_end: date | None
    forecasts: pd.DataFrame
    weekly: pd.DataFrame
    backtest: pd.DataFrame


def compute_forecasts(
    session: StoreSession, generated_at: datetime, today: date | None = None
) -> ForecastTables:
    """Forecast, weekly projection and backtest rows of every series active in the last
    HISTORY_DAYS days (a cascade silent for longer gets none) and of the total."""
    history_end = last_complete_day(session, today)
    empty = ForecastTables(history_end, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    if history_end is None:
        return empty
    history_start = history_end - timedelta(
        days=HISTORY_DAYS - 1 + HORIZON_DAYS * BACKTEST_FOLDS
    )
    costs = daily_costs(session, history_start, history_end)
    series_by_id = daily_series(costs, history_end)
    window_start = history_end - timedelta(days=HISTORY_DAYS - 1)
    last_run_day = costs.groupby("cascade_id")["day"].max() if len(costs) else pd.Series()
    active = {TOTAL} | {
        cascade_id for cascade_id, day in last_run_day.items()
        if pd.Timestamp(day).date() >= window_start
    }
    forecast_rows_out: list[dict[str, Any]] = []
    weekly_rows: list[dict[str, Any]] = []
    backtest_rows: list[dict[str, Any]] = []
    horizon = [history_end + timedelta(days=ahead) for ahead in range(1, HORIZON_DAYS + 1)]
    for cascade_id, series in series_by_id.items():
        if cascade_id not in active:
            continue
        window = fit_window(series, history_end)
        forecast = forecast_window(window)
        for day, predicted, lower, upper in zip(
            horizon, forecast.predicted, forecast.lower, forecast.upper, strict=True
        ):
            forecast_rows_out.append(
                {
                    "cascade_id": cascade_id,
                    "day": day,
                    "predicted_cost": float(predicted),
                    "lower_bound": float(lower),
                    "upper_bound": float(upper),
                    "trend": forecast.trend,
                    "trend_significant": forecast.trend_significant,
                    "confidence": forecast.confidence,
                    "r_squared": forecast.r_squared,
                    "history_start": window.index[0],
                    "history_end": history_end,
                    "generated_at": generated_at,
                }
            )
        weekly_rows.append(
            {
                "cascade_id": cascade_id,
                "first_day": horizon[0],
                "last_day": horizon[-1],
                "projected_cost": forecast.weekly_total,
                "plus_minus": forecast.weekly_plus_minus,
                "coverage": COVERAGE,
                "generated_at": generated_at,
            }
        )
        measured = backtest_series(series, history_end)
        if measured is not None:
            backtest_rows.append(
                {"cascade_id": cascade_id, **measured, "generated_at": generated_at}
            )
    return ForecastTables(
        history_end,
        pd.DataFrame(forecast_rows_out, columns=list(FORECAST_COLUMNS)),
        pd.DataFrame(weekly_rows),
        pd.DataFrame(backtest_rows),
    )


# ---------------------------------------------------------------------------------------
# Metadata


def projection_markdown(tables: ForecastTables) -> str:
    """Per series: the 7-day projection with its ±, trends and R²; the total first."""
    daily = tables.forecasts.drop_duplicates("cascade_id").set_index("cascade_id")
    return pd.DataFrame(
        {
            "cascade": tables.weekly["cascade_id"],
            "projected weekly cost": [
                plus_minus_text(p, m)
                for p, m in zip(
                    tables.weekly["projected_cost"], tables.weekly["plus_minus"], strict=True
                )
            ],
            "trend (design)": tables.weekly["cascade_id"].map(daily["trend"]),
            "confidence (R² of the line)": tables.weekly["cascade_id"].map(
                daily["confidence"]).map("{:.2f}".format),
            "significant trend": tables.weekly["cascade_id"].map(daily["trend_significant"]),
            "model R²": tables.weekly["cascade_id"].map(daily["r_squared"]).map("{:.2f}".format),
        }
    ).to_markdown(index=False)


def backtest_markdown(backtest: pd.DataFrame) -> str:
    """Per series: our MAE against the naive forecast's, and how often the intervals held."""
    return pd.DataFrame(
        {
            "cascade": backtest["cascade_id"],
            "folds": backtest["folds"],
            "mean daily cost": backtest["mean_daily_cost"].map(usd),
            "MAE": backtest["mae"].map(usd),
            "naive MAE": backtest["naive_mae"].map(usd),
            "MAE vs naive": [
                f"{mae / naive - 1:+.0%}" if naive > 0 else "n/a"
                for mae, naive in zip(backtest["mae"], backtest["naive_mae"], strict=True)
            ],
            f"days in {COVERAGE:.0%} interval": backtest["interval_coverage"].map("{:.0%}".format),
            "weeks in ±": backtest["weekly_interval_coverage"].map("{:.0%}".format),
        }
    ).to_markdown(index=False)


def chart_markdown(forecasts: pd.DataFrame, cascade_id: str = TOTAL) -> str:
    """The forecast of one series as a table with text bars (matplotlib is not a dependency):
    '█' up to the prediction, '░' on to the upper bound."""
    rows = forecasts[forecasts["cascade_id"] == cascade_id]
    scale = CHART_BAR_WIDTH / max(float(rows["upper_bound"].max()), 1e-12)
    return pd.DataFrame(
        {
            "day": [f"{d} {d:%a}" for d in rows["day"]],
            "predicted": rows["predicted_cost"].map(usd),
            f"{COVERAGE:.0%} interval": [
                f"{usd(lo, like=hi)} – {usd(hi)}"
                for lo, hi in zip(rows["lower_bound"], rows["upper_bound"], strict=True)
            ],
            "": [
                "█" * round(p * scale) + "░" * (round(hi * scale) - round(p * scale))
                for p, hi in zip(rows["predicted_cost"], rows["upper_bound"], strict=True)
            ],
        }
    ).to_markdown(index=False)


def forecast_metadata(tables: ForecastTables, rows: int) -> dict[str, Any]:
    metadata: dict[str, Any] = {"dagster/row_count": rows}
    if tables.forecasts.empty:
        metadata["note"] = MetadataValue.text(
            "No complete day of analysed runs in cascade_analytics: nothing to forecast."
        )
        return metadata
    total = tables.weekly[tables.weekly["cascade_id"] == TOTAL].iloc[0]
    metadata |= {
        "history_end": MetadataValue.text(str(tables.history_end)),
        "projection": MetadataValue.text(
            f"{projection_sentence(total['projected_cost'], total['plus_minus'])} "
            f"({COVERAGE:.0%} interval, {total['first_day']} .. {total['last_day']})"
        ),
        "projected_weekly_cost_usd": float(total["projected_cost"]),
        "projected_weekly_cost_plus_minus_usd": float(total["plus_minus"]),
        "weekly_projections": MetadataValue.md(projection_markdown(tables)),
        "forecast_total": MetadataValue.md(chart_markdown(tables.forecasts)),
    }
    if tables.backtest.empty:
        metadata["backtest"] = MetadataValue.text(
            f"Too little history: a backtest fold needs {MIN_BACKTEST_HISTORY_DAYS} days "
            "before its origin."
        )
        return metadata
    backtest = tables.backtest
    total_backtest = backtest[backtest["cascade_id"] == TOTAL]
    held_out = backtest["held_out_days"]
    metadata |= {
        "backtest": MetadataValue.md(backtest_markdown(backtest)),
        # Pooled over every series, weighted by held-out days.
        "backtest_interval_coverage": float(
            (backtest["interval_coverage"] * held_out).sum() / held_out.sum()
        ),
        "backtest_coverage_target": COVERAGE,
    }
    if len(total_backtest):
        metadata["backtest_total_mae_usd"] = float(total_backtest["mae"].iloc[0])
        metadata["backtest_total_naive_mae_usd"] = float(total_backtest["naive_mae"].iloc[0])
    return metadata


# ---------------------------------------------------------------------------------------
# The asset


@store_asset(
    key="forecasts",
    group_name=MODELS_GROUP,
    metadata=table_metadata("forecasts", also_writes=("forecast_weekly", "forecast_backtest")),
    kinds={"clickhouse", "scipy"},
    deps=["cascade_analytics"],
    description=(
        f"Daily cost per cascade and in total ('*') for the {HORIZON_DAYS} days after the last "
        f"complete day of analysed runs: the design's linear trend over the last "
        f"{HISTORY_DAYS} days (shrunk toward flat by its evidence) on weekday-deseasonalised "
        "costs, days without runs as zero; the design's trend label (sign of its line's "
        "slope, confidence = R²) and ours (trend_significant: increasing/decreasing when "
        f"significant at p < {TREND_P_VALUE}); with "
        f"{COVERAGE:.0%} prediction intervals and the projected weekly total ± "
        "(forecast_weekly). A rolling-origin backtest against the naive 'same day last "
        "week' forecast lands in forecast_backtest."
    ),
)
def forecasts(context: AssetExecutionContext, store: ClickHouseStore) -> MaterializeResult:
    generated_at = utc_now().replace(microsecond=0)
    with store.session("forecasts") as session:
        tables = compute_forecasts(session, generated_at)
        rows = replace_table(session, "forecasts", tables.forecasts)
        replace_table(session, "forecast_weekly", tables.weekly)
        replace_table(session, "forecast_backtest", tables.backtest)
    metadata = forecast_metadata(tables, rows)
    projection = metadata.get("projection")
    context.log.info(
        f"forecasts: {rows} rows after {tables.history_end}; "
        f"{projection.value if isinstance(projection, MetadataValue) else 'no projection'}"
    )
    return MaterializeResult(metadata=metadata)
