#!/bin/bash
# The DRBD fence-peer handler's wall time, this build against drbd-utils' crm-fence-peer.9.sh,
# on copies of the same CIB file (CIB_file=: no cluster needed), alternately, N runs each:
#   fence, constraint already in place     -> 4  (CIB read, clone found, constraint compared)
#   fence, peer shot, quorum not confirmed -> 1  (also the DC read and the peer's node_state;
#                                                 crm_node cannot confirm quorum for a file)
#   unfence after resync                    -> 0  (constraint removed)
# The placing paths need quorum, hence a cluster: tests/live/fence-peer.sh with BENCH=N.
#
#   bench/fence-peer.sh [N]     as root (a UTS namespace makes `uname -n` node1), after cargo build
set -euo pipefail
N=${1:-20}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${FERRO_BIN:-$ROOT/target/release/ferro-ocf}
[[ -x $BIN ]] || BIN=$ROOT/target/debug/ferro-ocf
REFERENCE=${REFERENCE:-/usr/lib/drbd/crm-fence-peer.9.sh}
[[ -f $REFERENCE ]] || { echo "no $REFERENCE" >&2; exit 1; }
W=$(mktemp -d /tmp/ferro-bench-fp.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/ferro" "$W/reference" "$W/bin"
ln -s "$BIN" "$W/ferro/crm-fence-peer.9.sh"
ln -s "$BIN" "$W/ferro/crm-unfence-peer.9.sh"
cp "$REFERENCE" "$W/reference/crm-fence-peer.9.sh"
ln -s crm-fence-peer.9.sh "$W/reference/crm-unfence-peer.9.sh"
printf '#!/bin/sh\nexec cat "$FAKE_EVENTS2"\n' > "$W/bin/drbdsetup"
chmod +x "$W/bin/drbdsetup"
ev() {
    printf '%s\n' "exists resource name:r0 role:Primary suspended:no" \
        "exists connection name:r0 peer-node-id:1 conn-name:node2 connection:Connecting role:Unknown" \
        "exists device name:r0 volume:0 minor:0 disk:UpToDate client:no quorum:yes" \
        "exists peer-device name:r0 peer-node-id:1 conn-name:node2 volume:0 replication:Off peer-disk:$1 peer-client:no" \
        "exists -"
}
ev DUnknown > "$W/lost.events2"
ev UpToDate > "$W/synced.events2"
sed -e '0,/admin_epoch="0">/s//admin_epoch="0" have-quorum="1" dc-uuid="1">/' \
    -e 's|<status/>|<status><node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"/><node_state id="2" uname="node2" in_ccm="false" crmd="offline" join="down" expected="down"/></status>|' \
    "$ROOT/crm-examples/ha-nfs.cib.xml" > "$W/base.xml"
PLACED='<rsc_location rsc="drbd_r0-clone" id="drbd-fence-by-handler-r0-drbd_r0-clone"><rule role="Master" score="-INFINITY" id="drbd-fence-by-handler-r0-rule-drbd_r0-clone"><expression attribute="#uname" operation="ne" value="node1" id="drbd-fence-by-handler-r0-expr-0-drbd_r0-clone"/></rule></rsc_location>'
cp "$W/base.xml" "$W/placed.xml"
CIB_file=$W/placed.xml cibadmin --create -o constraints -X "$PLACED"

# one WHO PROGRAM CIB EVENTS2: prints "rc ms"
one() {
    local who=$1 prog=$2 cib=$3 ev=$4 run t0 t1 rc
    cp "$W/$cib.xml" "$W/run.xml"
    run=("$W/$who/$prog")
    t0=$(date +%s%N)
    set +e
    unshare -u sh -c 'hostname node1 && exec "$@"' sh env -i \
        PATH="$W/bin:/usr/sbin:/usr/bin:/sbin:/bin" CIB_file="$W/run.xml" FAKE_EVENTS2="$W/$ev.events2" \
        DRBD_RESOURCE=r0 DRBD_MINOR=0 DRBD_MY_NODE_ID=0 DRBD_NODE_ID_0=node1 DRBD_NODE_ID_1=node2 \
        DRBD_PEER_NODE_ID=1 UP_TO_DATE_NODES=0x1 "${run[@]}" --lock-file=NONE >/dev/null 2>&1
    rc=$?
    set -e
    t1=$(date +%s%N)
    echo "$rc $(( (t1 - t0) / 1000 ))"
}

median() { sort -n | awk '{a[NR]=$1} END {printf "%.1f", (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "| case | N | ms ferro (median) | ms crm-fence-peer.9.sh (median) | ratio | rc ferro/ref |"
echo "|---|---|---|---|---|---|"
for c in "fence, constraint already in place|crm-fence-peer.9.sh|placed|lost" \
         "fence, peer shot, quorum not confirmed|crm-fence-peer.9.sh|base|lost" \
         "unfence after resync|crm-unfence-peer.9.sh|placed|synced"; do
    IFS='|' read -r name prog cib ev <<<"$c"
    : > "$W/t.ferro"; : > "$W/t.reference"
    for _ in $(seq "$N"); do
        for who in reference ferro; do
            read -r rc us < <(one "$who" "$prog" "$cib" "$ev")
            echo "$us" >> "$W/t.$who"
            echo "$rc" > "$W/rc.$who"
        done
    done
    f=$(median < "$W/t.ferro"); r=$(median < "$W/t.reference")
    printf '| %s | %d | %.1f | %.1f | %.0f× | %s/%s |\n' "$name" "$N" "$(bc -l <<<"$f/1000")" \
        "$(bc -l <<<"$r/1000")" "$(bc -l <<<"$r/$f")" "$(cat "$W/rc.ferro")" "$(cat "$W/rc.reference")"
done
