"""Right to erasure: a request on its own topic reaches every store that holds the person.

    erasure-requests topic -> intake (control.erasure_requests, suppression list)
      -> lake rewrite (every Parquet file holding the subject, rewritten once per pass)
      -> dbt run-operation erase_subjects (every model, snapshot and seed with meta.subject_key)
      -> dbt build (rollups recompute the affected dates)
      -> warehouse storage rewritten (deleted rows leave the DuckDB file)
      -> control.erasure_confirmations: one row per store and object; `eventlake erasure audit`.

Raw user ids live only in memory during a pass; tables and logs hold the keyed subject hash.
"""
