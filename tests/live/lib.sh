# Shared by tests/live/*.sh: Pacemaker nodes on this host, each a network namespace plus
# a private mount namespace (its own /etc/corosync, /var/lib/pacemaker, /run/crm,
# /dev/shm and ocf:ferro agents), running corosync 3 and pacemakerd started directly.
# Commands reach a node with `on NODE cmd...` (nsenter into its namespaces: the
# daemons' IPC sockets are per network namespace, their shared memory in /dev/shm).
# shellcheck shell=bash

LIVE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LIVE_ROOT=$(cd "$LIVE_DIR/../.." && pwd)
. "$LIVE_ROOT/tests/pcmk/overlay.sh"
. "$LIVE_ROOT/tests/qdevice.sh"
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

log() { printf '\n== %s\n' "$*"; }
die() { printf '\nFAIL: %s\n' "$*" >&2; exit 1; }

# wait_for WHAT SECONDS COMMAND...: polls COMMAND once a second, quietly.
wait_for() {
    local what=$1 secs=$2 t=0
    shift 2
    until "$@" >/dev/null 2>&1; do
        if ((t++ >= secs)); then
            [[ -n ${LIVE_DC:-} ]] && on "$LIVE_DC" crm_mon -1 -r 2>&1
            die "timed out after ${secs}s waiting for: $what"
        fi
        sleep 1
    done
    echo "ok: $what (${t}s)"
}

require_tools() {
    [[ $(id -u) == 0 ]] || die "run as root"
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null ||
            die "missing $t (apt-get install corosync pacemaker pcs iproute2 util-linux e2fsprogs xfsprogs)"
    done
}

# attach_loop IMG: a loop device for IMG, numbered 200-499. Other tests on this host take
# the lowest free numbers (losetup --find); a test that detaches "its" number twice
# would detach ours if we shared that range, and our mounted filesystem would vanish
# at its next unmount.
attach_loop() {
    local img=$1 n dev
    for _ in $(seq 30); do
        n=$((200 + RANDOM % 300))
        dev=/dev/loop$n
        [[ -e /sys/block/loop$n/loop/backing_file ]] && continue
        losetup "$dev" "$img" 2>/dev/null && { echo "$dev"; return 0; }
    done
    die "no free loop device in 200-499"
}

# corosync_conf CLUSTER NAME=ADDR...: a knet cluster of these nodes, without crypto.
# With QNETD=ADDR, a quorum device (corosync-qdevice, model net, ffsplit) asks the
# corosync-qnetd at ADDR for the third vote instead of two_node; its timeouts are the short
# ones corosync-qdevice's maintainer suggests for fast failover (crm-examples/README.md).
corosync_conf() {
    local cluster=$1 id=0 n
    shift
    printf 'totem {\n    version: 2\n    cluster_name: %s\n    transport: knet\n' "$cluster"
    printf '    crypto_cipher: none\n    crypto_hash: none\n    token: 1000\n}\nnodelist {\n'
    for n in "$@"; do
        id=$((id + 1))
        printf '    node {\n        ring0_addr: %s\n        name: %s\n        nodeid: %d\n    }\n' "${n#*=}" "${n%%=*}" "$id"
    done
    printf '}\nquorum {\n    provider: corosync_votequorum\n'
    if [[ -n ${QNETD:-} ]]; then
        qdevice_conf "$QNETD" "    "
    elif (($# == 2)); then
        printf '    two_node: 1\n'
    fi
    printf '}\nlogging {\n    to_logfile: yes\n    logfile: /var/log/corosync/corosync.log\n'
    printf '    to_syslog: no\n    to_stderr: no\n    timestamp: on\n}\n'
}

node_dir() { echo "$LIVE_WORK/$1"; }

# node_start NODE CONF AGENTS: boots the node in network namespace NODE (which must
# exist) with corosync.conf CONF, the ferro agents of this build if AGENTS=ferro.
node_start() {
    local node=$1 conf=$2 agents=$3 dir
    dir=$(node_dir "$node")
    mkdir -p "$dir"
    cp "$conf" "$dir/corosync.conf"
    # ip netns exec gives the boot its own mount namespace; the daemons keep it alive.
    LIVE_NODES+=("$node")
    ip netns exec "$node" bash "$LIVE_DIR/lib.sh" --boot "$dir" "$agents" ||
        die "node $node did not boot (logs in $dir)"
}

# Inside the node's namespaces: private directories, agents, then the daemons.
node_boot() {
    local dir=$1 agents=$2 d
    mount --make-rprivate /
    # A /run of its own (corosync locks /run/corosync.pid, agents keep state there),
    # with the host's named network namespaces still reachable in /run/netns.
    mkdir -p "$dir/netns-stage"
    mount --rbind /run/netns "$dir/netns-stage"
    mount -t tmpfs -o mode=755 fcrm-run /run
    mkdir -p /run/netns /run/lock
    mount --rbind "$dir/netns-stage" /run/netns
    umount -l "$dir/netns-stage"
    for d in /etc/corosync /var/lib/corosync /var/lib/pacemaker /var/log/pacemaker \
        /var/log/corosync /run/crm; do
        mkdir -p "$d" "$dir/fs$d"
        mount --bind "$dir/fs$d" "$d"
    done
    mount -t tmpfs -o mode=1777 fcrm-shm /dev/shm
    mkdir -p /var/lib/pacemaker/{cib,pengine,blackbox,cores}
    chown -R hacluster:haclient /var/lib/pacemaker /var/log/pacemaker /run/crm
    chmod 750 /var/lib/pacemaker/{cib,pengine,blackbox,cores}
    cp "$dir/corosync.conf" /etc/corosync/corosync.conf
    # A first CIB with a short dc-deadtime: the default (20 s) is how long a node that
    # starts waits for an existing DC before it elects itself.
    rm -f /var/lib/pacemaker/cib/*   # a node that boots again gets the CIB from its peer
    cibadmin --empty > /var/lib/pacemaker/cib/cib.xml
    CIB_file=/var/lib/pacemaker/cib/cib.xml crm_attribute -t crm_config -n dc-deadtime -v 2s
    chown hacluster:haclient /var/lib/pacemaker/cib/cib.xml
    [[ $agents == ferro ]] && overlay_ferro "$dir"
    ip link set lo up
    # setsid: each daemon leads its own process group.
    setsid corosync -f > "$dir/corosync.out" 2>&1 < /dev/null &
    echo $! > "$dir/corosync.pid"
    local t=0
    until corosync-cmapctl -g totem.cluster_name >/dev/null 2>&1; do
        ((t++ < 30)) || { echo "corosync did not start: $(cat "$dir/corosync.out")" >&2; exit 1; }
        sleep 1
    done
    if grep -q 'model: net' /etc/corosync/corosync.conf; then
        mkdir -p /run/corosync-qdevice
        setsid corosync-qdevice -f > "$dir/qdevice.out" 2>&1 < /dev/null &
    fi
    PCMK_logfile=/var/log/pacemaker/pacemaker.log PCMK_logpriority=crit \
        setsid pacemakerd > "$dir/pacemakerd.out" 2>&1 < /dev/null &
    echo $! > "$dir/pacemakerd.pid"
}

# This build's agents as ocf:ferro:* in the node's mount namespace: installed into a
# private root, linked from a tmpfs over resource.d that also holds the real providers.
overlay_ferro() {
    local dir=$1 bin
    bin=${FERRO_BIN:-$LIVE_ROOT/target/release/ferro-ocf}
    [[ -x $bin ]] || bin=$LIVE_ROOT/target/debug/ferro-ocf
    [[ -x $bin ]] || { echo "no ferro-ocf binary: cargo build first, or FERRO_BIN=" >&2; exit 1; }
    "$bin" install --root "$dir/root" >/dev/null
    overlay_agents "$dir/root/usr/lib/ocf/resource.d/ferro"
}

# show_logs NODE: what the agents and the scheduler said, for a failed run.
show_logs() {
    local f
    f=$(node_dir "$1")/fs/var/log/pacemaker/pacemaker.log
    [[ -f $f ]] || return 0
    printf '\n--- %s: agent output and errors from pacemaker.log\n' "$1"
    grep -E 'output \[|error|warning' "$f" | tail -40
}

# block_status_file NODE MNT: the Filesystem monitor at OCF_CHECK_LEVEL=20 writes
# MNT/.Filesystem_status/<node>; a read-only tmpfs mounted over that directory makes
# the write fail ("Failed to write status file", the same for both agent sets). Stop
# unmounts it with the filesystem (submounts go first), so recovery clears it.
block_status_file() {
    on "$1" mkdir -p "$2/.Filesystem_status"
    on "$1" mount -t tmpfs -o ro,size=1M fcrm-ro "$2/.Filesystem_status"
}

# on NODE COMMAND...: runs COMMAND in the node's network and mount namespaces.
on() {
    local node=$1 pid
    shift
    pid=$(cat "$(node_dir "$node")/corosync.pid")
    nsenter -t "$pid" -n -m -- "$@"
}

# (Output captured first: with pipefail, grep -q leaving early would fail the pipe.)
node_online() {
    local xml
    xml=$(on "$1" crm_mon -1 --output-as=xml)
    grep -q "<node name=\"$2\" id=\"[0-9]*\" online=\"true\"" <<<"$xml"
}

# node_stop NODE: the orderly way: pacemakerd stops the resources, then corosync.
node_stop() {
    local dir pid
    dir=$(node_dir "$1")
    pid=$(cat "$dir/pacemakerd.pid" 2>/dev/null) || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 120); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    fi
    pid=$(cat "$dir/corosync.pid" 2>/dev/null)
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    fi
    node_kill "$1"
}

# node_kill NODE: power loss: every process of the node is killed. The node's processes are
# those in its network namespace, which /run/netns/NODE pins: a mount namespace's inode number
# is reused once its last process is gone, often by the next `ip netns exec` of someone else.
# Its mount namespace goes with the last of them, and with it the node's mounts. Killing goes
# in rounds until nothing is left: a process forked between the listing and the kill (an
# executor starting an agent) would otherwise live on, keep the node's IPC sockets (abstract,
# per network namespace), and answer the node's next boot from a /dev/shm that is gone.
node_kill() {
    local pids
    for _ in $(seq 300); do
        pids=$(ip netns pids "$1" 2>/dev/null) || return 0
        [[ -z $pids ]] && return 0
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
        sleep 0.1
    done
    echo "power loss of $1: still alive after 30 s:" $(ps -o pid=,stat=,comm= -p "$(echo $pids | tr ' ' ,)") >&2
    return 1
}

# Refuse to run over another run's namespaces (LIVE_NETNS), make the work directory, and arm
# live_cleanup.
live_begin() {
    local n
    for n in "${LIVE_NETNS[@]}"; do
        [[ ! -e /run/netns/$n ]] || die "network namespace $n exists: another run? (ip netns del $n)"
    done
    LIVE_WORK=$(mktemp -d "/tmp/$PREFIX.XXXXXX")
    chmod 755 "$LIVE_WORK"
    trap live_cleanup EXIT
    trap 'exit 130' INT TERM
}

# The scripts' EXIT trap: every node's logs if the script failed, then everything it made
# (nodes, the loop device, the namespaces in LIVE_NETNS, the work directory) undone.
live_cleanup() {
    local rc=$? n
    set +e
    ((rc == 0)) || for n in "${LIVE_NODES[@]}"; do show_logs "$n"; done
    for n in "${LIVE_NODES[@]}"; do node_stop "$n"; done
    [[ -n ${loop:-} ]] && losetup -d "$loop"
    # Whatever else runs in the namespaces (a qnetd, a client) goes with them.
    for n in "${LIVE_NETNS[@]}"; do node_kill "$n"; ip netns del "$n" 2>/dev/null; done
    [[ -n ${LIVE_WORK:-} ]] && rm -rf "$LIVE_WORK"
    exit $rc
}

if [[ ${1:-} == --boot ]]; then
    set -euo pipefail
    node_boot "$2" "$3"
fi

