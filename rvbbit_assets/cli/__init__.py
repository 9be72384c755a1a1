"""The `rvbbit-analytics` command: its commands, the headless `materialize` run and what it
prints, and `make run`'s local stack."""
