#!/bin/sh
# promtool, for the alert rules' unit tests (tests/ops/test_alerts_and_dashboard.py): Debian's
# prometheus package (2.42) when it is not on PATH yet. Idempotent. The package's server is
# never left running: a policy-rc.d forbids service starts during the install, and a server
# systemd started anyway is stopped and disabled.
set -eu
command -v promtool >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "promtool is missing and installing it needs root: apt-get install prometheus" >&2
    exit 1
fi
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends prometheus >/dev/null \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends prometheus >/dev/null; }
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus
    systemctl disable prometheus
fi
command -v promtool >/dev/null
