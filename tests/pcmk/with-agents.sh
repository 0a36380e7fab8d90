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
rd=/usr/lib/ocf/resource.d
stage=$(mktemp -d /tmp/fcrm-rd.XXXXXX)
# Keep the real providers reachable, put an empty tmpfs over resource.d (the ferro
# directory need not exist on the host), then bind the providers and DIR into it.
mount --bind "$rd" "$stage"
mount -t tmpfs -o mode=755 fcrm-rd "$rd"
for p in "$stage"/*; do
    name=${p##*/}
    [[ -d $p && $name != ferro ]] || continue
    mkdir "$rd/$name"
    mount --bind "$p" "$rd/$name"
done
# Links to the resolved agents: install's links are relative to its root. The agent
# still sees argv0 = /usr/lib/ocf/resource.d/ferro/<Agent>, which picks the agent.
mkdir -m 755 "$rd/ferro"
for a in "$dir"/*; do
    ln -s "$(realpath "$a")" "$rd/ferro/${a##*/}"
done
umount "$stage"
rmdir "$stage"
unset FERRO_AGENTS_NS
exec "$@"
