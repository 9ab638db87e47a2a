#!/usr/bin/env bash
# The main job end to end on the embedded defaults: `make demo` runs this with its exported
# settings (./lake, the SQLite catalog ./lakehouse.sqlite, the local broker). It starts from an
# empty lake and lakehouse each time (the broker keeps topics in memory, so old checkpoints
# would not match), and stops the broker on any exit, failure or Ctrl-C included.
#
#   BIN          the virtualenv's bin folder (default .venv/bin)
#   DEMO_EVENTS  valid events to generate (default 1000000)
#   DEMO_DAYS    days they spread over (default 14)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.venv/bin}
DEMO_EVENTS=${DEMO_EVENTS:-1000000}
DEMO_DAYS=${DEMO_DAYS:-14}
eventlake=$BIN/eventlake
dbt=$BIN/dbt

# Each command is printed before it runs, as make prints a recipe's lines.
run() {
    echo "$*"
    "$@"
}

rm -rf lake lakehouse.sqlite* online.sqlite* fraud.sqlite*
run "$eventlake" broker start
trap 'echo "$eventlake broker stop"; "$eventlake" broker stop' EXIT

run "$eventlake" generate --events "$DEMO_EVENTS" --days "$DEMO_DAYS"
run "$BIN/python" scripts/demo_fraud_burst.py
echo "--- the lake loader and the two streaming consumers read the same topic"
run "$eventlake" load --once
run "$eventlake" stream online --once
run "$eventlake" stream fraud --once
run "$dbt" build --profiles-dir . --project-dir .
run "$eventlake" features materialize
run "$eventlake" summary
echo "--- fraud store: the newest flags"
run "$eventlake" fraud flags --limit 5
echo "--- analysts: eventlake sql, read-only on the published build"
run "$eventlake" sql -c "select event_date, sum(events) as events, sum(revenue) as revenue
    from agg_events_daily group by 1 order by 1 desc limit 3"
echo "--- online store, then erasure: the most active user of the last day"
user=$("$eventlake" sql --format csv -c \
    "select user_id from dim_user_features order by events_1d desc, user_id limit 1" \
    | tail -n +2)
run "$eventlake" features get --user-id "$user"
run "$eventlake" erase --request-id demo-erasure-1 --user-id "$user"
run "$eventlake" stream online --once
run "$eventlake" stream fraud --once
run "$eventlake" erasure process
run "$eventlake" erasure status
echo "$eventlake features get --user-id $user"
if "$eventlake" features get --user-id "$user"; then
    echo "error: the erased user's features are still served" >&2
    exit 1
fi
