#!/bin/bash
# HA NFS on DRBD: promotable DRBD clone, then a group Filesystem -> nfsserver -> exportfs -> VIP
# on the Primary. Same interface as crm-examples/ha-nfs.pcs.sh (used instead once it exists):
#   AGENTS=ferro|reference  CIB=<file for pcs -f>  NODE1 NODE2  DRBD_RESOURCE=r0  DEVICE=/dev/drbd0
#   DIRECTORY=/data  FSTYPE=xfs  CLIENTSPEC=192.168.48.0/24  VIP=192.168.48.200  CIDR=24  FAILBACK=yes|no
# Lab extension: AGENT_drbd / AGENT_Filesystem / AGENT_nfsserver / AGENT_exportfs / AGENT_IPaddr2
# override the agent of one resource (the lab falls back to the reference agent where ferro has none).
set -euo pipefail
: "${CIB:?CIB=<file>}" "${NODE1:?}" "${NODE2:?}"
AGENTS=${AGENTS:-reference} DRBD_RESOURCE=${DRBD_RESOURCE:-r0} DEVICE=${DEVICE:-/dev/drbd0}
DIRECTORY=${DIRECTORY:-/data} FSTYPE=${FSTYPE:-xfs} CLIENTSPEC=${CLIENTSPEC:-192.168.48.0/24}
VIP=${VIP:-192.168.48.200} CIDR=${CIDR:-24} FAILBACK=${FAILBACK:-yes}

agent() {  # agent NAME -> provider-qualified agent
  local o="AGENT_$1"
  if [[ -n ${!o:-} ]]; then echo "${!o}"; return; fi
  if [[ $AGENTS == ferro ]]; then echo "ocf:ferro:$1"; return; fi
  case $1 in drbd) echo ocf:linbit:drbd ;; *) echo "ocf:heartbeat:$1" ;; esac
}
p() { pcs -f "$CIB" "$@"; }

p property set stonith-enabled=true stonith-action=off no-quorum-policy=stop
# Two nodes racing to fence each other: the one holding the service gets a head start.
p property set priority-fencing-delay=15s

p resource create drbd_"$DRBD_RESOURCE" "$(agent drbd)" drbd_resource="$DRBD_RESOURCE" \
  op start timeout=240s op stop timeout=100s op promote timeout=90s op demote timeout=90s \
  op monitor interval=29s role=Promoted timeout=30s op monitor interval=31s role=Unpromoted timeout=30s \
  promotable promoted-max=1 promoted-node-max=1 clone-max=2 clone-node-max=1 notify=true
clone=drbd_${DRBD_RESOURCE}-clone

p resource create fs_data "$(agent Filesystem)" device="$DEVICE" directory="$DIRECTORY" fstype="$FSTYPE" \
  op start timeout=60s op stop timeout=60s op monitor interval=20s timeout=40s --group g_nfs
# NFS state (v4 client records, statd) lives on the replicated filesystem so clients can reclaim.
p resource create nfsd "$(agent nfsserver)" nfs_shared_infodir="$DIRECTORY/nfsinfo" nfs_ip="$VIP" \
  op start timeout=60s op stop timeout=60s op monitor interval=10s timeout=30s --group g_nfs
p resource create export_data "$(agent exportfs)" clientspec="$CLIENTSPEC" directory="$DIRECTORY" \
  options=rw,sync,no_root_squash fsid=1 \
  op start timeout=40s op stop timeout=120s op monitor interval=10s timeout=20s --group g_nfs
p resource create vip "$(agent IPaddr2)" ip="$VIP" cidr_netmask="$CIDR" \
  op monitor interval=10s timeout=20s --group g_nfs
p resource meta g_nfs priority=10

p constraint order promote "$clone" then start g_nfs
p constraint colocation add g_nfs with Promoted "$clone" INFINITY
# The seed's preference: NODE1 is the Primary. FAILBACK=yes lets it take the service back when it
# returns; FAILBACK=no makes stickiness outweigh the preference, so the service stays put.
p constraint location "$clone" rule role=Promoted score=100 "#uname" eq "$NODE1"
if [[ $FAILBACK == yes ]]; then
  p resource defaults update resource-stickiness=0
else
  p resource defaults update resource-stickiness=200
fi
