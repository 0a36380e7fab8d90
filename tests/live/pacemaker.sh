#!/bin/bash
# A real one-node Pacemaker cluster on this machine, running ocf:ferro:IPaddr2 and
# ocf:ferro:Filesystem: the way to see the agents under Pacemaker without VMs.
#
#   tests/live/pacemaker.sh        as root; AGENTS=ferro|reference (ocf:heartbeat:*)
#
# What it does:
#  1. makes a network namespace for the node (loopback only: corosync binds 127.0.0.1,
#     and the daemons' IPC sockets are per namespace, so nothing meets another
#     cluster on this host), and one for the service address: a veth pair between it
#     and a client namespace;
#  2. in a private mount namespace, puts temp dirs over /etc/corosync, /var/lib/pacemaker,
#     /var/lib/corosync, /run/crm and /dev/shm, and the agents under test over
#     /usr/lib/ocf/resource.d/ferro: nothing on the host is touched;
#  3. starts corosync 3 and pacemakerd in the background (no systemd), waits for the node;
#  4. creates with pcs: an IPaddr2 address in the service namespace (network_namespace=)
#     and a Filesystem on a loop device with a fresh ext4 (FSTYPE=xfs possible);
#  5. shows `crm_mon -1` with both Started, checks the address answers pings from the
#     client namespace and the filesystem is mounted;
#  6. removes the address and remounts the filesystem read-only behind the agents'
#     backs (the Filesystem monitor runs at OCF_CHECK_LEVEL=20: it writes a status
#     file), shows the failed monitors with their exit reasons in crm_mon, and
#     Pacemaker recovering both;
#  7. stops Pacemaker (which stops the resources) and corosync, and removes everything
#     it made, also when a step fails.
# Exit status 0 only if every check passed. KEEP=1 leaves the cluster running until Enter.
set -euo pipefail

AGENTS=${AGENTS:-reference}
FSTYPE=${FSTYPE:-ext4}
PREFIX=${PREFIX:-fcrm-live}
NODE=${PREFIX}-n1
VIP=${VIP:-10.213.77.100}
CLIENT_IP=10.213.77.2
TIMEOUT=${TIMEOUT:-120}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

log() { printf '\n== %s\n' "$*"; }
die() { printf '\nFAIL: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- inner part
# Runs inside the node's network namespace and a private mount namespace.
inner() {
    local work=$1
    export PATH=/usr/sbin:/usr/bin:/sbin:/bin
    mount --make-rprivate /
    for d in /etc/corosync /var/lib/corosync /var/lib/pacemaker /run/crm /var/log/pacemaker; do
        mkdir -p "$d" "$work/fs$d"
        mount --bind "$work/fs$d" "$d"
    done
    mount -t tmpfs -o mode=1777 "$PREFIX-shm" /dev/shm
    mkdir -p /var/lib/pacemaker/{cib,pengine,blackbox,cores}
    chown -R hacluster:haclient /var/lib/pacemaker /var/log/pacemaker
    chmod 750 /var/lib/pacemaker/{cib,pengine,blackbox,cores}
    chown hacluster:haclient /run/crm
    if [[ $AGENTS == ferro ]]; then
        overlay_ferro "$work"
        ra=ocf:ferro
    else
        ra=ocf:heartbeat
    fi
    ip link set lo up

    cat > /etc/corosync/corosync.conf <<EOF
totem {
    version: 2
    cluster_name: $PREFIX
    transport: knet
    crypto_cipher: none
    crypto_hash: none
}
nodelist {
    node {
        ring0_addr: 127.0.0.1
        name: $NODE
        nodeid: 1
    }
}
quorum {
    provider: corosync_votequorum
}
logging {
    to_logfile: yes
    logfile: $work/corosync.log
    to_syslog: no
    to_stderr: no
    timestamp: on
}
EOF

    log "starting corosync and pacemakerd (node $NODE, agents $ra)"
    # setsid: each daemon leads its own process group, which the cleanup can end whole.
    setsid corosync -f > "$work/corosync.out" 2>&1 &
    echo $! > "$work/corosync.pid"
    wait_for "corosync answers" 30 corosync-cfgtool -s >/dev/null
    PCMK_logfile=$work/pacemaker.log PCMK_debug=no PCMK_logpriority=crit \
        setsid pacemakerd > "$work/pacemakerd.out" 2>&1 &
    echo $! > "$work/pacemakerd.pid"
    wait_for "node $NODE online" "$TIMEOUT" node_online

    log "configuring with pcs"
    pcs property set stonith-enabled=false
    pcs resource create vip "$ra:IPaddr2" ip="$VIP" cidr_netmask=24 nic="$PREFIX-v0" \
        network_namespace="$PREFIX-svc" op monitor interval=5s timeout=20s
    pcs resource create fs "$ra:Filesystem" device="$(cat "$work/loop")" \
        directory="$work/mnt" fstype="$FSTYPE" op monitor interval=5s timeout=40s OCF_CHECK_LEVEL=20

    wait_for "vip and fs Started" "$TIMEOUT" started vip fs
    crm_mon -1 -r
    log "checking the resources from outside Pacemaker"
    ip -n "$PREFIX-svc" -br addr show dev "$PREFIX-v0"
    ip netns exec "$PREFIX-cli" ping -c 2 -W 2 "$VIP" >/dev/null || die "$VIP does not answer in the client namespace"
    echo "$VIP answers pings from the client namespace"
    findmnt -n "$work/mnt" || die "$work/mnt is not mounted"

    log "breaking both resources behind Pacemaker's back"
    ip -n "$PREFIX-svc" addr del "$VIP/24" dev "$PREFIX-v0"
    echo "removed $VIP from $PREFIX-v0"
    mount -o remount,ro "$work/mnt"
    echo "remounted $work/mnt read-only"
    wait_for "failed monitors recorded" "$TIMEOUT" failed vip fs
    crm_mon -1 -r --include=failcounts
    check_exit_reasons
    wait_for "Pacemaker recovered vip and fs" "$TIMEOUT" started vip fs
    crm_mon -1 -r --include=failcounts
    wait_for "$work/mnt mounted read-write again" 30 findmnt -n -O rw "$work/mnt"
    wait_for "$VIP answers again" 30 ip netns exec "$PREFIX-cli" ping -c 1 -W 1 "$VIP"

    if [[ ${KEEP:-0} == 1 ]]; then
        log "KEEP=1: cluster running (ip netns exec $NODE crm_mon). Enter stops it."
        read -r _ || true
    fi
    stop_cluster "$work"
    log "PASS"
}

# Make the agents of this build visible as ocf:ferro:* (installed into $work/root).
overlay_ferro() {
    local work=$1 bin rd=/usr/lib/ocf/resource.d
    bin=${FERRO_BIN:-$ROOT/target/release/ferro-ocf}
    [[ -x $bin ]] || bin=$ROOT/target/debug/ferro-ocf
    [[ -x $bin ]] || die "no ferro-ocf binary: cargo build first (or FERRO_BIN=...)"
    "$bin" install --root "$work/root" >/dev/null
    local stage=$work/rd-stage
    mkdir -p "$stage"
    mount --bind "$rd" "$stage"
    mount -t tmpfs -o mode=755 "$PREFIX-rd" "$rd"
    local p name
    for p in "$stage"/*; do
        name=${p##*/}
        [[ -d $p && $name != ferro ]] || continue
        mkdir "$rd/$name"
        mount --bind "$p" "$rd/$name"
    done
    mkdir -m 755 "$rd/ferro"
    for p in "$work/root/$rd/ferro"/*; do
        ln -s "$(realpath "$p")" "$rd/ferro/${p##*/}"
    done
    umount "$stage"
}

# wait_for WHAT SECONDS COMMAND...: polls COMMAND once a second.
wait_for() {
    local what=$1 secs=$2 t=0
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((t++ < secs)) || { crm_mon -1 -r 2>&1 || true; die "timed out after ${secs}s waiting for: $what"; }
        sleep 1
    done
    echo "ok: $what (${t}s)"
}

node_online() { crm_mon -1 --output-as=xml | grep -q "<node name=\"$NODE\" id=\"1\" online=\"true\""; }

# started RSC...: every RSC is Started and nothing is pending.
started() {
    local xml r
    xml=$(crm_mon -1 -r --output-as=xml)
    for r in "$@"; do
        grep -q "<resource id=\"$r\" [^>]*role=\"Started\" active=\"true\"[^>]* failed=\"false\"" <<<"$xml" || return 1
    done
}

# failed RSC...: each RSC has a failed monitor in the history.
failed() {
    local xml r
    xml=$(crm_mon -1 -r --output-as=xml)
    for r in "$@"; do
        grep -q "<failure op_key=\"${r}_monitor_5000\"" <<<"$xml" || return 1
    done
}

# The failed monitors and the agents' exit reasons, as Pacemaker recorded them; at
# least one reason must have arrived (the reference IPaddr2 gives none for a missing
# address: "not running" is its whole answer).
check_exit_reasons() {
    local xml line key status reason n=0
    xml=$(crm_mon -1 -r --output-as=xml)
    log "exit reasons Pacemaker recorded"
    while read -r line; do
        key=$(sed -E 's/.* op_key="([^"]*)".*/\1/' <<<"$line")
        status=$(sed -E 's/.* exitstatus="([^"]*)".*/\1/' <<<"$line")
        reason=$(sed -E 's/.* exitreason="([^"]*)".*/\1/' <<<"$line")
        echo "$key: $status: ${reason:-(no exit reason)}"
        [[ -z $reason ]] || n=$((n + 1))
    done < <(grep -o '<failure [^>]*>' <<<"$xml")
    ((n > 0)) || die "no exit reason reached crm_mon"
}

stop_cluster() {
    local work=$1 pid
    [[ -f $work/pacemakerd.pid ]] || return 0
    log "stopping pacemaker (stops the resources) and corosync"
    pid=$(cat "$work/pacemakerd.pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 120); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        kill -0 "$pid" 2>/dev/null && { echo "pacemakerd still running: KILL"; kill -KILL "$pid" || true; }
    fi
    # pacemakerd's children leave with it; any left over are in its process group.
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$work/pacemakerd.pid"
    pid=$(cat "$work/corosync.pid" 2>/dev/null || true)
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$work/corosync.pid"
    echo "stopped"
}

# ---------------------------------------------------------------- outer part
cleanup() {
    local rc=$?
    set +e
    if [[ -f $work/pacemakerd.pid || -f $work/corosync.pid ]]; then
        # The inner part died before stopping the daemons: stop them from here.
        for f in pacemakerd corosync; do
            [[ -f $work/$f.pid ]] || continue
            pid=$(cat "$work/$f.pid")
            kill -TERM "$pid" 2>/dev/null
            for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
            kill -KILL -- "-$pid" 2>/dev/null
        done
    fi
    [[ -n ${loop:-} ]] && losetup -d "$loop" 2>/dev/null
    for ns in "$NODE" "$PREFIX-svc" "$PREFIX-cli"; do ip netns del "$ns" 2>/dev/null; done
    [[ -n ${work:-} && -d $work ]] && rm -rf "$work"
    exit $rc
}

if [[ ${1:-} == --inner ]]; then
    inner "$2"
    exit
fi

[[ $(id -u) == 0 ]] || die "run as root"
case $AGENTS in ferro|reference) ;; *) die "AGENTS must be ferro or reference" ;; esac
for t in corosync pacemakerd pcs crm_mon ip losetup "mkfs.$FSTYPE" findmnt unshare; do
    command -v "$t" >/dev/null || die "missing $t (apt-get install corosync pacemaker pcs iproute2 util-linux e2fsprogs xfsprogs)"
done
for ns in "$NODE" "$PREFIX-svc" "$PREFIX-cli"; do
    ! ip netns list | grep -qw "$ns" || die "network namespace $ns exists: another run? (ip netns del $ns)"
done

work=$(mktemp -d "/tmp/$PREFIX.XXXXXX")
chmod 755 "$work"
trap cleanup EXIT INT TERM

ip netns add "$NODE"
ip netns add "$PREFIX-svc"
ip netns add "$PREFIX-cli"
ip link add "$PREFIX-v0" netns "$PREFIX-svc" type veth peer name "$PREFIX-v1" netns "$PREFIX-cli"
ip -n "$PREFIX-svc" link set lo up
ip -n "$PREFIX-svc" link set "$PREFIX-v0" up
ip -n "$PREFIX-cli" link set lo up
ip -n "$PREFIX-cli" link set "$PREFIX-v1" up
ip -n "$PREFIX-cli" addr add "$CLIENT_IP/24" dev "$PREFIX-v1"

size=64M
[[ $FSTYPE == xfs ]] && size=320M   # mkfs.xfs refuses less than 300 MB
truncate -s "$size" "$work/disk.img"
loop=$(losetup --find --show "$work/disk.img")
echo "$loop" > "$work/loop"
"mkfs.$FSTYPE" -q "$loop" >/dev/null 2>&1 || "mkfs.$FSTYPE" -q -f "$loop" >/dev/null
mkdir -p "$work/mnt"

# ip netns exec also gives the inner part its own mount namespace.
ip netns exec "$NODE" "$0" --inner "$work"
