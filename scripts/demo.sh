#!/bin/bash
# The demo: set up, build and install ferro-ocf, then
#  1. run two agents by hand against this host's kernel, the way Pacemaker runs them (a minute):
#     - ocf:ferro:IPaddr2 brings a virtual IP up in a private network namespace (a veth pair),
#       the peer reaches it, monitor reports it, stop removes it;
#     - ocf:ferro:Filesystem mounts an XFS loop device, a process keeps it busy, stop kills the
#       holder and unmounts;
#  2. build the highly available NFS server in VMs (tests/lab, docs/lab.md): two Debian 12 nodes
#     with DRBD, XFS on /data, nfsserver, the export and the VIP 192.168.48.200 under Pacemaker
#     with the ocf:ferro agents, and an NFS client writing to it; then power the Primary off
#     (it is fenced, the other node takes over, no acknowledged write is lost) and back on (it
#     resyncs and takes the service back). 10-20 minutes on 2 cores, more the first time (the
#     VM image is built from Debian packages and cached).
#   scripts/demo.sh --quick : part 1 only.
# Everything it creates (namespaces, loop device, temp dir, VMs) is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null

NS=ferro-demo
TMP=$(mktemp -d /tmp/ferro-demo.XXXXXX)
LOOP=
HOLDER=
cleanup() {
    [ -n "$HOLDER" ] && kill -9 "$HOLDER" 2>/dev/null || true
    mountpoint -q "$TMP/mnt" 2>/dev/null && umount -l "$TMP/mnt"
    [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    ip netns del "$NS-peer" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

agent() { # agent <Agent> <action> [param=value...]
    local a=$1 act=$2; shift 2
    local env=(OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=demo-$a OCF_CHECK_LEVEL="${OCF_CHECK_LEVEL:-0}")
    for kv in "$@"; do env+=("OCF_RESKEY_$kv"); done
    local rc=0
    env -i "${env[@]}" /usr/lib/ocf/resource.d/ferro/"$a" "$act" || rc=$?
    printf '  %-12s %-8s -> rc=%s\n' "$a" "$act" "$rc"
}

say() { printf '\n== %s\n' "$*"; }

say "ocf:ferro:IPaddr2 in network namespace $NS"
ip netns add "$NS"; ip netns add "$NS-peer"
ip link add demo0 netns "$NS" type veth peer name demo1 netns "$NS-peer"
ip -n "$NS" addr add 192.0.2.1/24 dev demo0; ip -n "$NS" link set demo0 up; ip -n "$NS" link set lo up
ip -n "$NS-peer" addr add 192.0.2.2/24 dev demo1; ip -n "$NS-peer" link set demo1 up
VIP=(ip=192.0.2.200 cidr_netmask=24 network_namespace="$NS")
agent IPaddr2 monitor "${VIP[@]}"
agent IPaddr2 start "${VIP[@]}"
agent IPaddr2 monitor "${VIP[@]}"
echo "  addresses on demo0:"; ip -n "$NS" -br addr show dev demo0 | sed 's/^/    /'
echo "  the peer reaches the VIP:"; ip netns exec "$NS-peer" ping -c1 -W1 192.0.2.200 | sed -n 2p | sed 's/^/    /'
agent IPaddr2 stop "${VIP[@]}"
agent IPaddr2 monitor "${VIP[@]}"

say "ocf:ferro:Filesystem on an XFS loop device"
truncate -s 320M "$TMP/disk.img"
mkfs.xfs -q "$TMP/disk.img"
LOOP=$(losetup --find --show "$TMP/disk.img")
FS=(device="$LOOP" directory="$TMP/mnt" fstype=xfs)
agent Filesystem start "${FS[@]}"
agent Filesystem monitor "${FS[@]}"
OCF_CHECK_LEVEL=20 agent Filesystem monitor "${FS[@]}"
(cd "$TMP/mnt" && exec sleep 600) & HOLDER=$!
sleep 0.2
echo "  pid $HOLDER keeps $TMP/mnt busy; stop kills it and unmounts:"
agent Filesystem stop "${FS[@]}"
agent Filesystem monitor "${FS[@]}"
if kill -0 "$HOLDER" 2>/dev/null; then echo "  holder still alive"; else echo "  holder gone"; HOLDER=; fi
echo
echo "Under Pacemaker on this host: tests/live/pacemaker.sh (one node), tests/live/pacemaker-2node.sh."
[[ ${1:-} == --quick ]] && exit 0

say "the HA NFS cluster in VMs: power loss of the Primary, then its return (tests/lab/run.sh)"
tests/lab/run.sh --agents ferro --show kill-primary failback
