#!/bin/bash
# A real one-node Pacemaker cluster on this machine, running IPaddr2 and Filesystem:
# the way to see the agents under Pacemaker without VMs.
#
#   tests/live/pacemaker.sh        as root, after cargo build; AGENTS=reference for ocf:heartbeat:*
#
#  1. makes a network namespace for the node (loopback only: corosync binds 127.0.0.1),
#     one for the service address and one for a client, joined by a veth pair;
#  2. boots the node (tests/live/lib.sh): a private mount namespace with its own
#     /etc/corosync, /var/lib/pacemaker, /run/crm, /dev/shm and agents, then corosync 3
#     and pacemakerd started in the background (no systemd); nothing on the host changes;
#  3. creates with pcs an IPaddr2 address in the service namespace (network_namespace=)
#     and a Filesystem on a loop device with a fresh ext4 (FSTYPE=xfs possible), whose
#     monitor runs at OCF_CHECK_LEVEL=20 (writes and reads a status file);
#  4. shows `crm_mon -1` with both Started, and checks from outside: the address answers
#     pings from the client namespace, the filesystem is mounted;
#  5. removes the address and makes the status file unwritable (a read-only tmpfs
#     over its directory) behind the agents' backs, shows the failed monitors with the
#     agents' exit reasons in crm_mon, and Pacemaker recovering both;
#  6. pushes the HA NFS configuration of crm-examples/ha-nfs.pcs.sh to the running
#     cluster (its live path: one cib-push of the difference) in maintenance mode, so
#     nothing of it starts here, shows it, and deletes it again;
#  7. stops Pacemaker (which stops the resources) and corosync, and removes everything
#     it made, also when a step fails.
# Exit status 0 only if every check passed. KEEP=1 waits for Enter before stopping.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

AGENTS=${AGENTS:-ferro}
FSTYPE=${FSTYPE:-ext4}
PREFIX=${PREFIX:-fcrm-live}
NODE=$PREFIX-n1
SVC=$PREFIX-svc
CLI=$PREFIX-cli
VIP=${VIP:-10.213.77.100}
TIMEOUT=${TIMEOUT:-120}
LIVE_NODES=()
LIVE_DC=

LIVE_NETNS=("$NODE" "$SVC" "$CLI")

started() {  # started RSC...: each RSC Started and not failed
    local xml r
    xml=$(on "$NODE" crm_mon -1 -r --output-as=xml)
    for r in "$@"; do
        grep -q "<resource id=\"$r\" [^>]*role=\"Started\" active=\"true\"[^>]* failed=\"false\"" <<<"$xml" || return 1
    done
}

failed() {  # failed RSC...: each RSC has a failed 5 s monitor in its history
    local xml r
    xml=$(on "$NODE" crm_mon -1 -r --output-as=xml)
    for r in "$@"; do grep -q "<failure op_key=\"${r}_monitor_5000\"" <<<"$xml" || return 1; done
}

# The failed monitors and the agents' exit reasons as Pacemaker recorded them; at least
# one must have a reason (the reference IPaddr2 gives none for a missing address: "not
# running" is its whole answer).
exit_reasons() {
    local line key status reason n=0
    log "exit reasons Pacemaker recorded"
    while read -r line; do
        key=$(sed -E 's/.* op_key="([^"]*)".*/\1/' <<<"$line")
        status=$(sed -E 's/.* exitstatus="([^"]*)".*/\1/' <<<"$line")
        reason=$(sed -E 's/.* exitreason="([^"]*)".*/\1/' <<<"$line")
        echo "$key: $status: ${reason:-(no exit reason)}"
        [[ -z $reason ]] || n=$((n + 1))
    done < <(on "$NODE" crm_mon -1 -r --output-as=xml | grep -o '<failure [^>]*>')
    ((n > 0)) || die "no exit reason reached crm_mon"
}

case $AGENTS in ferro) ra=ocf:ferro ;; reference) ra=ocf:heartbeat ;; *) die "AGENTS must be ferro or reference" ;; esac
require_tools corosync pacemakerd pcs crm_mon ip nsenter losetup "mkfs.$FSTYPE" findmnt
live_begin

ip netns add "$NODE"
ip netns add "$SVC"
ip netns add "$CLI"
ip link add "$PREFIX-v0" netns "$SVC" type veth peer name "$PREFIX-v1" netns "$CLI"
ip -n "$SVC" link set lo up
ip -n "$SVC" link set "$PREFIX-v0" up
ip -n "$CLI" link set lo up
ip -n "$CLI" link set "$PREFIX-v1" up
ip -n "$CLI" addr add "${VIP%.*}.2/24" dev "$PREFIX-v1"

size=64M
[[ $FSTYPE == xfs ]] && size=320M   # mkfs.xfs refuses less than 300 MB
truncate -s "$size" "$LIVE_WORK/disk.img"
loop=$(attach_loop "$LIVE_WORK/disk.img")
"mkfs.$FSTYPE" -q "$loop" >/dev/null
mnt=$LIVE_WORK/mnt
mkdir -p "$mnt"

log "starting corosync and pacemakerd (node $NODE, agents $ra)"
corosync_conf "$PREFIX" "$NODE=127.0.0.1" > "$LIVE_WORK/corosync.conf"
node_start "$NODE" "$LIVE_WORK/corosync.conf" "$AGENTS"
LIVE_DC=$NODE
wait_for "node $NODE online" "$TIMEOUT" node_online "$NODE" "$NODE"

log "configuring with pcs"
on "$NODE" pcs property set stonith-enabled=false
on "$NODE" pcs resource create live_vip "$ra:IPaddr2" ip="$VIP" cidr_netmask=24 nic="$PREFIX-v0" \
    network_namespace="$SVC" op monitor interval=5s timeout=20s
on "$NODE" pcs resource create live_fs "$ra:Filesystem" device="$loop" directory="$mnt" \
    fstype="$FSTYPE" op monitor interval=5s timeout=40s OCF_CHECK_LEVEL=20
wait_for "live_vip and live_fs Started" "$TIMEOUT" started live_vip live_fs
on "$NODE" crm_mon -1 -r

log "checking the resources from outside Pacemaker"
ip -n "$SVC" -br addr show dev "$PREFIX-v0"
ip netns exec "$CLI" ping -c 2 -W 2 "$VIP" >/dev/null || die "$VIP does not answer in the client namespace"
echo "$VIP answers pings from the client namespace"
on "$NODE" findmnt -n "$mnt" || die "$mnt is not mounted"

log "breaking both resources behind Pacemaker's back"
ip -n "$SVC" addr del "$VIP/24" dev "$PREFIX-v0"
echo "removed $VIP from $PREFIX-v0"
block_status_file "$NODE" "$mnt"
echo "mounted a read-only tmpfs on $mnt/.Filesystem_status"
wait_for "failed monitors recorded" "$TIMEOUT" failed live_vip live_fs
on "$NODE" crm_mon -1 -r --include=failcounts
exit_reasons
wait_for "Pacemaker recovered live_vip and live_fs" "$TIMEOUT" started live_vip live_fs
wait_for "$mnt mounted again, without the tmpfs" 30 eval "on $NODE findmnt -n -O rw $mnt && ! on $NODE findmnt -n $mnt/.Filesystem_status"
wait_for "$VIP answers again" 30 ip netns exec "$CLI" ping -c 1 -W 1 "$VIP"
on "$NODE" crm_mon -1 -r --include=failcounts

log "crm-examples/ha-nfs.pcs.sh on the running cluster, in maintenance mode"
on "$NODE" pcs property set maintenance-mode=true
on "$NODE" env AGENTS="$AGENTS" NODE1="$NODE" NODE2="$PREFIX-n2" STONITH=no \
    bash "$LIVE_ROOT/crm-examples/ha-nfs.pcs.sh" >/dev/null
on "$NODE" crm_mon -1 -r
config=$(on "$NODE" cibadmin -Q -o configuration)
for id in drbd_r0-clone g_nfs col_nfs_on_drbd_promoted ord_drbd_promote_then_nfs loc_drbd_promoted_prefers_node1; do
    grep -q "id=\"$id\"" <<<"$config" || die "$id is not in the cluster's CIB"
done
echo "pushed: drbd_r0-clone, g_nfs and their constraints are in the cluster's CIB"
on "$NODE" pcs resource delete g_nfs --force >/dev/null
on "$NODE" pcs resource delete drbd_r0-clone --force >/dev/null
on "$NODE" pcs property set maintenance-mode=false
wait_for "live_vip and live_fs still Started" "$TIMEOUT" started live_vip live_fs

if [[ ${KEEP:-0} == 1 ]]; then
    log "KEEP=1: the cluster runs (nsenter -t $(cat "$(node_dir "$NODE")/corosync.pid") -n -m crm_mon). Enter stops it."
    read -r _ || true
fi
log "stopping pacemaker (stops the resources) and corosync"
node_stop "$NODE"
LIVE_NODES=()
on_host_mounted=$(grep -c " $mnt " /proc/self/mountinfo || true)
((on_host_mounted == 0)) || die "$mnt is mounted on the host"
log "PASS"
