{#- Averages and population stddevs over "every earlier run", computed in two parts: the
    runs before the range, summed per key in one GROUP BY, and the range's earlier runs, in a
    window over the range only. A window over the whole history instead sorts every earlier
    run again for each new day.

    The parts are added, so the sums are exact (decimals): a float sum depends on where the
    range starts, and a day must get the same figures alone or in a backfill. A value is
    clamped to +-1e12 first (a larger cost or duration is broken data) so that the sums of
    squares of 1e8 runs cannot overflow Decimal256 at 18 decimals. -#}
{%- macro exact(value) -%}
    toDecimal256(greatest(least(toFloat64({{ value }}), 1e12), -1e12), 18)
{%- endmacro -%}

{#- `name`_sum and `name`_square_sum of `value`, as aggregates (add `over` for a window). -#}
{%- macro moment_sums(value, name, over="") -%}
    sum({{ exact(value) }}) {{ over }} AS {{ name }}_sum,
    sum({{ exact(value) }} * {{ exact(value) }}) {{ over }} AS {{ name }}_square_sum
{%- endmacro -%}

{#- The columns moment_sums names for each of `names`, for an EXCEPT once they are read. -#}
{%- macro sum_columns(names) -%}
    {%- for name in names %}{{ name }}_sum, {{ name }}_square_sum{{ ", " if not loop.last }}{% endfor -%}
{%- endmacro -%}

{#- The sums of `name` over both parts: the range's (`range`) and the earlier runs' (`before`). -#}
{%- macro both_parts(name, range, before) -%}
    {{ range }}.{{ name }}_sum + {{ before }}.{{ name }}_sum AS {{ name }}_sum,
    {{ range }}.{{ name }}_square_sum + {{ before }}.{{ name }}_square_sum AS {{ name }}_square_sum
{%- endmacro -%}

{%- macro mean(name, runs) -%}
    toFloat64({{ name }}_sum) / {{ runs }}
{%- endmacro -%}

{#- sqrt(n * sum(x^2) - sum(x)^2) / n: exact up to the root, never negative. -#}
{%- macro stddev_pop(name, runs) -%}
    sqrt(toFloat64({{ runs }} * {{ name }}_square_sum - {{ name }}_sum * {{ name }}_sum))
        / {{ runs }}
{%- endmacro -%}
