#!/bin/bash
# DRBD's fence-peer handler against a live one-node Pacemaker: this build (as
# crm-fence-peer.9.sh) and drbd-utils' crm-fence-peer.9.sh, case by case, on the same
# cluster, with the environment DRBD 9 gives a handler and the DRBD state from a drbdsetup
# on PATH that prints a captured `events2 --now` (this machine has no DRBD).
#
#   tests/live/fence-peer.sh     as root, after cargo build; BENCH=N times each handler N times
#
#  1. boots one node (tests/live/lib.sh: corosync 3 + pacemakerd in namespaces), adds a
#     promotable clone for DRBD resource r0 (target-role Stopped: nothing runs) and a second
#     node "peer" that never joins, whose node_state the script writes as Pacemaker would;
#  2. per case: the peer's state, a handler run, its exit code and the constraint it left
#     (`cibadmin -Q -o constraints`), which must be the same for both handlers:
#       shot peer (expected down)                  -> 7, constraint placed
#       lost peer (no STONITH)                     -> 5, constraint placed
#       lost peer, this disk only Consistent       -> 5, nothing placed
#       STONITH on, fencing pending, --timeout=4   -> 5 after the timeout
#       STONITH on, the peer's fencing recorded 1 s into the wait -> 7 (this build only:
#         the reference polls every 2 s plus its crmadmin timeouts)
#       no peer left to fence (all DRBD nodes UpToDate) -> 4
#       unfence after resync                       -> 0, constraint removed
#  3. BENCH=N: the shot-peer case N times per handler, wall time of each run.
# Exit status 0 only if every check passed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PREFIX=${PREFIX:-fcfp}
NODE=$PREFIX-n1
TIMEOUT=${TIMEOUT:-120}
BENCH=${BENCH:-0}
REFERENCE=${REFERENCE:-/usr/lib/drbd/crm-fence-peer.9.sh}
LIVE_NODES=()
LIVE_DC=
LIVE_NETNS=("$NODE")
ID=drbd-fence-by-handler-r0-drbd_r0-clone

require_tools corosync pacemakerd cibadmin crm_mon crm_node crmadmin unshare nsenter
[[ -f $REFERENCE ]] || die "no $REFERENCE (apt-get install drbd-utils)"
bin=${FERRO_BIN:-$LIVE_ROOT/target/debug/ferro-ocf}
[[ -x $bin ]] || die "no ferro-ocf binary: cargo build first, or FERRO_BIN="
live_begin

# The handlers under their drbd.conf names, and the fake drbdsetup.
h=$LIVE_WORK/handlers
mkdir -p "$h/ferro" "$h/reference" "$h/bin"
cp "$bin" "$h/ferro/ferro-ocf"
ln -s ferro-ocf "$h/ferro/crm-fence-peer.9.sh"
ln -s ferro-ocf "$h/ferro/crm-unfence-peer.9.sh"
cp "$REFERENCE" "$h/reference/crm-fence-peer.9.sh"
ln -s crm-fence-peer.9.sh "$h/reference/crm-unfence-peer.9.sh"
printf '#!/bin/sh\nexec cat "$FAKE_EVENTS2"\n' > "$h/bin/drbdsetup"
chmod -R a+rX "$h"
chmod +x "$h/bin/drbdsetup"

events2() {  # events2 DISK PEER_DISK > file
    printf '%s\n' \
        "exists resource name:r0 role:Primary suspended:no write-ordering:flush" \
        "exists connection name:r0 peer-node-id:1 conn-name:peer connection:Connecting role:Unknown" \
        "exists device name:r0 volume:0 minor:0 disk:$1 client:no quorum:yes" \
        "exists peer-device name:r0 peer-node-id:1 conn-name:peer volume:0 replication:Off peer-disk:$2 peer-client:no resync-suspended:no" \
        "exists -"
}
events2 UpToDate DUnknown > "$h/lost.events2"
events2 Consistent DUnknown > "$h/consistent.events2"
events2 UpToDate UpToDate > "$h/synced.events2"

ip netns add "$NODE"
corosync_conf "$PREFIX" "$NODE=127.0.0.1" > "$LIVE_WORK/corosync.conf"
node_start "$NODE" "$LIVE_WORK/corosync.conf" none
LIVE_DC=$NODE
wait_for "node $NODE online" "$TIMEOUT" node_online "$NODE" "$NODE"
quorate() { [[ $(on "$NODE" crm_node --quorum) == 1 ]]; }
wait_for "partition quorate" "$TIMEOUT" quorate

log "a promotable clone for r0 (Stopped) and a node 'peer' that never joins"
on "$NODE" crm_attribute -t crm_config -n stonith-enabled -v false
on "$NODE" cibadmin --create -o resources -X '<clone id="drbd_r0-clone">
  <meta_attributes id="drbd_r0-clone-meta"><nvpair id="drbd_r0-clone-promotable" name="promotable" value="true"/><nvpair id="drbd_r0-clone-target-role" name="target-role" value="Stopped"/></meta_attributes>
  <primitive id="drbd_r0" class="ocf" provider="pacemaker" type="Stateful">
    <instance_attributes id="drbd_r0-ia"><nvpair id="drbd_r0-ia-res" name="drbd_resource" value="r0"/></instance_attributes>
  </primitive></clone>'
on "$NODE" cibadmin --create -o nodes -X '<node id="2" uname="peer"/>'

peer_state() {  # peer_state IN_CCM CRMD EXPECTED: the peer's node_state as the controller writes it
    on "$NODE" cibadmin --modify --allow-create -o status -X \
        "<node_state id=\"2\" uname=\"peer\" in_ccm=\"$1\" crmd=\"$2\" join=\"down\" expected=\"$3\"/>"
}

constraint() {  # the fence constraint as the CIB holds it, or nothing
    on "$NODE" cibadmin -Q -o constraints | sed -n "/<rsc_location[^>]*id=\"$ID\"/,/<\/rsc_location>/p"
}

drop_constraint() {
    on "$NODE" cibadmin -D -X "<rsc_location id=\"$ID\" rsc=\"drbd_r0-clone\"/>" >/dev/null 2>&1 || true
}

# handler WHO PROGRAM EVENTS2 [ENV... --] [ARGS...]: run as this node (uname -n = $NODE) with
# DRBD 9's environment; sets rc and secs.
handler() {
    local who=$1 prog=$2 ev=$3 t0 t1 envs=()
    shift 3
    while [[ $# -gt 0 && $1 != -- ]]; do envs+=("$1"); shift; done
    [[ ${1:-} == -- ]] && shift
    local run=("$h/$who/$prog")
    [[ $who == reference ]] && run=(bash -x "$h/$who/$prog")
    t0=$(date +%s%N)
    set +e
    on "$NODE" unshare -u sh -c 'hostname "$0" && exec "$@"' "$NODE" \
        env -i PATH="$h/bin:/usr/sbin:/usr/bin:/sbin:/bin" FAKE_EVENTS2="$h/$ev.events2" \
        DRBD_RESOURCE=r0 DRBD_CONF=/etc/drbd.conf DRBD_MINOR=0 DRBD_MY_NODE_ID=0 \
        DRBD_NODE_ID_0="$NODE" DRBD_NODE_ID_1=peer DRBD_PEER_NODE_ID=1 UP_TO_DATE_NODES=0x1 \
        "${envs[@]}" "${run[@]}" --lock-file=NONE "$@" > "$LIVE_WORK/$who.out" 2>&1
    rc=$?
    set -e
    t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 ))
}

# case NAME WANT_RC WANT_CONSTRAINT(yes/no) EVENTS2 [ENV... --] [ARGS...]: both handlers,
# one after the other from the same starting point; the constraints they leave must match.
case_() {
    local name=$1 want=$2 placed=$3 ev=$4 who got=()
    shift 4
    for who in reference ferro; do
        drop_constraint
        handler "$who" crm-fence-peer.9.sh "$ev" "$@"
        constraint > "$LIVE_WORK/$who.constraint"
        echo "$name: $who exit $rc in ${ms} ms, constraint $([[ -s $LIVE_WORK/$who.constraint ]] && echo placed || echo none)"
        [[ $rc == "$want" ]] || { cat "$LIVE_WORK/$who.out"; die "$name: $who exited $rc, want $want"; }
        if [[ $placed == yes ]]; then
            [[ -s $LIVE_WORK/$who.constraint ]] || die "$name: $who placed no constraint"
        else
            [[ ! -s $LIVE_WORK/$who.constraint ]] || die "$name: $who placed a constraint"
        fi
    done
    diff -u "$LIVE_WORK/reference.constraint" "$LIVE_WORK/ferro.constraint" ||
        die "$name: the constraints differ (reference -, ferro +)"
    echo "ok: $name: same exit code ($want) and the same constraint from both"
}

log "cases"
peer_state false offline down
case_ "shot peer" 7 yes lost
echo "--- the constraint both placed:"
cat "$LIVE_WORK/ferro.constraint"
peer_state false offline member
case_ "lost peer, no STONITH" 5 yes lost
case_ "lost peer, this disk Consistent" 5 no consistent
on "$NODE" crm_attribute -t crm_config -n stonith-enabled -v true
case_ "STONITH on, fencing pending" 5 yes lost -- --timeout=4
peer_state true online member
case_ "no peer left to fence (all DRBD nodes UpToDate)" 4 yes consistent UP_TO_DATE_NODES=0x3 --

log "STONITH on: the peer's fencing is recorded while this build waits"
peer_state false offline member
drop_constraint
( sleep 1; peer_state false offline down ) &
handler ferro crm-fence-peer.9.sh lost -- --timeout=30
wait
echo "ferro: exit $rc in ${ms} ms"
[[ $rc == 7 ]] || { cat "$LIVE_WORK/ferro.out"; die "want 7 once the peer is recorded down"; }
((ms < 10000)) || die "waited ${ms} ms for a change recorded after 1 s"
echo "ok: fencing seen within ${ms} ms, exit 7"
on "$NODE" crm_attribute -t crm_config -n stonith-enabled -v false

log "unfence after resync"
for who in reference ferro; do
    drop_constraint
    handler ferro crm-fence-peer.9.sh lost
    [[ -n $(constraint) ]] || die "no constraint to unfence"
    handler "$who" crm-unfence-peer.9.sh synced UP_TO_DATE_NODES=0x3 --
    echo "unfence: $who exit $rc in ${ms} ms"
    [[ $rc == 0 && -z $(constraint) ]] || { cat "$LIVE_WORK/$who.out"; die "$who did not remove the constraint"; }
done
echo "ok: both removed the constraint, exit 0"

if ((BENCH > 0)); then
    log "bench: shot peer, constraint placed, exit 7; $BENCH runs each"
    peer_state false offline down
    for who in reference ferro; do
        all=()
        for _ in $(seq "$BENCH"); do
            drop_constraint
            handler "$who" crm-fence-peer.9.sh lost
            [[ $rc == 7 ]] || die "bench: $who exited $rc"
            all+=("$ms")
        done
        sorted=$(printf '%s\n' "${all[@]}" | sort -n)
        echo "bench: $who: median $(sed -n "$(( (BENCH + 1) / 2 ))p" <<<"$sorted") ms, min $(head -1 <<<"$sorted") ms, max $(tail -1 <<<"$sorted") ms (runs: ${all[*]})"
    done
fi
drop_constraint
log "PASS"
