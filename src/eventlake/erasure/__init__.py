"""Right to erasure: a request on its own topic reaches every store that holds the person.

    erasure-requests topic -> intake (control.erasure_requests, suppression list)
      -> lake rewrite (every raw lake file holding the subject, rewritten once per pass)
      -> dbt run-operation erase_subjects (DuckLake deletes in every model, snapshot and seed
         with meta.subject_key; readers' views re-published)
      -> dbt build (rollups recompute the affected dates)
      -> lakehouse purge (files with deleted rows rewritten, older snapshots expired, old
         files deleted: the rows leave the disk)
      -> control.erasure_confirmations: one row per store and object; `eventlake erasure audit`.

Raw user ids live only in memory during a pass; tables and logs hold the keyed subject hash.
"""
