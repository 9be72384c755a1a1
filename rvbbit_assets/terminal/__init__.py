"""What the command line shows people while it works: a progress line, and the progress of a
Dagster run read from its events (the full event stream stays in the Dagster instance)."""
