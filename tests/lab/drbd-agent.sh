#!/bin/bash
# ocf:ferro:drbd against real DRBD (8.4 kernel module, or 9 with FERRO_LAB_DRBD=9; drbd-utils 9)
# in the two lab node VMs.
#
#   tests/lab/drbd-agent.sh [all]      up, capture, agent, ocf-tester, pacemaker, timing, down
#   tests/lab/drbd-agent.sh up         boot node1/node2, create DRBD metadata; VMs keep running
#   tests/lab/drbd-agent.sh capture    record kernel/drbdsetup output of every interesting state
#                                      into tests/fixtures/drbd/84/ (DRBD 9: .../9/; the parsers'
#                                      unit tests)
#   tests/lab/drbd-agent.sh agent      start/monitor/promote/demote/stop by hand, both nodes
#   tests/lab/drbd-agent.sh tester     ocf-tester on node1
#   tests/lab/drbd-agent.sh pacemaker  the agent as a promotable clone under Pacemaker
#   tests/lab/drbd-agent.sh timing     wall time of monitors, ferro and the reference agent
#   tests/lab/drbd-agent.sh down       power off the VMs, remove the namespace
#
# Uses the lab's image and plumbing (lib.sh) in its own network namespace (FERRO_LAB_NETNS,
# default fdrbd), so it does not collide with a run of tests/lab/run.sh. FERRO_LAB_DRBD=9 (given
# to `up`, remembered by the later steps): DRBD 9 modules built for the guest (build-drbd9.sh).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export FERRO_LAB_NETNS=${FERRO_LAB_NETNS:-fdrbd}
# shellcheck source=lib.sh
source "$HERE/lib.sh"
NODES=(node1 node2)
STATE=${FERRO_LAB_CACHE:-/var/cache/ferro-lab}/drbd-agent.run
PASS=0 FAIL=0

ok() { PASS=$((PASS + 1)); echo "PASS $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
# expect RC DESC VM CMD : run CMD on VM, compare its exit code
expect() {
  local want=$1 desc=$2 vm=$3 rc=0 out; shift 3
  out=$(lab_ssh "$vm" "$@" 2>&1) || rc=$?
  if [[ $rc == "$want" ]]; then ok "$desc (rc $rc)"; else bad "$desc: rc $rc, expected $want"; echo "$out" | tail -15; fi
}
on_both() { local vm; for vm in "${NODES[@]}"; do lab_ssh "$vm" "$1"; done; }

load_state() {
  [[ -f $STATE ]] || die "no lab running (tests/lab/drbd-agent.sh up)"
  # shellcheck disable=SC1090
  source "$STATE"
  FIXTURES=$ROOT/tests/fixtures/drbd/$([[ $LAB_DRBD == 9 ]] && echo 9 || echo 84)
}

cmd_up() {
  lab_prepare "drbd-agent-$LAB_DRBD"
  lab_drbd_modules
  trap lab_cleanup EXIT
  lab_net_up
  lab_disks
  local vm
  for vm in "${NODES[@]}"; do vm_start "$vm"; done
  for vm in "${NODES[@]}"; do wait_ssh "$vm"; lab_drbd_install "$vm"; done
  printf 'LAB_RUN=%q\nLAB_IMG=%q\nLAB_KEY=%q\nLAB_ACCEL=%q\nLAB_DRBD=%q\nLAB_NETNS_MADE=1\n' \
    "$LAB_RUN" "$LAB_IMG" "$LAB_KEY" "$LAB_ACCEL" "$LAB_DRBD" > "$STATE"
  on_both 'drbdadm -- --force create-md r0 >/dev/null 2>&1; mkdir -p /data'
  # One full sync and an XFS now, so that every later step can run on its own with consistent
  # data on both nodes (capture makes fresh metadata again for its Inconsistent states).
  on_both 'modprobe drbd && drbdadm up r0'
  wait_for "DRBD connected" 60 drbd_is node1 'Connected*' || die "DRBD did not connect"
  lab_ssh node1 'drbdadm primary --force r0'
  wait_for "initial sync" 300 drbd_is node1 'Connected Primary/Secondary UpToDate/UpToDate' ||
    die "DRBD did not sync: $(drbd_state node1)"
  lab_ssh node1 'mkfs.xfs -q -f /dev/drbd0 && drbdadm secondary r0'
  on_both 'drbdadm down r0'
  trap - EXIT
  log "lab up: $LAB_RUN (tests/lab/drbd-agent.sh down to stop)"
}

cmd_down() {
  load_state
  rm -f "$STATE"
  LAB_COLLECT=${LAB_COLLECT:-1}
  lab_cleanup
}

# --- capture -----------------------------------------------------------------------------------
# snap NAME VM... : everything the agent (and the reference) may read, per node.
snap() {
  local name=$1 vm; shift
  mkdir -p "$FIX/$name"
  for vm in "$@"; do
    lab_ssh "$vm" 'c() { local f=$1; shift; "$@" > /tmp/snap.out 2>&1; echo "# rc=$?" >> /tmp/snap.out
                        { echo "# $*"; cat /tmp/snap.out; } > /tmp/snap/$f; }
      rm -rf /tmp/snap; mkdir /tmp/snap
      cat /proc/drbd > /tmp/snap/proc_drbd 2>/dev/null || echo "(no /proc/drbd)" > /tmp/snap/proc_drbd
      c sh-status drbdsetup sh-status r0
      c events2 drbdsetup events2 --now r0
      c status drbdsetup status r0 --verbose --statistics
      c adm-status drbdadm status r0
      c show drbdsetup show r0
      c status-json drbdsetup status r0 --json
      c role drbdadm role r0
      c cstate drbdadm cstate r0
      c dstate drbdadm dstate r0
      cd /tmp/snap && tar cf - .' | tar xf - -C "$FIX/$name" --transform "s,^\./,$vm.,"
  done
  log "captured $name: $(for vm in "$@"; do echo "$vm $(drbd_state "$vm");"; done)"
}

cmd_capture() {
  load_state
  # Into the run directory first: an interrupted capture leaves the fixtures as they were.
  FIX=$LAB_RUN/fixtures
  rm -rf "$FIX"; mkdir -p "$FIX"
  on_both 'drbdadm down r0 2>/dev/null; rmmod drbd_transport_tcp 2>/dev/null; rmmod drbd 2>/dev/null; true'
  snap no-module node1
  lab_ssh node1 'drbdadm --version; cat /sys/module/drbd/version 2>&1; modinfo -F version drbd' \
    > "$FIX/no-module/node1.versions" 2>&1 || true
  # Fresh metadata on both: the first connection finds Inconsistent data and a full sync.
  on_both 'modprobe drbd && drbdadm -- --force create-md r0 >/dev/null 2>&1'
  lab_ssh node1 'drbdadm --version; cat /sys/module/drbd/version; modinfo -F version drbd;
    drbdadm sh-dev r0; drbdadm sh-minor r0; drbdadm sh-ll-dev r0; drbdadm sh-mod-parms; drbdadm sh-resources' \
    > "$FIX/versions.node1" 2>&1 || true
  # What the agent asks drbdadm about the configuration (dry runs: nothing is changed).
  lab_ssh node1 'drbdadm -d -v dump r0' > "$FIX/dump.node1" 2>&1 || true
  lab_ssh node1 'drbdadm -d connect r0:node2' > "$FIX/connect-dry-run.node1" 2>&1 || true
  snap loaded-unconfigured node1
  lab_ssh node1 'drbdadm new-resource r0 && drbdadm new-minor r0 && drbdadm attach r0'
  snap attached-standalone node1
  # DRBD 9's connect needs the peer and path objects first, which adjust makes.
  lab_ssh node1 "drbdadm $([[ $LAB_DRBD == 9 ]] && echo adjust || echo connect) r0"
  snap wfconnection node1
  lab_ssh node2 'drbdadm up r0'
  wait_for "connected" 60 drbd_is node1 'Connected*' || die "no connection"
  snap connected-inconsistent node1 node2
  # Slow the first sync down so that it can be seen in progress.
  # (DRBD 9: the resync rate is a peer-device option.)
  local rate_opts; rate_opts=$([[ $LAB_DRBD == 9 ]] && echo peer-device-options || echo disk-options)
  on_both "drbdadm $rate_opts --c-plan-ahead=0 --resync-rate=2M r0"
  lab_ssh node1 'drbdadm primary --force r0'
  sleep 4
  snap resync-primary node1 node2
  on_both "drbdadm $rate_opts --c-plan-ahead=0 --resync-rate=200M r0"
  wait_for "synced" 300 drbd_is node1 'Connected Primary/Secondary UpToDate/UpToDate' || die "no sync"
  snap connected-primary node1 node2
  lab_ssh node1 'mkfs.xfs -q -f /dev/drbd0 && drbdadm secondary r0'
  snap connected-secondary node1 node2
  lab_ssh node2 'drbdadm disconnect r0'
  snap disconnected-secondary node1 node2
  lab_ssh node2 'drbdadm connect r0'
  wait_for "reconnected" 60 drbd_is node2 'Connected*UpToDate/UpToDate' || die "no reconnect"
  # Promote while connected: a disconnected Secondary with "fencing resource-only" refuses
  # Primary when its fence-peer handler fails (no cluster here).
  lab_ssh node1 'drbdadm primary r0'
  lab_ssh node2 'drbdadm disconnect r0'
  snap wfconnection-primary node1 node2
  # DRBD 9 has already outdated it (and refuses drbdmeta outdate on a configured device).
  drbd_is node2 '* */* Outdated/*' || lab_ssh node2 'drbdadm outdate r0'
  snap outdated node2
  lab_ssh node2 'drbdadm connect r0'
  wait_for "reconnected" 60 drbd_is node2 'Connected*UpToDate/UpToDate' || true
  lab_ssh node2 'drbdadm detach r0'
  snap diskless-secondary node1 node2
  lab_ssh node2 'drbdadm attach r0'
  wait_for "reattached" 60 drbd_is node2 'Connected*UpToDate/UpToDate' || true
  lab_ssh node1 'mkfs.xfs -q -f /dev/drbd0 && drbdadm secondary r0'
  on_both 'drbdadm down r0'
  snap down node1
  rm -rf "$FIXTURES"; mkdir -p "$(dirname "$FIXTURES")"; cp -r "$FIX" "$FIXTURES"
  log "fixtures in $FIXTURES"
}

# --- the agent by hand ---------------------------------------------------------------------------
install_ferro() {
  lab_build_ferro
  lab_install_deb "${NODES[@]}"
}


cmd_agent() {
  load_state
  install_ferro
  on_both 'drbdadm down r0 2>/dev/null; rmmod drbd_transport_tcp 2>/dev/null; rmmod drbd 2>/dev/null; true'
  local vm
  for vm in "${NODES[@]}"; do
    expect 0 "$vm meta-data" "$vm" "$(drbd_agent_cmd "$vm" meta-data) >/dev/null"
    # The module is not loaded: a probe says not running, start loads it.
    expect 7 "$vm probe, module not loaded" "$vm" "$(drbd_agent_cmd "$vm" monitor OCF_RESKEY_CRM_meta_interval=0)"
  done
  expect 6 "bad meta clone-node-max=2 on start" node1 "$(drbd_agent_cmd node1 start OCF_RESKEY_CRM_meta_clone_node_max=2)"
  expect 6 "notify=false on start" node1 "$(drbd_agent_cmd node1 start OCF_RESKEY_CRM_meta_notify=false)"
  expect 0 "validate-all" node1 "$(drbd_agent_cmd node1 validate-all)"
  expect 5 "resource not in drbd.conf (start)" node1 "$(drbd_agent_cmd node1 start OCF_RESKEY_drbd_resource=nosuch)"
  expect 7 "resource not in drbd.conf (probe)" node1 "$(drbd_agent_cmd node1 monitor OCF_RESKEY_drbd_resource=nosuch OCF_RESKEY_CRM_meta_interval=0)"
  expect 0 "node1 start (alone: waits wfc_timeout)" node1 "$(drbd_agent_cmd node1 start)"
  expect 0 "node1 monitor after start" node1 "$(drbd_agent_cmd node1 monitor OCF_RESKEY_CRM_meta_interval=20000)"
  expect 0 "node2 start" node2 "$(drbd_agent_cmd node2 start)"
  wait_for "connected" 60 drbd_is node1 'Connected*UpToDate/UpToDate' || bad "not connected: $(drbd_state node1)"
  expect 0 "node2 monitor, Secondary" node2 "$(drbd_agent_cmd node2 monitor OCF_RESKEY_CRM_meta_interval=20000)"
  expect 0 "node1 promote" node1 "$(drbd_agent_cmd node1 promote)"
  expect 8 "node1 monitor, Primary" node1 "$(drbd_agent_cmd node1 monitor OCF_RESKEY_CRM_meta_interval=10000)"
  expect 8 "node1 probe, Primary" node1 "$(drbd_agent_cmd node1 monitor OCF_RESKEY_CRM_meta_interval=0)"
  expect 0 "node1 promote again (idempotent)" node1 "$(drbd_agent_cmd node1 promote)"
  lab_ssh node1 'mount /dev/drbd0 /data && echo hello > /data/hello && umount /data'
  expect 1 "node2 promote while node1 is Primary" node2 "$(drbd_agent_cmd node2 promote OCF_RESKEY_fail_promote_early_if_peer_primary=true) "
  expect 0 "node1 demote" node1 "$(drbd_agent_cmd node1 demote)"
  expect 0 "node1 monitor, Secondary" node1 "$(drbd_agent_cmd node1 monitor OCF_RESKEY_CRM_meta_interval=20000)"
  expect 0 "node2 promote" node2 "$(drbd_agent_cmd node2 promote)"
  expect 0 "node2 sees node1's file" node2 'mount /dev/drbd0 /data && grep -q hello /data/hello; rc=$?; umount /data; exit $rc'
  expect 0 "node2 stop while Primary (demotes first)" node2 "$(drbd_agent_cmd node2 stop)"
  expect 7 "node2 monitor after stop" node2 "$(drbd_agent_cmd node2 monitor OCF_RESKEY_CRM_meta_interval=20000)"
  expect 0 "node2 stop again (idempotent)" node2 "$(drbd_agent_cmd node2 stop)"
  expect 0 "node1 monitor, peer gone (WFConnection)" node1 "$(drbd_agent_cmd node1 monitor OCF_RESKEY_CRM_meta_interval=20000)"
  expect 0 "node2 start again, reconnects" node2 "$(drbd_agent_cmd node2 start)"
  wait_for "reconnected" 60 drbd_is node1 'Connected*' || bad "not reconnected: $(drbd_state node1)"
  # A hung drbdsetup (LINBIT/drbd#51) must not hang the agent: a monitor with a 3 s timeout
  # against a drbdsetup that never returns fails within its deadline.
  lab_ssh node1 'mkdir -p /tmp/hang && printf "#!/bin/sh\nexec sleep 600\n" > /tmp/hang/drbdsetup &&
    printf "#!/bin/sh\nexec sleep 600\n" > /tmp/hang/drbdadm && chmod +x /tmp/hang/*'
  expect 0 "monitor with a hung drbdadm returns within its timeout" node1 \
    "t=\$(date +%s); $(drbd_agent_cmd node1 monitor OCF_RESKEY_CRM_meta_interval=20000 OCF_RESKEY_CRM_meta_timeout=3000 PATH=/tmp/hang:/usr/sbin:/usr/bin:/sbin:/bin); rc=\$?; echo rc=\$rc; (( \$(date +%s) - t < 6 ))"
  for vm in "${NODES[@]}"; do expect 0 "$vm stop" "$vm" "$(drbd_agent_cmd "$vm" stop)"; done
  expect 0 "module stays loaded, nothing configured" node1 'test -d /sys/module/drbd && [ "$(drbdsetup events2 --now r0)" = "exists -" ]'
  # Both agents alike where ferro once differed (issue: ocf:ferro:drbd against ocf:linbit:drbd).
  # A configuration whose backing disk is missing: the attach fails, and start must fail as
  # the reference's "failed to attach" does, not leave a Diskless, StandAlone "Secondary"
  # that later monitors as healthy.
  lab_ssh node1 'mkdir -p /tmp/nodisk && sed "s#/dev/vdb#/dev/vdz#" /etc/drbd.d/r0.res > /tmp/nodisk/r0.res &&
    printf "include \"/etc/drbd.d/global_common.conf\";\ninclude \"/tmp/nodisk/r0.res\";\n" > /tmp/nodisk/drbd.conf'
  local agent nodisk=OCF_RESKEY_drbdconf=/tmp/nodisk/drbd.conf
  for agent in ferro linbit; do
    # demote of a resource that is not running: 7, as drbd-utils after 9.22 (the lab's 9.22
    # returns 1: docs/compatibility.md).
    expect "$([[ $agent == ferro ]] && echo 7 || echo 1)" "$agent: node1 demote while stopped" node1 \
      "$(DRBD_AGENT=$agent drbd_agent_cmd node1 demote)"
    expect 1 "$agent: node1 start, backing disk missing" node1 "$(DRBD_AGENT=$agent drbd_agent_cmd node1 start $nodisk)"
    expect 0 "$agent: node1 stop after the failed start" node1 "$(DRBD_AGENT=$agent drbd_agent_cmd node1 stop $nodisk)"
    expect 7 "$agent: node1 monitor after that stop" node1 "$(DRBD_AGENT=$agent drbd_agent_cmd node1 monitor OCF_RESKEY_CRM_meta_interval=20000 $nodisk)"
  done
}

cmd_tester() {
  load_state
  install_ferro
  on_both 'drbdadm down r0 2>/dev/null; true'
  lab_ssh node2 'drbdadm up r0'
  # ocf-tester runs start/monitor/promote/demote/notify/stop/reload, probes included. It sets no
  # clone meta attributes; DRBD 8.4 insists on clone-max <= 2 (as the reference does).
  # The guest image has no xmllint, so ocf-tester's DTD check fails with 127 there; the DTD
  # check runs on the host (tests/metadata.rs). Every other failure counts.
  expect 0 "ocf-tester ocf:ferro:drbd (all but the DTD check, which needs xmllint)" node1 \
    'ocf-tester -v -n drbd_r0 -o drbd_resource=r0 -o ignore_missing_notifications=true -o CRM_meta_clone_max=2 \
      /usr/lib/ocf/resource.d/ferro/drbd > /tmp/ocf-tester.log 2>&1; rc=$?
     grep -E "^\* rc=|passed all tests|Tests failed" /tmp/ocf-tester.log
     f=$(grep "^\* rc=" /tmp/ocf-tester.log | grep -vc "rc=127: Your agent produces meta-data")
     [ $rc = 0 ] || { ! command -v xmllint >/dev/null && [ "$f" = 0 ]; }'
  lab_ssh node1 'cat /tmp/ocf-tester.log' > "$LAB_RUN/logs/ocf-tester.log" 2>&1 || true
  on_both 'drbdadm down r0 2>/dev/null; true'
}

# On a loaded host the guests' sshd may miss a banner deadline: one retry (idempotent commands).
crm() { lab_ssh node1 "$@" || { sleep 2; lab_ssh node1 "$@"; }; }
promoted_on() { crm "crm_resource -r drbd_r0-clone -W 2>/dev/null" | sed -n 's/.*running on: \([^ ]*\) Promoted.*/\1/p;s/.*running on: \([^ ]*\) Master.*/\1/p'; }
promoted_is() { [[ $(promoted_on) == "$1" ]]; }
# Empty when there is none (crm_attribute then exits 105, which must not end the script).
score_of() { crm "crm_attribute -N $1 -n master-drbd_r0 -l reboot -G -q 2>/dev/null || true"; }
score_is() { [[ $(score_of "$1") == "$2" ]]; }

cmd_pacemaker() {
  load_state
  install_ferro
  # A fresh cluster: no CIB (standby, scores, failures) left from an earlier run.
  on_both 'systemctl stop pacemaker corosync; rm -f /var/lib/pacemaker/cib/*; drbdadm down r0 2>/dev/null; true'
  # Images built before the lab's corosync.conf fix put "node { ring0_addr: ..." on one line,
  # which corosync 3 rejects; split such lines (a no-op on a fixed image).
  on_both "sed -i -e 's/^\( *node {\) *\(ring0_addr.*\)/\1\n    \2/' -e 's/^\( *nodeid: [0-9]*\) *}/\1\n  }/' /etc/corosync/corosync.conf"
  on_both 'systemctl start corosync pacemaker'
  wait_for "both nodes online" 240 crm "crm_mon -1 | grep -q 'Online: \[ node1 node2 \]'" || die "no cluster"
  crm 'set -e; cibadmin --empty > /root/cib.xml; f() { pcs -f /root/cib.xml "$@"; }
    f property set stonith-enabled=false
    f resource create drbd_r0 ocf:ferro:drbd drbd_resource=r0 \
      op monitor interval=15s role=Promoted timeout=20s op monitor interval=17s role=Unpromoted timeout=20s \
      promotable promoted-max=1 promoted-node-max=1 clone-max=2 clone-node-max=1 notify=true
    f constraint location drbd_r0-clone rule role=Promoted score=100 "#uname" eq node1
    pcs cluster cib-push /root/cib.xml --config' > "$LAB_RUN/logs/pcmk-configure.log" 2>&1 ||
    { cat "$LAB_RUN/logs/pcmk-configure.log"; die "configuration failed"; }
  if wait_for "promoted on node1" 180 promoted_is node1; then ok "clone promoted on node1"
  else bad "clone not promoted: $(crm 'crm_mon -1 -A' 2>&1 | tail -20)"; fi
  wait_for "scores" 60 score_is node2 10000 || true
  local s1 s2; s1=$(score_of node1); s2=$(score_of node2)
  [[ $s1 == 10000 && $s2 == 10000 ]] && ok "promotion scores 10000/10000" || bad "scores node1=$s1 node2=$s2"
  wait_for "node1 Primary" 60 drbd_is node1 'Connected Primary/Secondary UpToDate/UpToDate' &&
    ok "DRBD $(drbd_state node1)" || bad "DRBD on node1: $(drbd_state node1)"
  crm 'pcs node standby node1'
  if wait_for "promoted on node2" 180 promoted_is node2; then ok "standby node1: promoted on node2"
  else bad "no failover: $(crm 'crm_mon -1 -A' 2>&1 | tail -20)"; fi
  s1=$(score_of node1)
  [[ -z $s1 ]] && ok "standby node1: its score removed on stop" || bad "node1 score still $s1"
  # crm_resource reports the role as soon as the promote is pending (record-pending).
  wait_for "node2 Primary" 60 drbd_is node2 'WFConnection Primary/Unknown UpToDate/*' &&
    ok "DRBD on node2: $(drbd_state node2)" || bad "DRBD on node2: $(drbd_state node2)"
  crm 'pcs node unstandby node1'
  if wait_for "back on node1" 240 promoted_is node1; then ok "unstandby: promoted on node1 again"
  else bad "no failback: $(crm 'crm_mon -1 -A' 2>&1 | tail -20)"; fi
  wait_for "synced" 120 drbd_is node1 'Connected Primary/Secondary UpToDate/UpToDate' &&
    ok "DRBD after failback: $(drbd_state node1)" || bad "DRBD after failback: $(drbd_state node1)"
  # DRBD demoted behind Pacemaker's back: the Promoted monitor must see it (0 instead of 8)
  # and Pacemaker must recover the instance and promote it again.
  lab_ssh node1 'drbdadm secondary r0'
  if wait_for "monitor failure recorded" 120 crm "crm_mon -1 -f | grep -q 'drbd_r0.*fail-count'"; then
    ok "out-of-band demote detected by the monitor"
  else bad "out-of-band demote not detected"; fi
  wait_for "promoted again" 180 promoted_is node1 &&
    wait_for "node1 Primary again" 60 drbd_is node1 'Connected Primary/*' &&
    ok "recovered: promoted on node1 again" || bad "no recovery after out-of-band demote"
  crm 'crm_mon -1 -A -f' > "$LAB_RUN/logs/pcmk-final.txt" 2>&1 || true
  local vm
  for vm in "${NODES[@]}"; do
    lab_ssh "$vm" 'journalctl -b --no-pager -t drbd -o short-precise' > "$LAB_RUN/logs/$vm.agent.log" 2>&1 || true
  done
  crm 'pcs resource disable drbd_r0-clone --wait=120' >/dev/null 2>&1 || true
  [[ -z $(drbd_state node1) ]] && ok "disabled: DRBD down on node1" || bad "still configured after disable"
  on_both 'systemctl stop pacemaker corosync' || true
}

# --- cost of a monitor --------------------------------------------------------------------------
# Wall time of N monitors of a connected Secondary and Primary, ferro and the reference agent,
# each run as pacemaker-execd would (reference numbers for docs/lab-agents.md; no assertion).
cmd_timing() {
  load_state
  install_ferro
  on_both 'systemctl stop pacemaker corosync 2>/dev/null; drbdadm down r0 2>/dev/null; modprobe drbd; drbdadm up r0'
  wait_for "connected" 60 drbd_is node1 'Connected*UpToDate/UpToDate' || die "not connected"
  lab_ssh node1 'drbdadm primary r0'
  local vm agent
  for vm in node1 node2; do
    for agent in ferro linbit; do time_monitor "$vm" "$agent" 20; done
  done
  lab_ssh node1 'mkfs.xfs -q -f /dev/drbd0 && drbdadm secondary r0'
  on_both 'drbdadm down r0'
}

cmd_all() {
  cmd_up
  trap 'cmd_down' EXIT
  cmd_capture
  cmd_agent
  cmd_tester
  cmd_pacemaker
  cmd_timing
  echo "== $PASS passed, $FAIL failed =="
  ((FAIL == 0))
}

case ${1:-all} in
  up) cmd_up ;;
  down) cmd_down ;;
  capture) cmd_capture ;;
  agent | tester | pacemaker | timing) "cmd_$1"; echo "== $PASS passed, $FAIL failed =="; ((FAIL == 0)) ;;
  all) cmd_all ;;
  *) sed -n '2,17p' "$0"; exit 2 ;;
esac
