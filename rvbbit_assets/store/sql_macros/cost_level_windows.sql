{#- How many earlier runs a run's cost level is read from: the cascade's last
    `cascade_window_runs` and the last `input_window_runs` with its input. One definition for
    the model's features (assets/cost_features.sql) and a pre-run estimate's
    (serving/reads/prerun_features.sql), which the same model predicts from. -#}
{%- set cascade_window_runs = 50 -%}
{%- set input_window_runs = 10 -%}
