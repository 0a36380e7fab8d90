#!/bin/bash
# The ferro-ocf VM lab: two DRBD/NFS cluster nodes and an NFS client, all qemu VMs in a private
# network namespace. See docs/lab.md.
#
#   tests/lab/run.sh [--agents reference|ferro] [--drbd 8.4|9] [--handlers drbd-utils|ferro] [--nodes 2|3]
#                    [--arbiter] [--token MS] [--no-tickle] [--smoke] [--runs N] [--keep] [--show] [EXPERIMENT...]
#
# EXPERIMENTs (default: all, in this order):
#   standby kill-primary failback stay nfs-restart nfs-fail netcut-drbd netcut-full
# --smoke: boot the two nodes, bring DRBD up and check it connects and syncs; no cluster.
# --show: print crm_mon and the client's view when the cluster is ready and after each experiment.
# --runs N: the experiments N times over (in turn); the run's series.md (tests/lab/series.py) then
#   has each repeat's stall and failover steps, with median, p90 and max.
# --drbd 9: DRBD 9 modules built for the guest kernel (build-drbd9.sh) instead of its 8.4.
# --handlers ferro: DRBD's fence-peer/unfence-peer handlers are ferro-ocf's drop-ins
# (/usr/lib/ferro-ocf/crm-*.9.sh, from the .deb; needs --agents ferro) instead of drbd-utils'.
# --nodes 3 (with --drbd 9 only): node3 joins as a diskless DRBD tiebreaker and third corosync
#   vote (crm-examples/drbd9-tiebreaker.res, TIEBREAKER=node3); experiments kill-primary
#   netcut-drbd netcut-full.
# --arbiter (2 nodes): corosync-qnetd on the host side of the namespace gives the third vote,
#   corosync-qdevice on both nodes (the image's corosync.conf, two_node replaced by
#   tests/qdevice.sh's device block), and the configuration without priority-fencing-delay
#   (crm-examples: ARBITER=).
# --token MS: corosync's totem token MS (consensus stays 1.2 x token) instead of the image's
#   5000, and DRBD's ping-int ceil(MS/1000) s with it, so DRBD sees a dead peer about when
#   corosync does (its default 10 s ping-int would leave a promote facing a peer DRBD still
#   thinks connected).
# --no-tickle: the VIP without tickle_dir (crm-examples: TICKLE_DIR=). By default the ferro VIP
#   has crm-examples' tickle_dir=/data/.nfsinfo: the node that takes the address over sends the
#   client tickle ACKs (before 2026-12-01 that took --tickle, still accepted).
# Environment: FERRO_LAB_CACHE (image cache, default /var/cache/ferro-lab), FERRO_LAB_NETNS
# (default flab; two runs at once need two names), FERRO_LAB_ACCEL
# (e.g. "tcg,tb-size=256" or "kvm -cpu host"; default: probed once, cached), FERRO_LAB_KEEP=1,
# FERRO_DRBD9_TARBALL (the DRBD 9 source for --drbd 9; see build-drbd9.sh), FERRO_LAB_NFS_OPTS
# (the client's mount options, default vers=4.2,hard,proto=tcp,timeo=50,retrans=3).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=cluster.sh
source "$HERE/cluster.sh"
# shellcheck source=experiments.sh
source "$HERE/experiments.sh"

AGENTS=reference SMOKE=0 RUNS=1 SHOW=0 EXPS=() HANDLERS=drbd-utils N_NODES=2
ALL_EXPS=(standby kill-primary failback stay nfs-restart nfs-fail netcut-drbd netcut-full)
while (($#)); do
  case $1 in
    --agents) AGENTS=$2; shift ;;
    --agents=*) AGENTS=${1#*=} ;;
    --drbd) LAB_DRBD=$2; shift ;;
    --drbd=*) LAB_DRBD=${1#*=} ;;
    --handlers) HANDLERS=$2; shift ;;
    --handlers=*) HANDLERS=${1#*=} ;;
    --nodes) N_NODES=$2; shift ;;
    --nodes=*) N_NODES=${1#*=} ;;
    --arbiter) ARBITER=$LAB_HOST_IP CLUSTER_UNITS="corosync corosync-qdevice pacemaker" ;;
    --token) LAB_TOKEN=$2; shift ;;
    --token=*) LAB_TOKEN=${1#*=} ;;
    --tickle) LAB_TICKLE=1 ;;
    --no-tickle) LAB_TICKLE=0 ;;
    --smoke) SMOKE=1 ;;
    --runs) RUNS=$2; shift ;;
    --keep) export FERRO_LAB_KEEP=1 ;;
    --show) SHOW=1 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) [[ " ${ALL_EXPS[*]} " == *" $1 "* ]] || die "unknown experiment $1 (${ALL_EXPS[*]})"; EXPS+=("$1") ;;
  esac
  shift
done
[[ $AGENTS == reference || $AGENTS == ferro ]] || die "--agents reference|ferro"
[[ $LAB_DRBD == 8.4 || $LAB_DRBD == 9 ]] || die "--drbd 8.4|9"
[[ $HANDLERS == drbd-utils || ($HANDLERS == ferro && $AGENTS == ferro) ]] ||
  die "--handlers drbd-utils|ferro (ferro's come with --agents ferro)"
case $N_NODES in
  2) ((${#EXPS[@]})) || EXPS=("${ALL_EXPS[@]}") ;;
  3)
    # A diskless DRBD node (disk none, quorum) exists only in DRBD 9.
    [[ $LAB_DRBD == 9 ]] || die "--nodes 3 needs --drbd 9 (a diskless tiebreaker is DRBD 9 only)"
    TB_EXPS=(kill-primary netcut-drbd netcut-full)
    for e in "${EXPS[@]}"; do
      [[ " ${TB_EXPS[*]} " == *" $e "* ]] || die "--nodes 3 runs only ${TB_EXPS[*]}, not $e"
    done
    ((${#EXPS[@]})) || EXPS=("${TB_EXPS[@]}")
    NODES=(node1 node2 node3) TIEBREAKER=node3
    LAB_DRBD9_RES=$HERE/../../crm-examples/drbd9-tiebreaker.res
    ;;
  *) die "--nodes 2|3" ;;
esac
[[ -z $LAB_TOKEN || $LAB_TOKEN =~ ^[1-9][0-9]{2,5}$ ]] || die "--token MS: milliseconds, e.g. 3000"
[[ -z $ARBITER || $N_NODES == 2 ]] || die "--arbiter is the two-node variant (--nodes 3 has its tiebreaker)"
[[ $(id -u) == 0 ]] || die "run as root (netns, taps)"

mkdir -p "$LAB_CACHE"
exec 9>"$LAB_CACHE/lab-$LAB_NS.lock"
flock -n 9 || die "another lab run holds $LAB_CACHE/lab-$LAB_NS.lock (FERRO_LAB_NETNS=<name> for a second one)"
# Install first, check after: a new machine has none of these yet.
lab_host_packages
for t in qemu-system-x86_64 ssh python3 ip mmdebstrap ${ARBITER:+corosync-qnetd}; do command -v $t >/dev/null || die "$t missing after installing the lab's packages"; done

[[ $AGENTS == ferro ]] && lab_build_ferro
lab_image
lab_drbd_modules
lab_accel
LAB_RUN=$LAB_CACHE/runs/$(date -u +%Y%m%dT%H%M%S)-$AGENTS-drbd$LAB_DRBD${TIEBREAKER:+-3nodes}${ARBITER:+-arbiter}${LAB_TOKEN:+-token$LAB_TOKEN}$( ((LAB_TICKLE)) || echo -notickle)$( ((SMOKE)) && echo -smoke || true)
mkdir -p "$LAB_RUN/logs"
echo "$LAB_KEY" > "$LAB_CACHE/key-$LAB_NS"   # for ssh.sh
trap lab_cleanup EXIT
trap 'exit 130' INT TERM
log "run dir $LAB_RUN, image $LAB_IMG, accel $LAB_ACCEL"

T0=$SECONDS
lab_net_up
lab_disks
lab_fenced_start
VMS=("${NODES[@]}"); ((SMOKE)) || VMS+=(client)
for vm in "${VMS[@]}"; do vm_start "$vm"; done
for vm in "${VMS[@]}"; do wait_ssh "$vm"; done
for vm in "${NODES[@]}"; do lab_drbd_install "$vm"; done
KERNEL=$(lab_ssh node1 uname -r)
drbd_init
DRBD_VERSION=$(lab_ssh node1 cat /sys/module/drbd/version)
if ((SMOKE)); then
  lab_ssh node1 drbdadm status r0
  what="DRBD r0 connected and UpToDate/UpToDate"
  [[ -z $TIEBREAKER ]] || what+=", $TIEBREAKER $(tiebreaker_state "$TIEBREAKER")"
  if [[ $AGENTS == ferro ]]; then
    # The agent reads the real kernel's state: Primary is "promoted" (8), Secondary "running" (0),
    # the diskless tiebreaker a running Secondary too.
    lab_install_ferro
    for want in node1:8 node2:0 ${TIEBREAKER:+$TIEBREAKER:0}; do
      vm=${want%:*} rc=0
      lab_ssh "$vm" "$(drbd_agent_cmd "$vm" monitor OCF_RESKEY_CRM_meta_interval=20000)" || rc=$?
      [[ $rc == "${want#*:}" ]] || die "ocf:ferro:drbd monitor on $vm: $rc, expected ${want#*:}"
    done
    what+=", ocf:ferro:drbd monitor 8 on the Primary and 0 on the Secondary"
  fi
  echo "SMOKE PASS: ${#NODES[@]} nodes booted ($KERNEL, DRBD $DRBD_VERSION, ${LAB_ACCEL%% *}), $what, $((SECONDS - T0))s"
  exit 0
fi

[[ $AGENTS == ferro ]] && lab_install_ferro
[[ $HANDLERS == ferro ]] && lab_ferro_handlers
cluster_start
cluster_configure yes
cluster_wait_service 300 || die "service did not come up"
client_mount
log "cluster ready after $((SECONDS - T0))s; agents: $AGENT_CHOICE"
((SHOW)) && cluster_show

RESULTS=$LAB_RUN/results.tsv
FAILS=0
for ((run = 1; run <= RUNS; run++)); do
  for e in "${EXPS[@]}"; do
    log "=== experiment $e (run $run/$RUNS) ==="
    if ! "exp_${e//-/_}"; then FAILS=$((FAILS + 1)); fi
    ((SHOW)) && cluster_show
  done
done
monitor_cost
echo
echo "== results ($AGENTS agents: $AGENT_CHOICE; fence-peer handlers: $HANDLERS;${ARBITER:+ quorum arbiter at $ARBITER;}${LAB_TOKEN:+ corosync token $LAB_TOKEN ms;}$( ((LAB_TICKLE)) || echo ' no tickle ACKs;') kernel $KERNEL; DRBD $DRBD_VERSION; ${#NODES[@]} nodes; accel ${LAB_ACCEL%% *}) =="
column -t -s $'\t' "$RESULTS"
cat "$RESULTS" >> "$LAB_CACHE/results.tsv"
if ((RUNS > 1)); then
  # The steps come from the nodes' logs: collect them now rather than at exit.
  lab_collect_logs
  LAB_COLLECT=0
  echo
  python3 "$HERE/series.py" "$LAB_RUN" "${EXPS[@]}" | tee "$LAB_RUN/series.md" || true
fi
echo "$((${#EXPS[@]} * RUNS - FAILS)) passed, $FAILS failed"
((FAILS == 0))
