#!/bin/bash
# HA NFS on two nodes: DRBD r0 -> XFS /data -> NFS server -> export /data -> VIP.
#
#   drbd_r0-clone   promotable clone of drbd (one Promoted, one Unpromoted)
#   g_nfs           group, started in this order, stopped in reverse:
#     fs_data         Filesystem /dev/drbd0 on /data
#     nfsd            nfsserver
#     export_data     exportfs /data to the client subnet
#     vip             IPaddr2 192.168.48.200/24 (last: clients see the address
#                     only once the export is there, and lose it first on stop)
#   g_nfs runs only where DRBD is Promoted, and starts only after the promotion.
#
# Usage (all settings through the environment, defaults shown):
#   AGENTS=ferro         ferro: ocf:ferro:*; reference: ocf:linbit:drbd + ocf:heartbeat:*
#   CIB=                 a CIB file to edit offline (pcs -f); unset: edit a copy of the
#                        running cluster's CIB and push the difference in one step
#   NODE1=node1 NODE2=node2   node names; NODE1 is the seed's "Primary"
#   DRBD_RESOURCE=r0 DEVICE=/dev/drbd0 DIRECTORY=/data FSTYPE=xfs
#   CLIENTSPEC=192.168.48.0/24 FSID=1 VIP=192.168.48.200 CIDR=24 NIC=
#   NFS_INFODIR=$DIRECTORY/.nfsinfo   NFS state kept on the replicated filesystem
#   TICKLE_DIR=$NFS_INFODIR   (ocf:ferro:IPaddr2 only) where the VIP's TCP connections are
#                        recorded on the replicated filesystem, so that the node taking the
#                        address over resets its clients' connections at once (tickle ACKs)
#                        instead of leaving them to TCP's backoff. It pays whenever the
#                        address is back before a Linux NFS client drops its connection itself
#                        (about 19 s): a switchover, a failed nfs-server, and a power loss with
#                        ARBITER= or TIEBREAKER= and corosync token 3000 ms (README.md;
#                        docs/lab.md). Empty: none (as the reference agents)
#   FAILBACK=yes         yes: the Promoted role (and so everything) goes back to NODE1
#                        when it returns; no: resources stay where they run (stickiness)
#   STONITH=yes          yes: fencing stays on; add a fence device (see README.md);
#                        no: stonith-enabled=false, only to try the configuration out
#   TIEBREAKER=          a third cluster node that never runs the service (DRBD 9, `disk none`
#                        there: crm-examples/drbd9-tiebreaker.res): the clone gets a third,
#                        diskless instance that is never promoted, g_nfs never runs there, and
#                        the fence-race delay of two nodes is left out (README.md)
#   ARBITER=             the host of a corosync-qnetd that gives the two nodes their third vote
#                        (corosync-qdevice, set up first: README.md, "A quorum arbiter"): only
#                        the partition holding that vote has quorum and fences, so the
#                        fence-race delay of two nodes is left out. On a running cluster the
#                        script checks that the quorum device is there.
#   AGENT_drbd, AGENT_Filesystem, AGENT_nfsserver, AGENT_exportfs, AGENT_IPaddr2:
#                        the agent for one resource, overriding AGENTS (e.g. ocf:heartbeat:exportfs)
#
# Operation timeouts and intervals are not written here: pcs takes them from each
# agent's meta-data (the agents must be installed where pcs runs), so they are the
# values the agent advertises (ocf-metadata/*.xml for the ferro agents).
#
# DRBD resource-level fencing lives in the DRBD configuration, not in the CIB: with
#   net { fencing resource-only; }        (DRBD 9; DRBD 8.4: in the disk section)
#   handlers { fence-peer "/usr/lib/drbd/crm-fence-peer.9.sh";
#              after-resync-target "/usr/lib/drbd/crm-unfence-peer.9.sh"; }
# a Primary that loses its peer adds a -INFINITY location constraint for the Promoted
# role of drbd_r0-clone on every node but itself (id drbd-fence-by-handler-r0-...),
# and removes it once the peer has resynced. The handler finds the clone by its
# drbd_resource=r0 parameter, so it works for ocf:ferro:drbd as for ocf:linbit:drbd.
set -euo pipefail

AGENTS=${AGENTS:-ferro}
NODE1=${NODE1:-node1}
NODE2=${NODE2:-node2}
DRBD_RESOURCE=${DRBD_RESOURCE:-r0}
DEVICE=${DEVICE:-/dev/drbd0}
DIRECTORY=${DIRECTORY:-/data}
FSTYPE=${FSTYPE:-xfs}
CLIENTSPEC=${CLIENTSPEC:-192.168.48.0/24}
FSID=${FSID:-1}
VIP=${VIP:-192.168.48.200}
CIDR=${CIDR:-24}
NIC=${NIC:-}
NFS_INFODIR=${NFS_INFODIR-$DIRECTORY/.nfsinfo}
TICKLE_DIR=${TICKLE_DIR-$NFS_INFODIR}
FAILBACK=${FAILBACK:-yes}
STONITH=${STONITH:-yes}
TIEBREAKER=${TIEBREAKER:-}
ARBITER=${ARBITER:-}

case $AGENTS in ferro|reference) ;; *) echo "AGENTS must be ferro or reference, not '$AGENTS'" >&2; exit 2 ;; esac
# agent NAME: the resource agent for NAME, from AGENT_<NAME> or AGENTS.
agent() {
    local override=AGENT_$1
    if [[ -n ${!override:-} ]]; then echo "${!override}"
    elif [[ $AGENTS == ferro ]]; then echo "ocf:ferro:$1"
    elif [[ $1 == drbd ]]; then echo ocf:linbit:drbd
    else echo "ocf:heartbeat:$1"
    fi
}
case $FAILBACK in yes|no) ;; *) echo "FAILBACK must be yes or no" >&2; exit 2 ;; esac
case $STONITH in yes|no) ;; *) echo "STONITH must be yes or no" >&2; exit 2 ;; esac
case $TIEBREAKER in
    "$NODE1"|"$NODE2") echo "TIEBREAKER must be a third node, not $TIEBREAKER" >&2; exit 2 ;;
esac
case $ARBITER in
    "$NODE1"|"$NODE2") echo "ARBITER must be a third machine, not $ARBITER" >&2; exit 2 ;;
esac
if [[ -n $ARBITER && -n $TIEBREAKER ]]; then
    echo "ARBITER and TIEBREAKER are two ways to a third vote: one of them" >&2; exit 2
fi

# Build the whole configuration in a file, then push it at once: created one by one
# in a live cluster, the group could start before its constraints exist.
if [[ -n ${CIB:-} ]]; then
    live=
else
    # Leaving out the fence-race delay is safe only with the third vote really there.
    if [[ -n $ARBITER ]] && ! corosync-quorumtool -s 2>/dev/null | grep -q '^Flags:.*Qdevice'; then
        echo "ARBITER=$ARBITER: this cluster has no quorum device yet; first:" >&2
        echo "  pcs quorum device add model net host=$ARBITER algorithm=ffsplit" >&2
        exit 2
    fi
    live=$(mktemp -d)
    trap 'rm -rf "$live"' EXIT
    pcs cluster cib "$live/orig.xml"
    cp "$live/orig.xml" "$live/new.xml"
    CIB=$live/new.xml
fi
pcs=(pcs -f "$CIB")

# DRBD: one instance per node, one of them Promoted. notify=true is required by the
# agent (it reacts to its peer's start/stop/promote through notifications). With a
# tiebreaker it runs there too, diskless: DRBD counts that node for its quorum.
"${pcs[@]}" resource create drbd_r0 "$(agent drbd)" drbd_resource="$DRBD_RESOURCE" \
    promotable promoted-max=1 promoted-node-max=1 clone-max=$((${TIEBREAKER:+1} + 2)) clone-node-max=1 notify=true

"${pcs[@]}" resource create fs_data "$(agent Filesystem)" \
    device="$DEVICE" directory="$DIRECTORY" fstype="$FSTYPE" --group g_nfs
# NFS server state (NFSv4 client records, statd's monitor list) on the replicated
# filesystem lets clients reclaim their locks after a failover; nfs_ip is the address
# sm-notify announces to NFSv3 clients.
nfsd_opts=(nfs_ip="$VIP")
[[ -n $NFS_INFODIR ]] && nfsd_opts+=(nfs_shared_infodir="$NFS_INFODIR")
"${pcs[@]}" resource create nfsd "$(agent nfsserver)" "${nfsd_opts[@]}" --group g_nfs
# A fixed fsid keeps NFS file handles valid across failover: without it they derive
# from the device number, which may differ between the nodes.
"${pcs[@]}" resource create export_data "$(agent exportfs)" clientspec="$CLIENTSPEC" \
    directory="$DIRECTORY" options=rw,sync,no_root_squash fsid="$FSID" --group g_nfs
vip_opts=(ip="$VIP" cidr_netmask="$CIDR")
[[ -n $NIC ]] && vip_opts+=(nic="$NIC")
# tickle_dir is ocf:ferro:IPaddr2's addition (the reference's portblock has it): the VIP's
# connections recorded on the replicated filesystem, tickled by the node that takes over.
[[ -n $TICKLE_DIR && $(agent IPaddr2) == ocf:ferro:IPaddr2 ]] && vip_opts+=(tickle_dir="$TICKLE_DIR")
"${pcs[@]}" resource create vip "$(agent IPaddr2)" "${vip_opts[@]}" --group g_nfs

# The seed restarts a failed NFS server once and hands over if it fails again:
# a failed monitor restarts the resource in place until its fail count reaches
# migration-threshold, then the node is banned for it and the group moves.
# failure-timeout lets the node run it again after 10 minutes without failure.
"${pcs[@]}" resource meta g_nfs migration-threshold=2 failure-timeout=600s

"${pcs[@]}" constraint colocation add g_nfs with Promoted drbd_r0-clone INFINITY \
    id=col_nfs_on_drbd_promoted
"${pcs[@]}" constraint order promote drbd_r0-clone then start g_nfs \
    id=ord_drbd_promote_then_nfs

if [[ $FAILBACK == yes ]]; then
    # The seed's failback: NODE1 is the preferred Primary. The rule adds 1000 to the
    # promotion score of NODE1, but only once the drbd agent has given NODE1 a score
    # of its own ("defined master-drbd_r0": its data is usable). With both disks
    # UpToDate (10000 each) NODE1 wins, so when it returns and has resynced, DRBD is
    # promoted there again and g_nfs follows. While NODE1 resyncs it has no score or
    # a low one, and nothing moves. 1000 also outweighs the stickiness of the running
    # resources up to resource-stickiness=100 (pcs sets 1 for new clusters).
    "${pcs[@]}" constraint location drbd_r0-clone rule role=Promoted score=1000 \
        constraint-id=loc_drbd_promoted_prefers_node1 \
        \#uname eq "$NODE1" and defined master-drbd_r0
else
    # The stickier alternative: no preferred node. After a failover the resources
    # stay where they run, even when the old Primary returns and has resynced: one
    # interruption instead of two, and no move back onto a node that just failed.
    # Stickiness 100 per resource is more than any tie between two UpToDate disks.
    "${pcs[@]}" resource defaults update resource-stickiness=100
fi

if [[ -n $TIEBREAKER ]]; then
    # The tiebreaker has no data: never Promoted there (the drbd agents, ocf:linbit:drbd
    # as ocf:ferro:drbd, give a diskless node a promotion score one below an UpToDate
    # disk's), and the group never runs there.
    "${pcs[@]}" constraint location drbd_r0-clone rule role=Promoted score=-INFINITY \
        constraint-id=loc_drbd_never_promoted_on_tiebreaker \#uname eq "$TIEBREAKER"
    "${pcs[@]}" constraint location g_nfs avoids "$TIEBREAKER"
fi

if [[ $STONITH == yes && -z $TIEBREAKER$ARBITER ]]; then
    # Two nodes that lose each other try to fence each other at once. With
    # priority-fencing-delay, fencing the node that runs the prioritised group waits
    # 15 s, so that node wins the race and the service is not interrupted.
    "${pcs[@]}" resource meta g_nfs priority=10
    "${pcs[@]}" property set priority-fencing-delay=15s
elif [[ $STONITH == yes ]]; then
    # Three votes (a tiebreaker node or an arbiter): only a partition holding two of them
    # has quorum and fences, so there is no race to win and priority-fencing-delay would
    # only delay the fencing of a node that lost its power.
    :
else
    # Only for trying the configuration: without fencing, a node that stops answering
    # is assumed dead, and a network split can leave both nodes Primary.
    "${pcs[@]}" property set stonith-enabled=false
fi

if [[ -n $live ]]; then
    pcs cluster cib-push "$CIB" diff-against="$live/orig.xml"
fi
