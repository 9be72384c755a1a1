"""The forecasting model: daily cost per series for the 7 days after its history.

Pure numpy/scipy/pandas, no Dagster and no store: the forecasts asset fits it, the API
and the page read what it stored and word it the same way (projection_sentence).

The design's forecast is a straight line (scipy `linregress`) through the last 30 daily
costs. Daily LLM spend needs three more things, all kept here:

- Days without runs cost zero: the calendar is filled before fitting, so a cascade that runs
  on Mondays only is not forecast to spend its Monday cost every day.
- Weekday seasonality, as multiplicative weekday factors (a weekday's cost relative to the
  fitted level on its days; the seven average 1), estimated from the fitted window itself.
  Multiplicative because spend is volume times price: a quiet weekend stays the same share
  of a growing weekday load. The line is fitted to the deseasonalised costs (cost / factor
  of its weekday) and multiplied back.
- Prediction intervals from the residual spread and the t distribution, at COVERAGE, with
  the noise in proportion to the level (as the weekday factors already assume), and a ±
  for the 7-day total that allows for errors persisting from day to day.

The forecast's level: linregress on the deseasonalised costs, its slope shrunk toward flat by
the evidence for it (fit_level). Chosen on the rolling-origin backtest (backtest_series) of
three demo loads of 60-90 days (seeds 5, 7, 11), as generated (no trend) and with a planted
growth; per-series MAE over the naive "same day last week" MAE, mean over the series and
loads, lower is better:
                                                   as generated   +1%/day   +2%/day
    design's line alone (no weekday pattern)           1.38
    line + additive weekday dummies (OLS)              0.87
    line + multiplicative weekday factors              0.87          0.86      0.84
    factors + line only if significant (p < 0.05)      0.82          0.87      0.85
    factors + flat level, never a line                 0.79          0.90      1.02
    factors + line shrunk by its evidence (chosen)     0.81          0.85      0.84
Multiplicative factors are as accurate as dummies here, never forecast a negative weekend,
and scale the interval with the weekday (a quiet Sunday gets a narrow one). Extrapolating a
noise slope costs accuracy when there is no trend, dropping a real one costs more when
there is: the shrunk slope is never more than 0.03 from the best of these. Held-out days
inside the 80% intervals: 80-83% per load as generated, 75-78% with growth (a weak trend
is shrunk, so its forecast lags); the full line would hold 80% there but loses 0.06 of MAE
on the loads without a trend.

The `trend` label and its `confidence` are the design's (design_trend): the sign of the
slope of the straight line through the fitted daily costs, and that line's R². Ours,
`trend_significant`, is 'flat' unless the deseasonalised slope is significant.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

TOTAL = "*"  # cascade_id of the series of all cascades together
HORIZON_DAYS = 7
HISTORY_DAYS = 30  # the design's fitting window
COVERAGE = 0.80  # nominal coverage of the daily intervals and of the weekly ±
TREND_P_VALUE = 0.05  # for trend_significant: 'flat' unless the slope is significant
SLOPE_SHRINKAGE = 2.0  # how strongly a slope is pulled toward flat (see fit_level)
# Fewer days cannot separate a trend from the weekday pattern and noise: forecast the level.
MIN_DAYS_FOR_TREND = 7
# Each weekday factor needs at least two days of that weekday behind it.
MIN_DAYS_FOR_WEEKDAYS = 14
BACKTEST_FOLDS = 8  # weekly origins looked back over
MIN_BACKTEST_HISTORY_DAYS = 14  # before an origin: the naive forecast needs a week of it

FORECAST_COLUMNS = (
    "cascade_id",
    "day",
    "predicted_cost",
    "lower_bound",
    "upper_bound",
    "trend",
    "trend_significant",
    "confidence",
    "r_squared",
    "history_start",
    "history_end",
    "generated_at",
)


@dataclass(frozen=True)
class SeriesForecast:
    """The forecast of one daily cost series for the days after its last day."""

    predicted: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    trend: str  # the design's: increasing | decreasing (sign of its slope) | flat (none)
    trend_significant: str  # increasing | decreasing (significant slope) | flat
    confidence: float  # the design's: R² of its straight line
    r_squared: float  # in-sample fit of the whole model
    weekly_total: float  # sum of `predicted` over the horizon
    weekly_plus_minus: float  # half-width of the COVERAGE interval of that sum


@dataclass(frozen=True)
class LevelFit:
    """The deseasonalised daily cost as a function of the day index: a line, or flat."""

    intercept: float
    slope: float  # the fitted slope shrunk toward 0 (see fit_level); 0.0 means flat
    significant: bool  # linregress found the unshrunk slope significant (p < TREND_P_VALUE)

    def at(self, day_index: np.ndarray) -> np.ndarray:
        return self.intercept + self.slope * day_index


def _scipy_stats() -> Any:
    """scipy.stats, imported on first use rather than with this module: 0.8 s that the
    processes importing forecasting for its constants (the page, the UI) never use."""
    from scipy import stats

    return stats


def fit_level(day_index: np.ndarray, values: np.ndarray) -> LevelFit:
    """The design's linregress line through `values`, its slope shrunk toward flat by the
    evidence for it: slope * max(0, 1 - SLOPE_SHRINKAGE / t²), t = slope / its std error.

    A clear trend (t = 5) keeps 92% of its slope, a weak one (t = 1.6) 22%, noise (|t| <=
    1.4) none; the line still passes through the centre of the data. Fewer than
    MIN_DAYS_FOR_TREND days give the mean.
    """
    flat = LevelFit(float(values.mean()), 0.0, significant=False)
    # A spread at rounding level is a constant series: linregress would find a "slope".
    if len(values) < MIN_DAYS_FOR_TREND or np.ptp(values) <= 1e-9 * np.abs(values).max():
        return flat
    line = _scipy_stats().linregress(day_index, values)
    if not math.isfinite(line.slope) or line.slope == 0:
        return flat
    t_squared = (line.slope / line.stderr) ** 2 if line.stderr > 0 else math.inf
    slope = float(line.slope) * max(0.0, 1.0 - SLOPE_SHRINKAGE / t_squared)
    return LevelFit(
        intercept=float(values.mean() - slope * day_index.mean()),
        slope=slope,
        significant=bool(line.pvalue < TREND_P_VALUE),
    )


def design_trend(costs: np.ndarray) -> tuple[str, float]:
    """The design's trend of daily `costs`: 'increasing' or 'decreasing' by the sign of the
    slope of the least-squares line (scipy linregress, as the design), and its confidence, the
    line's R². 'flat' with confidence 0 only when there is no slope at all: a single day or a
    constant series (the design would call that 'decreasing')."""
    if len(costs) < 2 or np.ptp(costs) <= 1e-9 * np.abs(costs).max():
        return "flat", 0.0
    line = _scipy_stats().linregress(np.arange(len(costs)), costs)
    if line.slope == 0:
        return "flat", 0.0
    return ("increasing" if line.slope > 0 else "decreasing"), float(line.rvalue**2)


def weekday_factors(costs: np.ndarray, weekdays: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Each weekday's cost relative to the level model on its days (sum over sum), scaled so
    the seven factors average 1.

    Relative to the level model rather than to the overall mean, because a trend would
    otherwise leak into the factors: a 30-day window holds five of two weekdays and four of
    the others, and within each week the later weekdays lie later on the line. A weekday
    that never cost anything gets factor 0; an all-zero series has no pattern (all 1).
    """
    if (level <= 0).any():  # a falling line that reaches zero inside the window
        level = np.full(len(costs), costs.mean())
    ratios = np.array(
        [costs[weekdays == weekday].sum() / level[weekdays == weekday].sum()
         if (weekdays == weekday).any() and level[weekdays == weekday].sum() > 0 else 0.0
         for weekday in range(7)]
    )
    present = [weekday for weekday in range(7) if (weekdays == weekday).any()]
    mean_ratio = ratios[present].mean() if present else 0.0
    return ratios / mean_ratio if mean_ratio > 0 else np.ones(7)


def forecast_series(
    costs: Sequence[float] | np.ndarray,
    first_weekday: int,
    horizon: int = HORIZON_DAYS,
    coverage: float = COVERAGE,
) -> SeriesForecast:
    """Forecast the `horizon` days after consecutive daily `costs` (zeros included).

    `first_weekday` is the weekday of `costs[0]` (Monday 0). One day or a constant series
    gives a flat forecast with a zero-width interval (there is no spread to measure).
    """
    history = np.asarray(costs, dtype=float)
    days = len(history)
    if days == 0:
        raise ValueError("a forecast needs at least one day of history")
    day_index = np.arange(days)
    weekdays = (first_weekday + day_index) % 7
    future_index = np.arange(days, days + horizon)
    future_weekdays = (first_weekday + future_index) % 7

    # Start from the design's line on the raw costs; with enough days, alternate weekday
    # factors relative to the level model and the level model on the deseasonalised costs.
    # Two rounds suffice: the first factors are tilted only by the trend the raw line missed.
    seasonal = days >= MIN_DAYS_FOR_WEEKDAYS and history.sum() > 0
    factors = np.ones(7)
    fitted_days = np.ones(days, dtype=bool)
    level = fit_level(day_index, history)
    for _ in range(2 if seasonal else 0):
        factors = weekday_factors(history, weekdays, level.at(day_index))
        # Weekdays with factor 0 never cost anything: forecast exactly 0, fit the others.
        fitted_days = factors[weekdays] > 0
        level = fit_level(
            day_index[fitted_days], history[fitted_days] / factors[weekdays[fitted_days]]
        )
    level_days = day_index[fitted_days]
    deseasonalised = history[fitted_days] / factors[weekdays[fitted_days]]
    fitted_count = len(deseasonalised)
    factor_parameters = int((factors > 0).sum()) - 1 if seasonal else 0
    has_trend = level.slope != 0.0
    mean_index = float(level_days.mean())
    index_spread = float(((level_days - mean_index) ** 2).sum())

    # Noise in proportion to the level, as across weekdays (the factors scale it there): with
    # a trend, residuals are measured relative to the fitted level and each future day's
    # spread follows its level. Flat (or a line that reaches zero in the window), the scale
    # is constant and `spread` is the plain residual standard error.
    level_fitted = level.at(level_days)
    proportional = has_trend and level_fitted.min() > 0
    mean_level = float(level_fitted.mean()) if proportional else 1.0
    fitted_scale = level_fitted / mean_level if proportional else np.ones(fitted_count)
    future_scale = (
        np.maximum(level.at(future_index), 0.0) / mean_level if proportional
        else np.ones(horizon)
    )
    residuals = (deseasonalised - level_fitted) / fitted_scale
    residual_sum = float((residuals**2).sum())
    freedom = fitted_count - (2 if has_trend else 1) - factor_parameters
    spread = math.sqrt(residual_sum / freedom) if freedom > 0 else 0.0
    t_quantile = float(_scipy_stats().t.ppf(0.5 + coverage / 2, freedom)) if freedom > 0 else 0.0

    future_factors = factors[future_weekdays]
    future_noise = future_factors * future_scale  # each future day's noise, in `spread`s
    predicted_raw = future_factors * level.at(future_index)
    # Leverage of the estimated level: a weekday's own days estimate its factor times the
    # level, so 1/(days of that weekday) rather than 1/(all days); plus the slope's share.
    weekday_counts = np.bincount(weekdays[fitted_days], minlength=7)
    level_leverage = (
        1.0 / np.maximum(weekday_counts[future_weekdays], 1) if seasonal
        else np.full(horizon, 1.0 / fitted_count)
    )
    slope_leverage = (
        (future_index - mean_index) ** 2 / index_spread if has_trend else np.zeros(horizon)
    )
    half_width = t_quantile * spread * np.sqrt(
        future_noise**2 + future_factors**2 * (level_leverage + slope_leverage)
    )

    # The 7-day total: daily noise plus the level (and slope) error that all seven days
    # share. Spend deviations persist for days (a busy spell, a pricier prompt), so both
    # parts take the lag-1 autocorrelation of the residuals into account (AR(1): noise
    # covariance rho^|i-j|, effective sample size n(1-rho)/(1+rho)): with independent errors
    # the demo loads' 7-day totals fell inside the 80% ± in 71-74% of the weeks, with this
    # in 77-93%. The factors of a full week sum to 7 whatever their estimates, so their own
    # error mostly cancels in the total and is left out.
    autocorrelation = (
        float(np.clip((residuals[1:] * residuals[:-1]).sum() / residual_sum, 0.0, 0.9))
        if fitted_count > 2 and residual_sum > 0 else 0.0
    )
    lags = np.abs(np.subtract.outer(np.arange(horizon), np.arange(horizon)))
    noise = float(future_noise @ (autocorrelation**lags) @ future_noise)
    effective_days = fitted_count * (1 - autocorrelation) / (1 + autocorrelation)
    shared = future_factors.sum() ** 2 / effective_days
    if has_trend:
        shared += (future_factors * (future_index - mean_index)).sum() ** 2 / index_spread
    weekly_plus_minus = t_quantile * spread * math.sqrt(noise + shared)

    all_fitted = factors[weekdays] * level.at(day_index)
    total_variation = float(((history - history.mean()) ** 2).sum())
    # In-sample R² of the whole model (weekday factors and level/line) on the daily costs;
    # no variation to explain counts as 0. Not an OLS fit, so it can dip below 0: clip.
    r_squared = (
        max(0.0, 1.0 - float(((history - all_fitted) ** 2).sum()) / total_variation)
        if total_variation > 0 else 0.0
    )
    predicted = np.maximum(predicted_raw, 0.0)  # spend cannot be negative
    trend, confidence = design_trend(history)
    return SeriesForecast(
        predicted=predicted,
        lower=np.maximum(predicted_raw - half_width, 0.0),
        upper=np.maximum(predicted_raw + half_width, 0.0),
        trend=trend,
        trend_significant=(
            "flat" if not level.significant
            else "increasing" if level.slope > 0 else "decreasing"
        ),
        confidence=confidence,
        r_squared=r_squared,
        weekly_total=float(predicted.sum()),
        weekly_plus_minus=float(weekly_plus_minus),
    )


# ---------------------------------------------------------------------------------------
# The daily series, calendar-filled


def daily_series(frame: pd.DataFrame, last_day: date) -> dict[str, pd.Series]:
    """Each cascade's daily costs from its first day in `frame` to `last_day`, and the total
    from the first day of any, with the days without runs as 0. Indexed by date."""
    if frame.empty:
        return {}
    frame = frame.assign(day=pd.to_datetime(frame["day"]).dt.date)
    table = frame.pivot_table(index="day", columns="cascade_id", values="cost", aggfunc="sum")
    calendar = [
        table.index.min() + timedelta(days=offset)
        for offset in range((last_day - table.index.min()).days + 1)
    ]
    table = table.reindex(calendar)
    series = {TOTAL: table.fillna(0.0).sum(axis=1)}
    for cascade_id in sorted(table.columns):
        column = table[cascade_id]
        # Before a cascade's first run it did not exist: no zeros there, they fake a trend.
        series[cascade_id] = column.loc[column.first_valid_index():].fillna(0.0)
    return series


def fit_window(series: pd.Series, origin: date) -> pd.Series:
    """The last HISTORY_DAYS days of `series` up to and including `origin`."""
    window_start = origin - timedelta(days=HISTORY_DAYS - 1)
    return series.loc[[d for d in series.index if window_start <= d <= origin]]


def forecast_window(window: pd.Series) -> SeriesForecast:
    first_day: date = window.index[0]
    return forecast_series(window.to_numpy(dtype=float), first_day.weekday())


# ---------------------------------------------------------------------------------------
# Backtest


def backtest_series(series: pd.Series, last_day: date) -> dict[str, Any] | None:
    """Rolling origins at last_day - 7k: fit on the 30 days up to each, score the 7 after.

    None when no origin has MIN_BACKTEST_HISTORY_DAYS of history behind it.
    """
    first_day: date = series.index[0]
    absolute_errors: list[np.ndarray] = []
    naive_errors: list[np.ndarray] = []
    covered: list[np.ndarray] = []
    weekly_covered: list[bool] = []
    actual_costs: list[np.ndarray] = []
    origins: list[date] = []
    for fold in range(1, BACKTEST_FOLDS + 1):
        origin = last_day - timedelta(days=HORIZON_DAYS * fold)
        if (origin - first_day).days + 1 < MIN_BACKTEST_HISTORY_DAYS:
            break
        forecast = forecast_window(fit_window(series, origin))
        actual = series.loc[
            [origin + timedelta(days=ahead) for ahead in range(1, HORIZON_DAYS + 1)]
        ].to_numpy(dtype=float)
        same_day_last_week = series.loc[
            [origin - timedelta(days=back) for back in range(HORIZON_DAYS - 1, -1, -1)]
        ].to_numpy(dtype=float)
        absolute_errors.append(np.abs(actual - forecast.predicted))
        naive_errors.append(np.abs(actual - same_day_last_week))
        covered.append((actual >= forecast.lower) & (actual <= forecast.upper))
        weekly_covered.append(
            abs(actual.sum() - forecast.weekly_total) <= forecast.weekly_plus_minus
        )
        actual_costs.append(actual)
        origins.append(origin)
    if not origins:
        return None
    return {
        "folds": len(origins),
        "held_out_days": len(origins) * HORIZON_DAYS,
        "first_origin": min(origins),
        "last_origin": max(origins),
        "mean_daily_cost": float(np.concatenate(actual_costs).mean()),
        "mae": float(np.concatenate(absolute_errors).mean()),
        "naive_mae": float(np.concatenate(naive_errors).mean()),
        "interval_coverage": float(np.concatenate(covered).mean()),
        "weekly_interval_coverage": float(np.mean(weekly_covered)),
        "coverage_target": COVERAGE,
    }


# ---------------------------------------------------------------------------------------
# The design's wording


def usd(amount: float, like: float | None = None) -> str:
    """Dollars with cents, or with four decimals for sub-dollar amounts (the spend of small
    cascades); `like` picks the precision from another amount, to print a ± like its value."""
    reference = amount if like is None else like
    return f"${amount:,.2f}" if abs(reference) >= 1 else f"${amount:,.4f}"


def plus_minus_text(projected: float, plus_minus: float) -> str:
    return f"{usd(projected)} ± {usd(plus_minus, like=projected)}"


def projection_sentence(projected: float, plus_minus: float) -> str:
    """'Projected weekly cost: $12.50 ± $2.30', the design's wording."""
    return f"Projected weekly cost: {plus_minus_text(projected, plus_minus)}"
