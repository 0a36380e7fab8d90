# shellcheck shell=bash
# The issue's experiments. Each prints a verdict and figures and appends one row to $RESULTS:
# date kernel drbd agents experiment verdict lost_writes longest_stall_s fault_to_restored_s notes

client_time() { lab_ssh client 'date +%s.%N'; }

writer_start() {  # writer_start NAME
  W=$1 CERR=0
  lab_ssh client "rm -f /root/$W.ack /root/$W.stop /mnt/data/$W.dat
    setsid nohup python3 /root/writer.py write /mnt/data/$W.dat /root/$W.ack /root/$W.stop \
      >/root/$W.writer.log 2>&1 </dev/null &"
  wait_for "writer acks" 60 writer_acked_after 0 || return 1
  sleep 8
}
writer_last_ack() { lab_ssh client "tail -1 /root/$W.ack 2>/dev/null" | awk '{print $2}'; }
writer_acked_after() {  # writer_acked_after CLIENT_TIME
  local t; t=$(writer_last_ack); [[ -n $t ]] && awk -v a="$t" -v b="$1" 'BEGIN{exit !(a > b)}'
}
writer_flowing() {  # writes acknowledged again after now
  local t; t=$(client_time)
  wait_for "client writes acknowledged" "${1:-300}" writer_acked_after "$t"
}
# writer_stalled : no write acknowledged for 2 s (client clock).
writer_stalled() {
  lab_ssh client "t=\$(tail -1 /root/$W.ack 2>/dev/null | cut -d' ' -f2); [ -n \"\$t\" ] &&
    awk -v a=\"\$t\" -v n=\"\$(date +%s.%N)\" 'BEGIN{exit !(n - a > 2)}'"
}
# writer_recovered : wait out a failover watching the client alone: its writes stall, then
# flow again. Asking a node (ssh, crm_resource) every 2 s while it fails over would cost that
# one-vCPU guest about a second of CPU each time, on the path being measured.
writer_recovered() {
  wait_for "client writes stall" 120 writer_stalled || log "no stall of the client's writes seen"
  writer_flowing 300
}
writer_stopped() { ! lab_ssh client "pgrep -f 'writer.py write /mnt/data/$W.dat'"; }
# writer_finish T_FAULT : stop the writer, verify, set FIG (figures) and LOST/STALL/RESTORED
writer_finish() {
  lab_ssh client "touch /root/$W.stop"
  wait_for "writer exit" 180 writer_stopped || { FIG="writer hung"; LOST=?; STALL=?; RESTORED=?; return 1; }
  writer_keep "$1"
  FIG=$(lab_ssh client "timeout 60 python3 /root/writer.py verify /mnt/data/$W.dat /root/$W.ack $1") || true
  LOST=$(sed -n 's/.* lost=\([0-9]*\).*/\1/p' <<<"$FIG")
  STALL=$(sed -n 's/.*longest_stall=\([0-9.]*\).*/\1/p' <<<"$FIG")
  RESTORED=$(sed -n 's/.*restored_after=\([0-9.]*\).*/\1/p' <<<"$FIG")
  CERR=$(sed -n 's/.* client_errors=\([0-9]*\).*/\1/p' <<<"$FIG")
  [[ $LOST == 0 && ${CERR:-0} == 0 ]]
}

# writer_keep T_FAULT : for tests/lab/plot.py, logs/EXP.ack (the writer's ack log, client clock)
# and logs/EXP.fault: "fault T_FAULT" and "clock VM GUEST_TIME HOST_TIME" per running VM (its
# clock read over ssh and the host's when that line arrived), to put the nodes' pacemaker.log on
# the client's clock. EXP is the experiment (the exp_ function calling writer_finish); a repeat
# (--runs) gets EXP-2, EXP-3, ...
writer_keep() {
  local e=${FUNCNAME[2]#exp_} f n=1 vm
  e=$LAB_RUN/logs/${e//_/-} f=$e
  while [[ -e $f.ack ]]; do n=$((n + 1)); f=$e-$n; done
  lab_ssh client "cat /root/$W.ack" > "$f.ack" || true
  {
    echo "fault $1"
    for vm in client "${NODES[@]}"; do
      vm_pid "$vm" >/dev/null || continue
      SSH_T=30 lab_ssh "$vm" 'date +%s.%N' 2>/dev/null | { read -r g && echo "clock $vm $g $(now)"; } || true
    done
  } > "$f.fault"
}

record() {  # record EXP VERDICT NOTES
  local row notes=$3 agents=$AGENTS
  [[ ${HANDLERS:-} == ferro ]] && agents+=" +fence-peer"
  [[ -z $ARBITER ]] || agents+=" +arbiter"
  [[ -z $TIEBREAKER ]] || notes="3 nodes ($TIEBREAKER diskless tiebreaker): $notes"
  [[ ${CERR:-0} == 0 ]] || notes+="; client saw ${CERR} write/fsync errors"
  row=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$(date -u +%F)" "$KERNEL" "$DRBD_VERSION" "$agents" "$1" "$2" \
        "${LOST:-?}" "${STALL:-?}" "${RESTORED:-?}" "$notes")
  [[ -s $RESULTS ]] || printf 'date\tkernel\tdrbd\tagents\texperiment\tverdict\tlost\tstall_s\trestored_s\tnotes\n' > "$RESULTS"
  echo "$row" >> "$RESULTS"
  echo "RESULT $1: $2 — lost=${LOST:-?} client_errors=${CERR:-0} longest_stall=${STALL:-?}s fault_to_restored=${RESTORED:-?}s — $notes"
  [[ $2 == PASS ]]
}

# monitor_cost : wall time per call of the drbd monitor, ferro's (with --agents ferro) and
# ocf:linbit:drbd's, and of a bare process, on each data node of the running cluster: with
# attrd there, as under pacemaker-execd. As instance drbd_probe, so the promotion scores they
# write are nobody's.
monitor_cost() {
  local vm agent agents=(linbit)
  [[ $AGENTS == ferro ]] && agents=(ferro linbit)
  for vm in node1 node2; do
    for agent in "${agents[@]}"; do
      time_monitor "$vm" "$agent" 20 OCF_RESOURCE_INSTANCE=drbd_probe || true
    done
    # The floors under the agents' figures: any process, and ferro-ocf's own start.
    time_calls "$vm" 20 "a process (env -i /bin/true)" "env -i /bin/true" || true
    [[ $AGENTS != ferro ]] || time_calls "$vm" 20 "ferro-ocf --version" "env -i /usr/sbin/ferro-ocf --version" || true
  done | sed 's/^/in the running cluster: /' | tee "$LAB_RUN/monitor-cost.txt"
  lab_ssh node1 'for n in node1 node2; do crm_attribute -N $n -n master-drbd_probe -l reboot -D; done' >/dev/null 2>&1 || true
}

node_boot() {  # bring a powered-off node back and into the cluster
  vm_start "$1"
  wait_ssh "$1"
  lab_ssh "$1" "systemctl start $CLUSTER_UNITS"
}
fences() { { wc -l < "$LAB_RUN/fence.log"; } 2>/dev/null || echo 0; }  # fence requests so far
fenced_since() { (($(fences) > $1)); }                             # fenced_since COUNT
split_brain_seen() { lab_ssh "$1" "dmesg | grep -i 'split-brain'" 2>/dev/null; }
fence_constraint() {  # prints the handler's constraint id; fails when there is none
  local c
  c=$(lab_ssh "$1" "cibadmin -Q -o constraints | grep -o 'drbd-fence-by-handler[^\"]*' | head -1")
  [[ -n $c ]] && echo "$c"
}
no_fence_constraint() { [[ -z $(fence_constraint "$1") ]]; }
service_on() { [[ $(service_node) == "$1" ]]; }

# All nodes up, online, DRBD UpToDate on both data nodes (and the tiebreaker connected to both
# with quorum), no failures, service where the config wants it.
ensure_healthy() {
  local vm
  for vm in "${NODES[@]}"; do
    vm_pid "$vm" >/dev/null || { log "bringing $vm back"; node_boot "$vm"; }
  done
  for vm in "${NODES[@]}"; do lab_ssh "$vm" 'nft flush ruleset; umount /usr/sbin/rpc.nfsd 2>/dev/null; true'; done
  wait_for "all nodes online" 300 online_all || return 1
  lab_ssh node1 'pcs resource cleanup >/dev/null 2>&1; true'
  wait_for "DRBD UpToDate on both" 400 drbd_is node1 'Connected */* UpToDate/UpToDate' || return 1
  if [[ -n $TIEBREAKER ]]; then
    wait_for "$TIEBREAKER Diskless with quorum, both peers UpToDate" 120 tiebreaker_ok "$TIEBREAKER" || return 1
  fi
  wait_for "service on node1" 300 service_on node1 || return 1
  cluster_wait_service 120
}

exp_standby() {
  ensure_healthy || { record standby FAIL "cluster not healthy before"; return 1; }
  local p o tf t v=PASS notes
  p=$(service_node); o=$(other "$p")
  writer_start standby
  tf=$(client_time); t=$SECONDS
  lab_ssh "$p" "pcs node standby $p"
  writer_recovered || v=FAIL
  notes="standby $p: writes again after $((SECONDS - t))s"
  service_on "$o" || { v=FAIL; notes+="; service not on $o"; }
  [[ $(drbd_state "$o") == *Primary/* ]] || { v=FAIL; notes+="; $o not DRBD Primary"; }
  sleep 5
  t=$SECONDS
  lab_ssh "$p" "pcs node unstandby $p"
  if wait_for "failback to $p" 300 service_on "$p" && writer_flowing 300; then
    notes+="; unstandby: back on $p after $((SECONDS - t))s"
  else v=FAIL; notes+="; no failback to $p"; fi
  sleep 5
  writer_finish "$tf" || v=FAIL
  echo "  $FIG"
  record standby $v "$notes"
}

exp_kill_primary() {
  ensure_healthy || { record kill-primary FAIL "cluster not healthy before"; return 1; }
  local p o tf t v=PASS notes by vm
  p=$(service_node); o=$(other "$p")
  writer_start kill
  tf=$(client_time); t=$SECONDS
  vm_kill "$p"
  writer_recovered || v=FAIL
  notes="qemu of $p killed: writes again after $((SECONDS - t))s"
  service_on "$o" || { v=FAIL; notes+="; service not on $o"; }
  by=$(sed -n "s/.* off $p requested by \([0-9.]*\):.*/\1/p" "$LAB_RUN/fence.log" 2>/dev/null | tail -1)
  for vm in "${!LAB_IP[@]}"; do [[ ${LAB_IP[$vm]} == "$by" ]] && by=$vm; done
  [[ -n $by ]] && notes+="; $p fenced by $by" || notes+="; no fence request logged"
  [[ $(drbd_state "$o") == *Primary/* ]] || { v=FAIL; notes+="; $o not DRBD Primary"; }
  sleep 5
  writer_finish "$tf" || v=FAIL
  echo "  $FIG"
  record kill-primary $v "$notes"
}

# The old Primary returns: resync, then (FAILBACK=yes, the seed's preference) takes the service back.
exp_failback() {
  local p o tf t v=PASS notes rs
  if vm_pid node1 >/dev/null && vm_pid node2 >/dev/null; then
    ensure_healthy || { record failback FAIL "cluster not healthy before"; return 1; }
    p=$(service_node); vm_kill "$p"
    wait_for "service on $(other "$p")" 300 service_on "$(other "$p")" || true
  fi
  for p in "${NODES[@]}"; do vm_pid "$p" >/dev/null || break; done
  o=$(other "$p")
  wait_for "service on $o" 300 service_on "$o" || { record failback FAIL "no service on $o before"; return 1; }
  cluster_wait_service 120
  writer_start failback
  tf=$(client_time); t=$SECONDS
  node_boot "$p"
  notes="$p booted in $((SECONDS - t))s"
  t=$SECONDS
  wait_for "$p resynced" 400 drbd_is "$p" 'Connected */* UpToDate/UpToDate' || v=FAIL
  rs=$(lab_ssh "$p" "dmesg | grep -E 'Began resync|Resync done' | tr -s ' ' | tail -2 | cut -c1-200 | tr '\n' ' '")
  notes+="; resync done $((SECONDS - t))s after boot"
  wait_for "failback to $p" 300 service_on "$p" || { v=FAIL; notes+="; service stayed on $o"; }
  writer_flowing 300 || v=FAIL
  notes+="; service back on $p $((SECONDS - t))s after boot"
  [[ -z $(split_brain_seen "$p")$(split_brain_seen "$o") ]] || { v=FAIL; notes+="; SPLIT-BRAIN in dmesg"; }
  sleep 5
  writer_finish "$tf" || v=FAIL
  echo "  $FIG"
  echo "  resync: $rs"
  record failback $v "$notes"
}

# Without the preference (resource-stickiness outweighs it) the returning node stays Secondary.
exp_stay() {
  ensure_healthy || { record stay FAIL "cluster not healthy before"; return 1; }
  ( cluster_configure no ) || { record stay FAIL "reconfiguration (FAILBACK=no) failed"; return 1; }
  local p o tf t v=PASS notes
  p=$(service_node); o=$(other "$p")
  writer_start stay
  tf=$(client_time); t=$SECONDS
  vm_kill "$p"
  wait_for "service on $o" 300 service_on "$o" || v=FAIL
  writer_flowing 300 || v=FAIL
  notes="$p killed: service on $o after $((SECONDS - t))s"
  node_boot "$p"
  wait_for "$p resynced" 400 drbd_is "$p" 'Connected */* UpToDate/UpToDate' || v=FAIL
  sleep 40
  if service_on "$o"; then notes+="; $p back and resynced, service stayed on $o (40s watched)"
  else v=FAIL; notes+="; service moved to $(service_node)"; fi
  writer_finish "$tf" || v=FAIL
  echo "  $FIG"
  ( cluster_configure yes ) || { v=FAIL; notes+="; reconfiguration (FAILBACK=yes) failed"; }
  record stay $v "$notes"
}

exp_nfs_restart() {
  ensure_healthy || { record nfs-restart FAIL "cluster not healthy before"; return 1; }
  local p tf t v=PASS notes fc
  p=$(service_node)
  writer_start nfsrestart
  tf=$(client_time); t=$SECONDS
  lab_ssh "$p" 'systemctl stop nfs-server'
  wait_for "nfsd failure noticed" 120 lab_ssh "$p" "crm_mon -1 --include=failcounts | grep -q 'nfsd.*fail-count='" || true
  writer_flowing 300 || v=FAIL
  fc=$(lab_ssh "$p" "crm_failcount -G -r nfsd -N $p -q 2>/dev/null" || true)
  notes="nfs-server stopped on $p: failcount nfsd=${fc:-?}, writes again after $((SECONDS - t))s"
  [[ ${fc:-0} != 0 ]] || notes+=" (failure not detected by monitor)"
  service_on "$p" && notes+="; restarted in place on $p" || { v=FAIL; notes+="; moved to $(service_node)"; }
  sleep 5
  writer_finish "$tf" || v=FAIL
  echo "  $FIG"
  record nfs-restart $v "$notes"
}

exp_nfs_fail() {
  ensure_healthy || { record nfs-fail FAIL "cluster not healthy before"; return 1; }
  local p o tf t v=PASS notes fc fenced
  p=$(service_node); o=$(other "$p")
  fenced=$(fences)
  writer_start nfsfail
  tf=$(client_time); t=$SECONDS
  # rpc.nfsd replaced by a wrapper that fails unless asked to stop the threads ("rpc.nfsd 0"):
  # the NFS server can no longer start on $p, but it can still be stopped, so the group
  # should move without the node being fenced for a failed stop. Both files live on the root
  # filesystem: /run is noexec (initramfs-tools mounts it so), and a bind mount keeps its
  # source's flags, so a wrapper there fails with 126 even for "rpc.nfsd 0" - the stop then
  # leaves nfsd serving without exports (EACCES on the client) and the node is fenced.
  # The probe "rpc.nfsd 8" must give the wrapper's 1, not exec's 126, before the fault counts.
  lab_ssh "$p" 'cp /usr/sbin/rpc.nfsd /usr/local/sbin/rpc.nfsd.real
    printf "#!/bin/sh\ncase \" \$* \" in *\" 0 \"*) exec /usr/local/sbin/rpc.nfsd.real \"\$@\" ;; esac\nexit 1\n" > /usr/local/sbin/rpc.nfsd.fail
    chmod 755 /usr/local/sbin/rpc.nfsd.fail && mount --bind /usr/local/sbin/rpc.nfsd.fail /usr/sbin/rpc.nfsd
    /usr/sbin/rpc.nfsd 8; rc=$?; [ $rc = 1 ] || { echo "rpc.nfsd wrapper: exit $rc, not 1" >&2; umount /usr/sbin/rpc.nfsd; exit 1; }
    systemctl stop nfs-server' || { writer_finish "$tf"; record nfs-fail FAIL "fault injection failed"; return 1; }
  writer_recovered || v=FAIL
  notes="nfs-server stopped and unstartable on $p: writes again after $((SECONDS - t))s"
  service_on "$o" || { v=FAIL; notes+="; service not on $o"; }
  # The failover must come from the failed restart on $p (its start fail-count is INFINITY),
  # and $p must not have been fenced: its stop works.
  fc=$(lab_ssh "$p" "crm_failcount -G -r nfsd -N $p -q 2>/dev/null" || true)
  notes+="; nfsd fail-count on $p: ${fc:-?}"
  [[ $fc == INFINITY ]] || { v=FAIL; notes+=" (no failed start)"; }
  if fenced_since "$fenced"; then
    v=FAIL; notes+="; a node was fenced"
  else notes+="; nobody fenced"; fi
  sleep 5
  writer_finish "$tf" || v=FAIL
  echo "  $FIG"
  lab_ssh "$p" 'umount /usr/sbin/rpc.nfsd; true'
  record nfs-fail $v "$notes"
}

nft_cut() {  # nft_cut VM PEER_IP [tcp dport 7789] : drop traffic between VM and PEER in both directions
  local vm=$1 ip=$2 m=${3:-}
  if [[ -n $m ]]; then
    lab_ssh "$vm" "nft add table inet cut; nft 'add chain inet cut in { type filter hook input priority 0; }'
      nft 'add chain inet cut out { type filter hook output priority 0; }'
      nft add rule inet cut in ip saddr $ip tcp dport 7789 drop; nft add rule inet cut in ip saddr $ip tcp sport 7789 drop
      nft add rule inet cut out ip daddr $ip tcp dport 7789 drop; nft add rule inet cut out ip daddr $ip tcp sport 7789 drop"
  else
    lab_ssh "$vm" "nft add table inet cut; nft 'add chain inet cut in { type filter hook input priority 0; }'
      nft 'add chain inet cut out { type filter hook output priority 0; }'
      nft add rule inet cut in ip saddr $ip drop; nft add rule inet cut out ip daddr $ip drop"
  fi
}

# The peer cannot be promoted: the Primary's handler put its constraint into the CIB or, with a
# tiebreaker, DRBD outdated the peer through the node both still reach. Prints which.
peer_kept_off() {  # peer_kept_off PRIMARY PEER
  local c
  if c=$(fence_constraint "$1"); then echo "constraint $c"
  elif [[ -n $TIEBREAKER ]] && drbd_is "$2" '* */* Outdated/*'; then echo "no constraint, $2 Outdated"
  else return 1; fi
}

# Replication link cut, cluster link up: the Primary's fence-peer handler must forbid the peer's
# promotion (resource-level fencing) and the peer must refuse to become Primary. With a
# tiebreaker only node1<->node2 is cut: both still reach node3, both keep DRBD quorum.
exp_netcut_drbd() {
  ensure_healthy || { record netcut-drbd FAIL "cluster not healthy before"; return 1; }
  local p o tf t v=PASS notes c st
  p=$(service_node); o=$(other "$p")
  writer_start netcutdrbd
  tf=$(client_time); t=$SECONDS
  nft_cut "$p" "${LAB_IP[$o]}" 7789
  wait_for "DRBD disconnected on $p" 120 drbd_is "$p" 'WFConnection*' || v=FAIL
  notes="DRBD link cut: $p $(drbd_state "$p") after $((SECONDS - t))s"
  wait_for "fence constraint" 120 peer_kept_off "$p" "$o" || v=FAIL
  c=$(peer_kept_off "$p" "$o") || c="constraint NONE"
  notes+="; $c after $((SECONDS - t))s"
  st=$(drbd_state "$o"); notes+="; $o: $st"
  [[ -z $TIEBREAKER ]] || notes+="; $TIEBREAKER: $(tiebreaker_state "$TIEBREAKER")"
  if lab_ssh "$o" 'drbdadm primary r0' 2>/dev/null; then
    v=FAIL; notes+="; $o COULD become Primary"; lab_ssh "$o" 'drbdadm secondary r0'
  else notes+="; $o refused Primary"; fi
  writer_flowing 120 || v=FAIL
  service_on "$p" || { v=FAIL; notes+="; service left $p"; }
  t=$SECONDS
  lab_ssh "$p" 'nft delete table inet cut'
  wait_for "resync after heal" 300 drbd_is "$p" 'Connected */* UpToDate/UpToDate' || v=FAIL
  wait_for "fence constraint removed" 120 no_fence_constraint "$p" || true
  c=$(fence_constraint "$p" || true)
  notes+="; healed: UpToDate after $((SECONDS - t))s, constraint ${c:+still there}${c:-removed}"
  [[ -z $(split_brain_seen "$p")$(split_brain_seen "$o") ]] || { v=FAIL; notes+="; SPLIT-BRAIN in dmesg"; }
  writer_finish "$tf" || v=FAIL
  echo "  $FIG"
  record netcut-drbd $v "$notes"
}

# Everything between the nodes cut (corosync and DRBD), client still reaching both: one node is
# fenced (the one without the service, thanks to priority-fencing-delay), no divergence.
# With a tiebreaker the cut is node1<->node2 only and node3 still reaches both: there is no
# tie, the partition corosync forms with node3 has quorum and fences the other data node
# (whichever it is: no delay decides it), node3 is never fenced, no acknowledged write is lost.
exp_netcut_full() {
  ensure_healthy || { record netcut-full FAIL "cluster not healthy before"; return 1; }
  local p o tf t v=PASS notes up vm
  p=$(service_node); o=$(other "$p")
  local before; before=$(fences)
  writer_start netcutfull
  tf=$(client_time); t=$SECONDS
  nft_cut "$p" "${LAB_IP[$o]}"
  wait_for "one node fenced" 180 fenced_since "$before" || v=FAIL
  notes="link cut: $(tail -n +$((before + 1)) "$LAB_RUN/fence.log" 2>/dev/null | awk '{print $2, $3}' | tr '\n' ' ')after $((SECONDS - t))s"
  if [[ -z $TIEBREAKER ]]; then
    if vm_pid "$p" >/dev/null && ! vm_pid "$o" >/dev/null; then notes+="; survivor $p kept the service"
    else v=FAIL; notes+="; node1 $(vm_pid node1 >/dev/null && echo up || echo down), node2 $(vm_pid node2 >/dev/null && echo up || echo down)"; fi
  else
    up=""
    for vm in "${NODES[@]}"; do vm_pid "$vm" >/dev/null && up+="$vm "; done
    if [[ $up == "$p $TIEBREAKER " || $up == "$o $TIEBREAKER " ]]; then
      notes+="; up: ${up% }"
      up=${up%% *}
      wait_for "service on $up" 300 service_on "$up" || v=FAIL
      notes+="; service on $(service_node) after $((SECONDS - t))s"
    else v=FAIL; notes+="; up: ${up:-none} (expected one data node and $TIEBREAKER)"; fi
  fi
  lab_ssh "$p" 'nft delete table inet cut' 2>/dev/null || true
  writer_flowing 300 || v=FAIL
  local dead; for dead in "${NODES[@]}"; do vm_pid "$dead" >/dev/null || node_boot "$dead"; done
  t=$SECONDS
  wait_for "resync after return" 400 drbd_is node1 'Connected */* UpToDate/UpToDate' || v=FAIL
  notes+="; fenced node back and UpToDate after $((SECONDS - t))s"
  [[ -z $(split_brain_seen node1)$(split_brain_seen node2) ]] || { v=FAIL; notes+="; SPLIT-BRAIN in dmesg"; }
  sleep 5
  writer_finish "$tf" || v=FAIL
  echo "  $FIG"
  record netcut-full $v "$notes"
}
