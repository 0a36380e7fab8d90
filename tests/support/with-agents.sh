#!/bin/bash
# with-agents.sh DIR COMMAND [ARG...]
# Runs COMMAND in a private mount namespace in which /usr/lib/ocf/resource.d/ferro is
# DIR, so pcs, crmsh and Pacemaker's tools see a test's agents without anything being
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
mkdir "$rd/ferro"
mount --bind "$dir" "$rd/ferro"
umount "$stage"
rmdir "$stage"
unset FERRO_AGENTS_NS
exec "$@"
