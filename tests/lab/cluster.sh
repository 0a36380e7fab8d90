# shellcheck shell=bash
# DRBD initialisation, the pacemaker cluster, the client mount, ferro installation.
# NODES (lib.sh): the cluster nodes; node1 and node2 hold the data, a TIEBREAKER does not.

AGENT_NAMES=(drbd Filesystem nfsserver exportfs IPaddr2)
AGENT_CHOICE="drbd=ocf:linbit:drbd Filesystem,nfsserver,exportfs,IPaddr2=ocf:heartbeat"
declare -A AGENT_OF=()

on_nodes() {  # on_nodes CMD [VM...] : run on the VMs (default: all NODES) in parallel, fail if one fails
  local pids=() vm rc=0 cmd=$1; shift
  (($#)) || set -- "${NODES[@]}"
  for vm in "$@"; do lab_ssh "$vm" "$cmd" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}

drbd_init() {
  local t=$SECONDS
  on_nodes 'modprobe drbd; drbdadm down r0 >/dev/null 2>&1; drbdadm -- --force create-md r0 >/dev/null 2>&1 && drbdadm up r0 && mkdir -p /data' node1 node2 ||
    die "DRBD r0 not created (create-md, up) on a node"
  # The tiebreaker has no disk, so no metadata: it only comes up.
  [[ -z $TIEBREAKER ]] || lab_ssh "$TIEBREAKER" 'modprobe drbd; drbdadm down r0 >/dev/null 2>&1; drbdadm up r0' ||
    die "DRBD r0 not up on $TIEBREAKER"
  wait_for "DRBD connected" 60 drbd_is node1 'Connected*' ||
    { drbd_state node1; die "DRBD did not connect"; }
  lab_ssh node1 'drbdadm primary --force r0 && mkfs.xfs -q -f /dev/drbd0'
  wait_for "DRBD initial sync" 300 drbd_is node1 'Connected Primary/Secondary UpToDate/UpToDate' ||
    { drbd_state node1; die "DRBD did not sync"; }
  if [[ -n $TIEBREAKER ]]; then
    wait_for "$TIEBREAKER connected, Diskless with quorum" 120 tiebreaker_ok "$TIEBREAKER" ||
      die "$TIEBREAKER: $(tiebreaker_state "$TIEBREAKER")"
    log "$TIEBREAKER: $(tiebreaker_state "$TIEBREAKER")"
  fi
  log "DRBD r0 created, synced, XFS made: $((SECONDS - t))s (DRBD $(lab_ssh node1 cat /sys/module/drbd/version))"
  if ((SMOKE)); then return; fi
  lab_ssh node1 'drbdadm secondary r0'
  on_nodes 'drbdadm down r0'
}

cluster_start() {
  if [[ -n $TIEBREAKER ]]; then
    # Three votes, a majority is two: corosync's defaults, without the image's two_node.
    local vm
    for vm in "${NODES[@]}"; do lab_scp_to "$vm" "$LAB_DIR/corosync-3nodes.conf" /etc/corosync/corosync.conf; done
  elif [[ -n $ARBITER ]]; then
    # Two votes and the arbiter's: no two_node.
    local vm
    lab_qnetd_start
    lab_qdevice_corosync_conf >"$LAB_RUN/corosync.conf"
    for vm in "${NODES[@]}"; do lab_scp_to "$vm" "$LAB_RUN/corosync.conf" /etc/corosync/corosync.conf; done
  fi
  [[ -z $LAB_TOKEN ]] || lab_token "$LAB_TOKEN"
  on_nodes "systemctl start $CLUSTER_UNITS"
  wait_for "all nodes online" 240 online_all || die "cluster did not form"
  log "cluster formed"
}
# lab_token MS : corosync's token on every node, and DRBD's ping-int to match (whole seconds,
# rounded up), before the cluster starts and brings DRBD up from r0.res.
lab_token() {
  local ms=$1 ping=$(((${1} + 999) / 1000))
  on_nodes "sed -i 's/^\([[:space:]]*token:\).*/\1 $ms/' /etc/corosync/corosync.conf &&
    grep -q '^[[:space:]]*token: $ms\$' /etc/corosync/corosync.conf &&
    sed -i '/ping-int/d; s/^\([[:space:]]*\)net {/&\n\1  ping-int $ping;/' /etc/drbd.d/r0.res &&
    drbdadm dump r0 | grep -q 'ping-int *$ping;'" ||
    die "could not set corosync's token $ms ms and DRBD's ping-int $ping s"
  log "corosync token $ms ms, DRBD ping-int $ping s"
}
# All NODES online in node1's view (crm_mon lists them sorted).
online_all() { lab_ssh node1 "crm_mon -1 | grep -q 'Online: \[ ${NODES[*]} \]'"; }

# cluster_configure FAILBACK : (re)write the whole configuration from the pcs script, push it.
# pcs costs seconds per call in a TCG guest, so the generated configuration is cached by the
# script's content, its inputs and this function (the fence devices are made here).
cluster_configure() {
  local failback=$1 script=$LAB_DIR/../../crm-examples/ha-nfs.pcs.sh overrides="" a key cib
  for a in "${!AGENT_OF[@]}"; do overrides+="AGENT_$a=${AGENT_OF[$a]} "; done
  [[ -z $TIEBREAKER ]] || overrides+="TIEBREAKER=$TIEBREAKER "
  [[ -z $ARBITER ]] || overrides+="ARBITER=$ARBITER "
  ((LAB_TICKLE)) || overrides+="TICKLE_DIR= "
  key=$( { cat "$script"; declare -f cluster_configure; echo "$AGENTS $failback $overrides"; } |
    sha256sum | cut -c1-16)
  cib=$LAB_CACHE/cib/$key.xml
  if [[ ! -f $cib ]]; then
    lab_scp_to node1 "$script" /root/ha-nfs.pcs.sh
    lab_ssh node1 "set -e; rm -f /root/cib.xml; cibadmin --empty > /root/cib.xml
      env AGENTS=$AGENTS CIB=/root/cib.xml NODE1=node1 NODE2=node2 DRBD_RESOURCE=r0 DEVICE=/dev/drbd0 \
        DIRECTORY=/data FSTYPE=xfs CLIENTSPEC=192.168.48.0/24 VIP=$LAB_VIP CIDR=24 FAILBACK=$failback \
        $overrides bash /root/ha-nfs.pcs.sh
      # Lab fencing: fence_lab asks the host to kill the node's qemu process.
      for n in ${NODES[*]}; do
        pcs -f /root/cib.xml stonith create fence_\$n fence_lab plug=\$n pcmk_host_list=\$n \
          op monitor interval=60s timeout=60s
        pcs -f /root/cib.xml constraint location fence_\$n avoids \$n
      done" > "$LAB_RUN/logs/configure-$failback.log" 2>&1 ||
      { cat "$LAB_RUN/logs/configure-$failback.log" >&2; die "cluster configuration failed"; }
    mkdir -p "$LAB_CACHE/cib"
    lab_ssh node1 'cat /root/cib.xml' > "$cib.tmp" && mv "$cib.tmp" "$cib"
  fi
  cp "$cib" "$LAB_RUN/logs/cib-$failback.xml"
  python3 "$LAB_DIR/scale-timeouts.py" "$LAB_RUN/logs/cib-$failback.xml" "${FERRO_LAB_TIMEOUT_SCALE:-4}" >&2
  lab_scp_to node1 "$LAB_RUN/logs/cib-$failback.xml" /root/cib.xml
  lab_ssh node1 'pcs cluster cib-push /root/cib.xml --config' >> "$LAB_RUN/logs/configure-$failback.log" 2>&1 ||
    die "pcs cluster cib-push failed"
  log "configuration pushed (crm-examples/ha-nfs.pcs.sh, FAILBACK=$failback)"
}

# What an admin would look at: crm_mon from a node that is up, and the client's mount.
cluster_show() {
  local vm
  for vm in "${NODES[@]}"; do
    vm_pid "$vm" >/dev/null || continue
    echo "--- crm_mon on $vm"
    SSH_T=60 lab_ssh "$vm" 'crm_mon -1 -r | sed -n "/^Node List/,\$p"' && break
  done
  echo "--- client: df /mnt/data, the files the experiments wrote"
  SSH_T=60 lab_ssh client 'df -h /mnt/data | tail -1; ls -l /mnt/data' || true
}

# The node the service runs on (from whichever node answers), empty if none.
service_node() {
  local vm n
  for vm in "${NODES[@]}"; do
    vm_pid "$vm" >/dev/null || continue
    n=$(SSH_T=20 lab_ssh "$vm" "crm_resource -r vip -W -Q 2>/dev/null | head -1") || continue
    [[ -n $n ]] && { echo "$n"; return; }
  done
}

other() { [[ $1 == node1 ]] && echo node2 || echo node1; }

cluster_wait_service() {
  wait_for "service (VIP answers NFS)" "$1" lab_ssh client "ping -c1 -W1 $LAB_VIP && rpcinfo -t $LAB_VIP nfs 4"
}

client_mount() {
  lab_ssh client "mkdir -p /mnt/data && mount -t nfs -o ${FERRO_LAB_NFS_OPTS:-vers=4.2,hard,proto=tcp,timeo=50,retrans=3} $LAB_VIP:/data /mnt/data"
  lab_scp_to client "$LAB_DIR/writer.py" /root/writer.py
  log "client mounted $LAB_VIP:/data ($(lab_ssh client "grep ' /mnt/data ' /proc/mounts"))"
}

# Install the package on both nodes; every agent ferro does not implement yet falls back to the
# reference agent for that resource, and the choice is printed with the results.
# DRBD calls its handlers through drbdadm, which reads the configuration at each call: pointing
# r0's handlers at ferro-ocf's drop-ins takes effect from the next fence-peer on.
lab_ferro_handlers() {
  on_nodes 'sed -i "s#/usr/lib/drbd/crm-#/usr/lib/ferro-ocf/crm-#" /etc/drbd.d/r0.res &&
    grep -q "/usr/lib/ferro-ocf/crm-fence-peer.9.sh" /etc/drbd.d/r0.res && test -x /usr/lib/ferro-ocf/crm-fence-peer.9.sh' ||
    die "r0's handlers not switched to ferro-ocf's"
  AGENT_CHOICE+=" fence-peer=ferro"
}

lab_install_ferro() {
  local a rc choice=""
  lab_install_deb "${NODES[@]}"
  for a in "${AGENT_NAMES[@]}"; do
    rc=0
    lab_ssh node1 "OCF_ROOT=/usr/lib/ocf /usr/lib/ocf/resource.d/ferro/$a meta-data >/dev/null &&
      OCF_ROOT=/usr/lib/ocf /usr/lib/ocf/resource.d/ferro/$a monitor >/dev/null 2>&1" || rc=$?
    if ((rc == 3)) || ! lab_ssh node1 "OCF_ROOT=/usr/lib/ocf /usr/lib/ocf/resource.d/ferro/$a meta-data >/dev/null 2>&1"; then
      # OCF_ERR_UNIMPLEMENTED (or no metadata): not written yet, use the reference agent.
      [[ $a == drbd ]] && AGENT_OF[$a]=ocf:linbit:drbd || AGENT_OF[$a]=ocf:heartbeat:$a
    else
      AGENT_OF[$a]=ocf:ferro:$a
    fi
    choice+="$a=${AGENT_OF[$a]} "
  done
  AGENT_CHOICE=${choice% }
  log "ferro installed; per-resource agents: $AGENT_CHOICE"
}
