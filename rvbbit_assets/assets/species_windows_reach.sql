-- The runs that a range's regression windows can reach, as a condition on `history`: the
-- range's runs, and for each species with runs in the range, its latest {species_runs}
-- earlier runs (at least 20, the reach of the design's windows), in the windows'
-- (created_at, session_id) order. An older run is in no window, so leaving it out changes no
-- row, and a new day sorts a few hundred runs per species instead of its whole history.
-- Read from session_facts: each earlier run there is in `history`, with its priced and
-- anomaly rows, since earlier days are analysed first (history.py).
created_at >= {start:DateTime}
OR session_id IN
(
    SELECT session_id
    FROM ${analytics}.session_facts
    WHERE created_at < {start:DateTime}
      AND species_hash_primary IN
          (SELECT species_hash_primary
           FROM ${analytics}.session_facts
           WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime})
    ORDER BY created_at DESC, session_id DESC
    LIMIT greatest({species_runs:UInt32}, 20) BY species_hash_primary
)
