#!/bin/bash
# with-agents.sh DIR COMMAND [ARG...]
# Runs COMMAND in a private mount namespace in which /usr/lib/ocf/resource.d/ferro holds
# the agents of DIR (e.g. ROOT/usr/lib/ocf/resource.d/ferro after `ferro-ocf install
# --root ROOT`), so pcs, crmsh and Pacemaker see a test's agents without anything being
# installed on the host. The other providers (heartbeat, linbit, ...) stay visible.
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: $0 DIR COMMAND [ARG...]" >&2; exit 2; }
dir=$(realpath "$1"); shift
if [[ -z ${FERRO_AGENTS_NS:-} ]]; then
    export FERRO_AGENTS_NS=1
    exec unshare --mount --propagation private -- "$0" "$dir" "$@"
fi
. "$(dirname "$0")/overlay.sh"
overlay_agents "$dir"
unset FERRO_AGENTS_NS
exec "$@"
