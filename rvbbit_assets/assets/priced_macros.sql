{#- Fragments of priced_runs.sql shared with the day states it reads (priced_day_models.sql,
    priced_day_cells.sql). -#}
{%- macro run_calls(runs) -%}
    {#- The LLM calls (session_facts.llm_usage) of the runs passing `runs`, a condition on
        session_facts' columns: one row per (run, cell, model). -#}
    SELECT
        session_id,
        cascade_id,
        created_at,
        toDate(created_at) AS day,
        call.1 AS cell_name,
        call.2 AS model,
        toFloat64(call.3) AS calls,
        toFloat64(call.4) AS tokens_in,
        toFloat64(call.5) AS tokens_out,
        call.6 AS cost
    FROM ${analytics}.session_facts
    ARRAY JOIN llm_usage AS call
    WHERE {{ runs }}
{%- endmacro -%}
