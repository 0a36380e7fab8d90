#!/bin/bash
# Two Pacemaker nodes on this machine, each in its own network and mount namespace,
# failing a filesystem and an address over between them: real Pacemaker decisions on
# real mounts and addresses, without VMs (and without DRBD or NFS: see tests/lab).
#
#   tests/live/pacemaker-2node.sh      as root, after cargo build; AGENTS=reference for ocf:heartbeat:*,
#                                      ARBITER=qnetd for a quorum device instead of two_node
#
# Network: a bridge in a "switch" namespace joins n1 (10.213.78.1), n2 (.2) and a
# client (.9); corosync 3 (knet, two_node) runs between n1 and n2. The "shared disk" is
# one loop device with ext4, which both nodes see; each node mounts it in its own mount
# namespace. Group g = Filesystem fs + IPaddr2 vip (10.213.78.100 on the node's eth0),
# preferring n1, migration-threshold=1. Steps, each checked from outside Pacemaker
# (client pings the address, findmnt in each node):
#  1. g starts on n1;
#  2. fs's status file is made unwritable behind the agent's back on n1 (a read-only
#     tmpfs over its directory): the failed monitor (with its exit reason) moves g to
#     n2; after `pcs resource cleanup` g returns to n1;
#  3. `pcs node standby n1` moves g to n2, `unstandby` brings it back;
#  4. power loss of n1: every process of n1 is killed and its link goes down; n2 takes
#     g over (the time until the address answers again is printed); n1 boots again,
#     rejoins, and g fails back to it.
# With ARBITER=qnetd the third vote comes from corosync-qnetd on the client's address
# (corosync-qdevice on both nodes, ffsplit, no two_node), and a step follows:
#  5. the link between n1 and n2 is cut (each drops the other's address; both still reach
#     qnetd): qnetd's vote keeps exactly one partition quorate, n1 (the lowest node id,
#     ffsplit's tie-breaker), which keeps g; n2 is inquorate and runs nothing. The cut
#     heals, n2 rejoins, g stays on n1.
# There is no fencing (stonith-enabled=false): the power loss kills every process of the
# node before its peer notices, which is what fencing would guarantee. Everything is
# removed at the end, also when a step fails.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

AGENTS=${AGENTS:-ferro}
ARBITER=${ARBITER:-}
PREFIX=${PREFIX:-fcrm-2n}
N1=$PREFIX-n1
N2=$PREFIX-n2
SW=$PREFIX-sw
CLI=$PREFIX-cli
NET=10.213.78
VIP=$NET.100
TIMEOUT=${TIMEOUT:-120}
LIVE_NODES=()
LIVE_DC=

LIVE_NETNS=("$N1" "$N2" "$SW" "$CLI")

# runs_on NODE: fs and vip Started on NODE only, seen from a node that is up, and
# nothing left to do. (A node that rejoins without having been fenced shows its old
# operation history for a moment: fs seems active on both nodes until it reports.)
runs_on() {
    local xml r
    on "$LIVE_DC" crm_resource --wait --timeout=10s || return 1
    xml=$(on "$LIVE_DC" crm_mon -1 -r --output-as=xml)
    for r in fs vip; do
        grep -A1 "<resource id=\"$r\" [^>]*role=\"Started\" active=\"true\"[^>]* failed=\"false\"[^>]* nodes_running_on=\"1\"" <<<"$xml" |
            grep -q "<node name=\"$1\"" || return 1
    done
}

# placed NODE OTHER: Pacemaker says g runs on NODE; the address answers the client;
# fs is mounted in NODE's mount namespace and not in OTHER's (if OTHER is up).
placed() {
    local node=$1 other=$2
    wait_for "g Started on $node" "$TIMEOUT" runs_on "$node"
    wait_for "$VIP answers the client" 30 ip netns exec "$CLI" ping -c 1 -W 1 "$VIP"
    wait_for "$mnt mounted on $node" 30 on "$node" findmnt -n -O rw "$mnt"
    if [[ -n $other ]]; then
        ! on "$other" findmnt -n "$mnt" >/dev/null || die "$mnt is mounted on $other too"
        [[ $(ip -n "$other" -br addr show dev eth0) != *"$VIP/"* ]] || die "$VIP is on $other too"
    fi
    echo "g on $node: $VIP answers, $mnt mounted there only"
}

case $AGENTS in ferro) ra=ocf:ferro ;; reference) ra=ocf:heartbeat ;; *) die "AGENTS must be ferro or reference" ;; esac
case $ARBITER in
    "") require_tools corosync pacemakerd pcs crm_mon ip nsenter losetup mkfs.ext4 findmnt ;;
    qnetd) require_tools corosync pacemakerd pcs crm_mon ip nsenter losetup mkfs.ext4 findmnt \
        corosync-qnetd corosync-qdevice corosync-quorumtool ;;
    *) die "ARBITER must be empty or qnetd" ;;
esac
live_begin

log "network: bridge in $SW joining $N1 ($NET.1), $N2 ($NET.2) and $CLI ($NET.9)"
ip netns add "$SW"
ip -n "$SW" link add br0 type bridge
ip -n "$SW" link set br0 up
i=0
for ns in "$N1" "$N2" "$CLI"; do
    i=$((i + 1))
    ip netns add "$ns"
    ip link add eth0 netns "$ns" type veth peer name "$PREFIX-p$i" netns "$SW"
    ip -n "$SW" link set "$PREFIX-p$i" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
done
ip -n "$N1" addr add "$NET.1/24" dev eth0
ip -n "$N2" addr add "$NET.2/24" dev eth0
ip -n "$CLI" addr add "$NET.9/24" dev eth0

truncate -s 64M "$LIVE_WORK/disk.img"
loop=$(attach_loop "$LIVE_WORK/disk.img")
mkfs.ext4 -q "$loop"
mnt=$LIVE_WORK/mnt
mkdir -p "$mnt"

if [[ $ARBITER == qnetd ]]; then
    # The arbiter: a third machine's corosync-qnetd (TLS off: no certificates to hand out
    # here).
    QNETD=$NET.9
    log "arbiter: corosync-qnetd on $CLI ($QNETD)"
    qnetd_start "$CLI" "$QNETD" "$LIVE_WORK" "$LIVE_WORK/qnetd.out"
fi

# quorate NODE yes|no: corosync-quorumtool on NODE says its partition is (not) quorate.
quorate() {
    local out want=Yes
    [[ $2 == no ]] && want=No
    # (It blocks while corosync forms a new membership, and fails when inquorate.)
    out=$(on "$1" timeout 5 corosync-quorumtool -s 2>&1) || true
    grep -q "^Quorate: *$want" <<<"$out"
}

log "starting both nodes (agents $ra${ARBITER:+, arbiter $ARBITER})"
corosync_conf "$PREFIX" "$N1=$NET.1" "$N2=$NET.2" > "$LIVE_WORK/corosync.conf"
node_start "$N1" "$LIVE_WORK/corosync.conf" "$AGENTS"
node_start "$N2" "$LIVE_WORK/corosync.conf" "$AGENTS"
LIVE_DC=$N1
wait_for "$N1 and $N2 online" "$TIMEOUT" eval "node_online $N1 $N1 && node_online $N1 $N2"

log "configuring with pcs"
on "$N1" pcs property set stonith-enabled=false
on "$N1" pcs resource create fs "$ra:Filesystem" device="$loop" directory="$mnt" fstype=ext4 \
    op monitor interval=5s timeout=40s OCF_CHECK_LEVEL=20 --group g
on "$N1" pcs resource create vip "$ra:IPaddr2" ip="$VIP" cidr_netmask=24 nic=eth0 \
    op monitor interval=5s timeout=20s --group g
on "$N1" pcs resource meta g migration-threshold=1
on "$N1" pcs constraint location g prefers "$N1=100"

log "1. start"
placed "$N1" "$N2"
on "$N1" crm_mon -1 -r

log "2. status file of $mnt made unwritable behind the agent's back on $N1"
block_status_file "$N1" "$mnt"
placed "$N2" "$N1"
on "$N2" crm_mon -1 -r --include=failcounts
on "$N2" crm_mon -1 -r --output-as=xml | grep -o '<failure [^>]*>' |
    sed -E 's/.* op_key="([^"]*)".* exitstatus="([^"]*)" exitreason="([^"]*)".*/\1: \2: \3/'
on "$N2" pcs resource cleanup g
placed "$N1" "$N2"

log "3. standby"
on "$N1" pcs node standby "$N1"
placed "$N2" "$N1"
on "$N1" pcs node unstandby "$N1"
placed "$N1" "$N2"

log "4. power loss of $N1"
t0=$(date +%s%N)
node_kill "$N1" || die "power loss of $N1 left processes behind"
ip -n "$N1" link set eth0 down
LIVE_DC=$N2
# The client asks every 0.2 s; the first answer after the loss comes from n2.
until ip netns exec "$CLI" ping -c 1 -W 0.2 "$VIP" >/dev/null 2>&1; do
    (($(date +%s%N) - t0 < TIMEOUT * 1000000000)) || die "$VIP did not come back"
done
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
printf 'failover: %d.%03d s from power loss until %s answered again\n' $((ms / 1000)) $((ms % 1000)) "$VIP"
placed "$N2" ""
on "$N2" crm_mon -1 -r
# Power on: a booting machine has only its own address.
ip -n "$N1" addr flush dev eth0
ip -n "$N1" addr add "$NET.1/24" dev eth0
ip -n "$N1" link set eth0 up
node_start "$N1" "$LIVE_WORK/corosync.conf" "$AGENTS"
wait_for "$N1 back online" "$TIMEOUT" node_online "$N2" "$N1"
placed "$N1" "$N2"
on "$N1" crm_mon -1 -r

if [[ $ARBITER == qnetd ]]; then
    on "$N1" timeout 5 corosync-quorumtool -s
    log "5. link between $N1 and $N2 cut; both still reach the arbiter"
    LIVE_DC=$N1
    # Isolated bridge ports reach only the others, like a switch that lost one path: packets
    # vanish silently. (A prohibit route would make corosync's sends fail at once, and it
    # spins in its gather state.)
    ip netns exec "$SW" bridge link set dev "$PREFIX-p1" isolated on
    ip netns exec "$SW" bridge link set dev "$PREFIX-p2" isolated on
    wait_for "$N2 inquorate" "$TIMEOUT" quorate "$N2" no
    wait_for "$N1 quorate (arbiter's vote)" "$TIMEOUT" quorate "$N1" yes
    placed "$N1" "$N2"
    on "$N1" timeout 5 corosync-quorumtool -s
    # Inquorate, n2 runs nothing (no-quorum-policy=stop) however long the cut lasts.
    sleep 10
    placed "$N1" "$N2"
    ip netns exec "$SW" bridge link set dev "$PREFIX-p1" isolated off
    ip netns exec "$SW" bridge link set dev "$PREFIX-p2" isolated off
    wait_for "$N2 quorate again" "$TIMEOUT" quorate "$N2" yes
    wait_for "$N2 back online" "$TIMEOUT" node_online "$N1" "$N2"
    placed "$N1" "$N2"
fi

log "stopping both nodes"
for n in "${LIVE_NODES[@]}"; do node_stop "$n"; done
LIVE_NODES=()
log "PASS"
