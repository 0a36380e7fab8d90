# shellcheck shell=bash
# Lab plumbing: network namespace, VMs, ssh into guests, fence daemon, cleanup.
# Sourced by run.sh; everything it creates is undone by lab_cleanup (trap).

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../qdevice.sh
source "$LAB_DIR/../qdevice.sh"
LAB_CACHE=${FERRO_LAB_CACHE:-/var/cache/ferro-lab}
LAB_NS=${FERRO_LAB_NETNS:-flab}
LAB_HOST_IP=192.168.48.1
LAB_VIP=192.168.48.200
declare -A LAB_IP=([node1]=192.168.48.180 [node2]=192.168.48.181 [node3]=192.168.48.182 [client]=192.168.48.190)
declare -A LAB_MAC=([node1]=52:54:00:48:01:80 [node2]=52:54:00:48:01:81 [node3]=52:54:00:48:01:82 [client]=52:54:00:48:01:90)
# node3 (--nodes 3) is DRBD's diskless tiebreaker: no data disk, never the service.
declare -A LAB_MEM=([node1]=768 [node2]=768 [node3]=512 [client]=384)
# The cluster nodes: node1 and node2 hold the data; --nodes 3 adds node3 (run.sh).
NODES=(node1 node2)
TIEBREAKER=
LAB_TOKEN=        # --token: corosync's token in ms (and DRBD's ping-int with it); empty: the image's
LAB_TICKLE=1      # 1: crm-examples' default (ocf:ferro:IPaddr2 tickle_dir=/data/.nfsinfo); 0 (--no-tickle): TICKLE_DIR=
ARBITER=          # --arbiter: corosync-qnetd's address (the host side), corosync-qdevice on the nodes
CLUSTER_UNITS="corosync pacemaker"   # what a node starts to join the cluster
LAB_FENCED_PORT=7410

log() { printf '%s [lab] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
now() { date +%s.%N; }

lab_image() {
  LAB_IMG=$("$LAB_DIR/build-image.sh") || die "image build failed"
  LAB_KEY=$LAB_IMG/id_lab
}

# KVM if it really boots a kernel here, else TCG. Nested KVM may hang at "Booting from ROM"
# or qemu may abort at once: anything but the guest kernel reaching its init within the probe's
# time means TCG. The answer is cached per host kernel, qemu build and /dev/kvm, so a changed
# machine probes again; the probe itself never ends the caller (set -e) whatever qemu does.
lab_accel() {
  if [[ -n ${FERRO_LAB_ACCEL:-} ]]; then LAB_ACCEL=$FERRO_LAB_ACCEL; return; fi
  local key cache
  key=$( { uname -r; qemu-system-x86_64 --version 2>/dev/null | head -1; ls -l /dev/kvm 2>/dev/null; } | sha256sum | cut -c1-12)
  cache=$LAB_CACHE/accel-$key
  if [[ -s $cache ]]; then LAB_ACCEL=$(cat "$cache"); return; fi
  LAB_ACCEL=$(lab_accel_probe)
  log "accelerator probe: ${LAB_ACCEL%% *}"
  echo "$LAB_ACCEL" > "$cache"
}

# Prints the accelerator to use: "kvm -cpu host" when a KVM guest reaches its init, else TCG.
lab_accel_probe() {
  local tcg="tcg,tb-size=256"
  if [[ ! -r /dev/kvm || ! -w /dev/kvm ]]; then echo "$tcg"; return 0; fi
  local probe qpid i ok=0
  probe=$(mktemp -d)
  timeout 40 qemu-system-x86_64 -accel kvm -cpu host -m 256 -display none -no-reboot \
    -kernel "$LAB_IMG/vmlinuz" -initrd "$LAB_IMG/initrd.img" -serial "file:$probe/console" \
    -append "console=ttyS0 panic=-1 root=/dev/nonexistent rootdelay=1" >"$probe/qemu.log" 2>&1 &
  qpid=$!
  for i in $(seq 1 30); do
    if grep -q "Run /init as init process" "$probe/console" 2>/dev/null; then ok=1; break; fi
    kill -0 "$qpid" 2>/dev/null || break   # qemu gave up (e.g. aborted): no KVM here
    sleep 1
  done
  kill "$qpid" 2>/dev/null || true
  wait "$qpid" 2>/dev/null || true
  if ((ok)); then echo "kvm -cpu host"; else
    log "KVM probe: no guest init (qemu: $(tail -1 "$probe/qemu.log" 2>/dev/null)); using TCG"
    echo "$tcg"
  fi
  rm -rf "$probe"
}

lab_net_up() {
  ip netns add "$LAB_NS" || die "netns $LAB_NS exists: another lab running? (ip netns del $LAB_NS)"
  LAB_NETNS_MADE=1
  local n=(ip netns exec "$LAB_NS")
  "${n[@]}" ip link set lo up
  "${n[@]}" ip link add br0 type bridge
  "${n[@]}" ip addr add "$LAB_HOST_IP/24" dev br0
  "${n[@]}" ip link set br0 up
  local vm
  for vm in "${NODES[@]}" client; do
    # Persistent taps: a killed qemu leaves its tap on the bridge for the restarted one.
    "${n[@]}" ip tuntap add "t-$vm" mode tap
    "${n[@]}" ip link set "t-$vm" master br0 up
  done
}

lab_disks() {
  local vm
  for vm in "${NODES[@]}" client; do
    cp --sparse=always "$LAB_IMG/root.ext4" "$LAB_RUN/$vm.root.ext4"
  done
  truncate -s 512M "$LAB_RUN/node1.drbd.raw" "$LAB_RUN/node2.drbd.raw"
}

vm_pid() {
  local f=$LAB_RUN/$1.pid pid st
  [[ -f $f ]] || return 1
  pid=$(cat "$f")
  st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ $st != Z && $st != X ]] && echo "$pid"
}

vm_start() {
  local vm=$1 extra=()
  [[ $vm == node* && $vm != "$TIEBREAKER" ]] && extra=(-drive "file=$LAB_RUN/$vm.drbd.raw,format=raw,if=virtio,cache=none")
  rm -f "$LAB_RUN/$vm.pid"
  # shellcheck disable=SC2086
  ip netns exec "$LAB_NS" qemu-system-x86_64 -name "flab-$vm" -accel $LAB_ACCEL \
    -m "${LAB_MEM[$vm]}" -smp 1 -display none -no-reboot -daemonize -pidfile "$LAB_RUN/$vm.pid" \
    -chardev "file,id=con,path=$LAB_RUN/logs/$vm.console,append=on" -serial chardev:con \
    -kernel "$LAB_IMG/vmlinuz" -initrd "$LAB_IMG/initrd.img" \
    -append "console=ttyS0 root=/dev/vda rw panic=1 net.ifnames=0 loglevel=5 lab.host=$vm lab.ip=${LAB_IP[$vm]}/24" \
    -drive "file=$LAB_RUN/$vm.root.ext4,format=raw,if=virtio,cache=unsafe" "${extra[@]}" \
    -netdev "tap,id=n0,ifname=t-$vm,script=no,downscript=no" \
    -device "virtio-net-pci,netdev=n0,mac=${LAB_MAC[$vm]}" \
    -device virtio-rng-pci >>"$LAB_RUN/logs/qemu.log" 2>&1 || die "qemu for $vm failed (logs/qemu.log)"
  log "$vm started (pid $(cat "$LAB_RUN/$vm.pid"), accel ${LAB_ACCEL%% *})"
}

vm_kill() {
  local pid
  pid=$(vm_pid "$1") || return 0
  kill -KILL "$pid"
  while vm_pid "$1" >/dev/null; do sleep 0.1; done
}

SSH_OPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
          -o ConnectTimeout=30 -o ServerAliveInterval=5 -o ServerAliveCountMax=3 -o BatchMode=yes)

# lab_ssh VM CMD...  (CMD is run by the guest's shell; SSH_T=seconds bounds it, default 900)
lab_ssh() {
  local vm=$1 rc=0; shift
  timeout "${SSH_T:-900}" ip netns exec "$LAB_NS" ssh -i "$LAB_KEY" "${SSH_OPTS[@]}" "root@${LAB_IP[$vm]}" "$@" || rc=$?
  if ((rc == 137)); then
    # SIGKILLed on the host (not by us: timeout sends TERM), e.g. a neighbour's `fuser -km`
    # on a shared filesystem, or a process picked by a reused namespace number (docs/lab.md). Once more; the guest side did or did not run, commands are idempotent.
    log "ssh to $vm was SIGKILLed on the host; retrying once"
    rc=0
    timeout "${SSH_T:-900}" ip netns exec "$LAB_NS" ssh -i "$LAB_KEY" "${SSH_OPTS[@]}" "root@${LAB_IP[$vm]}" "$@" || rc=$?
  fi
  return $rc
}
lab_scp_to() {  # lab_scp_to VM SRC DST
  ip netns exec "$LAB_NS" scp -q -i "$LAB_KEY" "${SSH_OPTS[@]}" "$2" "root@${LAB_IP[$1]}:$3"
}

wait_ssh() {
  local vm=$1 t=${2:-400} start=$SECONDS
  while ! lab_ssh "$vm" true 2>/dev/null; do
    vm_pid "$vm" >/dev/null || die "$vm died while booting (logs/$vm.console)"
    (( SECONDS - start > t )) && die "$vm: no ssh after ${t}s (logs/$vm.console)"
    sleep 3
  done
  log "$vm up after $((SECONDS - start))s"
}

# wait_for DESC TIMEOUT CMD...  — poll until CMD succeeds
wait_for() {
  local desc=$1 t=$2 start=$SECONDS; shift 2
  until "$@" >/dev/null 2>&1; do
    (( SECONDS - start > t )) && { log "timeout (${t}s) waiting for: $desc"; return 1; }
    sleep 2
  done
}

# DRBD 8.4 (Debian's kernel module) or 9 (built by build-drbd9.sh for the image's kernel).
LAB_DRBD=${FERRO_LAB_DRBD:-8.4}

# lab_drbd_modules : for DRBD 9, the modules built for the image's kernel (cached), in $LAB_DRBD9.
lab_drbd_modules() {
  [[ $LAB_DRBD == 9 ]] || return 0
  LAB_DRBD9=$("$LAB_DIR/build-drbd9.sh" "$LAB_IMG") || die "DRBD 9 module build failed"
}

# The DRBD 9 r0 the nodes get: with a tiebreaker (--nodes 3), the example's three-node file.
LAB_DRBD9_RES=$LAB_DIR/drbd9/r0.res

# lab_drbd_install VM : for DRBD 9, its modules (they take precedence over the kernel's 8.4 in
# updates/) and the DRBD 9 syntax of r0 on the node. Kept on the node's disk across reboots.
lab_drbd_install() {
  [[ $LAB_DRBD == 9 ]] || return 0
  local vm=$1 rel ko
  rel=$(cat "$LAB_DRBD9/release")
  lab_ssh "$vm" "mkdir -p /lib/modules/$rel/updates/drbd9"
  for ko in "$LAB_DRBD9"/*.ko; do lab_scp_to "$vm" "$ko" "/lib/modules/$rel/updates/drbd9/"; done
  lab_scp_to "$vm" "$LAB_DRBD9_RES" /etc/drbd.d/r0.res
  # systemd-modules-load loaded the kernel's 8.4 at boot (drbd-utils' modules-load.d): unused
  # yet, it makes way for 9, which a reboot then loads.
  lab_ssh "$vm" "depmod -a $rel && sync && rmmod drbd 2>/dev/null; modprobe drbd && grep -q '^9\\.' /sys/module/drbd/version" ||
    die "$vm: DRBD 9 not loaded ($(lab_ssh "$vm" 'modinfo -F version drbd; cat /sys/module/drbd/version' 2>&1))"
}

# drbd_state VM : "cs ro ds" of r0 in /proc/drbd's 8.4 words, e.g.
# "Connected Primary/Secondary UpToDate/UpToDate", from `drbdsetup events2 --now` (DRBD 9 has
# no state in /proc/drbd; drbd-utils 9 prints events2 for 8.4 too): WFConnection is 9's
# Connecting, a running resync (SyncSource...) is shown as the connection state. The peer is
# the first one with data: a diskless tiebreaker (peer-client:yes) is left out (see
# tiebreaker_state). Empty when r0 is not up.
drbd_state() {
  SSH_T=${SSH_T:-60} lab_ssh "$1" 'drbdsetup events2 --now r0' 2>/dev/null | awk '
    $1 != "exists" { next }
    { delete kv; for (i = 3; i <= NF; i++) { k = $i; sub(/:.*/, "", k); v = $i; sub(/^[^:]*:/, "", v); kv[k] = v } }
    { c = ("conn-name" in kv) ? kv["conn-name"] : kv["peer-node-id"] }
    $2 == "resource" { role = kv["role"] }
    $2 == "connection" { if (!(c in conn)) order[++n] = c; conn[c] = kv["connection"]; peer[c] = kv["role"] }
    $2 == "device" { disk = kv["disk"] }
    $2 == "peer-device" { repl[c] = kv["replication"]; pdisk[c] = kv["peer-disk"]; client[c] = kv["peer-client"] }
    END {
      if (role == "") exit
      for (i = 1; i <= n; i++) if (client[order[i]] != "yes") { p = order[i]; break }
      cs = p == "" || conn[p] == "" ? "StandAlone" : conn[p] == "Connecting" ? "WFConnection" : conn[p]
      if (cs == "Connected" && repl[p] != "" && repl[p] != "Established" && repl[p] != "Off") cs = repl[p]
      printf "%s %s/%s %s/%s\n", cs, role, peer[p] == "" ? "Unknown" : peer[p], disk == "" ? "Diskless" : disk, pdisk[p] == "" ? "DUnknown" : pdisk[p]
    }'
}

# tiebreaker_state VM : the diskless node's view, peers by name, e.g.
# "Secondary Diskless client:yes quorum:yes node1:Connected/Primary/UpToDate node2:Connected/Secondary/UpToDate"
tiebreaker_state() {
  SSH_T=${SSH_T:-60} lab_ssh "$1" 'drbdsetup events2 --now r0' 2>/dev/null | awk '
    $1 != "exists" { next }
    { delete kv; for (i = 3; i <= NF; i++) { k = $i; sub(/:.*/, "", k); v = $i; sub(/^[^:]*:/, "", v); kv[k] = v } }
    $2 == "resource" { role = kv["role"] }
    $2 == "device" { dev = kv["disk"] " client:" kv["client"] " quorum:" kv["quorum"] }
    $2 == "connection" { c = kv["conn-name"]; order[++n] = c; conn[c] = kv["connection"] "/" kv["role"] }
    $2 == "peer-device" { pdisk[kv["conn-name"]] = kv["peer-disk"] }
    END {
      if (role == "") exit
      printf "%s %s", role, dev
      # By peer name: events2 lists the connections in the order they were made.
      for (i = 2; i <= n; i++) for (j = i; j > 1 && order[j - 1] > order[j]; j--) { c = order[j]; order[j] = order[j - 1]; order[j - 1] = c }
      for (i = 1; i <= n; i++) printf " %s:%s/%s", order[i], conn[order[i]], pdisk[order[i]]
      printf "\n"
    }'
}

# tiebreaker_ok VM : the tiebreaker is Diskless by intent, has quorum and sees both data nodes
# UpToDate (either may be Primary).
tiebreaker_ok() {
  # shellcheck disable=SC2053
  [[ $(tiebreaker_state "$1") == Secondary\ Diskless\ client:yes\ quorum:yes\ node1:Connected/*/UpToDate\ node2:Connected/*/UpToDate ]]
}

drbd_is() {  # drbd_is VM PATTERN
  # shellcheck disable=SC2053
  [[ $(drbd_state "$1") == $2 ]]
}

lab_fenced_start() {
  ip netns exec "$LAB_NS" python3 "$LAB_DIR/fenced.py" "$LAB_HOST_IP:$LAB_FENCED_PORT" "$LAB_RUN" \
    >>"$LAB_RUN/logs/fenced.log" 2>&1 &
  LAB_FENCED_PID=$!
}

# The quorum arbiter: corosync-qnetd on the host side of the namespace, like the fence daemon.
lab_qnetd_start() {
  qnetd_start "$LAB_NS" "$LAB_HOST_IP" "$LAB_RUN" "$LAB_RUN/logs/qnetd.log"
  LAB_QNETD_PID=$QNETD_PID
}

# The nodes' corosync.conf with the arbiter: the image's, its two_node replaced by the quorum
# device (qdevice_conf).
lab_qdevice_corosync_conf() {
  local line
  while IFS= read -r line; do
    if [[ $line == *two_node:* ]]; then qdevice_conf "$ARBITER" "  "; else printf '%s\n' "$line"; fi
  done <"$LAB_DIR/guest/rootfs/etc/corosync/corosync.conf"
}

lab_collect_logs() {
  local vm
  for vm in "${NODES[@]}" client; do
    vm_pid "$vm" >/dev/null || continue
    SSH_T=60 lab_ssh "$vm" 'journalctl -b --no-pager -o short-precise; echo ==== dmesg; dmesg' \
      > "$LAB_RUN/logs/$vm.journal" 2>/dev/null || true
    [[ $vm == node* ]] || continue
    SSH_T=60 lab_ssh "$vm" 'cat /var/log/pacemaker/pacemaker.log 2>/dev/null' \
      > "$LAB_RUN/logs/$vm.pacemaker.log" 2>/dev/null || true
    SSH_T=30 lab_ssh "$vm" 'crm_mon -1 -A -f 2>&1; drbdsetup status --verbose --statistics' \
      > "$LAB_RUN/logs/$vm.status" 2>/dev/null || true
  done
}

lab_cleanup() {
  local rc=$? vm
  trap - EXIT INT TERM
  if [[ -n ${LAB_RUN:-} && -d ${LAB_RUN:-/nonexistent} ]]; then
    if [[ ${FERRO_LAB_HOLD:-0} == 1 ]]; then
      touch "$LAB_RUN/hold"
      log "FERRO_LAB_HOLD: VMs left running until $LAB_RUN/hold is removed (tests/lab/ssh.sh VM CMD)"
      while [[ -e $LAB_RUN/hold ]]; do sleep 2; done
    fi
    [[ ${LAB_COLLECT:-1} == 1 ]] && lab_collect_logs
    for vm in "${NODES[@]}" client; do vm_kill "$vm"; done
    [[ ${FERRO_LAB_KEEP:-0} == 1 ]] || rm -f "$LAB_RUN"/*.raw "$LAB_RUN"/*.ext4
  fi
  [[ -n ${LAB_FENCED_PID:-} ]] && kill "$LAB_FENCED_PID" 2>/dev/null
  [[ -n ${LAB_QNETD_PID:-} ]] && kill "$LAB_QNETD_PID" 2>/dev/null
  [[ -n ${LAB_NETNS_MADE:-} ]] && ip netns del "$LAB_NS" 2>/dev/null
  [[ -n ${LAB_RUN:-} ]] && log "logs in $LAB_RUN/logs"
  exit "$rc"
}

# The host side needs these Debian packages; install what is missing (CI may be a new machine).
lab_host_packages() {
  "$LAB_DIR/../../scripts/apt-install.sh" mmdebstrap qemu-system-x86 openssh-client e2fsprogs \
    iproute2 python3 util-linux ${ARBITER:+corosync-qnetd}
}

# drbd_agent_cmd VM ACTION [VAR=VALUE...] : the ferro agent as pacemaker-execd would run it
# (promotable clone); DRBD_AGENT=linbit: the reference agent, the same way.
drbd_agent_cmd() {
  local vm=$1 action=$2; shift 2
  echo "env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=drbd_r0 \
    OCF_RESKEY_drbd_resource=r0 OCF_RESKEY_CRM_meta_clone_max=${#NODES[@]} OCF_RESKEY_CRM_meta_clone_node_max=1 \
    OCF_RESKEY_CRM_meta_promoted_max=1 OCF_RESKEY_CRM_meta_promoted_node_max=1 \
    OCF_RESKEY_CRM_meta_notify=true OCF_RESKEY_CRM_meta_on_node=$vm $* \
    /usr/lib/ocf/resource.d/${DRBD_AGENT:-ferro}/drbd $action"
}

# time_calls VM N LABEL CMD : wall time per call of CMD on VM, N calls after a first (which
# warms the caches); prints "VM LABEL rc=RC: MS ms per call".
time_calls() {
  local vm=$1 n=$2 label=$3 cmd=$4
  lab_ssh "$vm" "cmd=\"$cmd\"
    eval \"\$cmd\" >/dev/null 2>&1
    t0=\$(date +%s%N); for i in \$(seq $n); do eval \"\$cmd\" >/dev/null 2>&1; rc=\$?; done; t1=\$(date +%s%N)
    echo \"$vm $label rc=\$rc: \$(( (t1 - t0) / $n / 1000000 )) ms per call ($n calls after a first)\""
}

# time_monitor VM AGENT N [VAR=VALUE...] : time_calls of ocf:AGENT:drbd's monitor on VM.
time_monitor() {
  local vm=$1 agent=$2 n=$3; shift 3
  time_calls "$vm" "$n" "ocf:$agent:drbd" \
    "$(DRBD_AGENT=$agent drbd_agent_cmd "$vm" monitor OCF_RESKEY_CRM_meta_interval=20000 "$@")"
}

# The ferro-ocf Debian package the nodes get (scripts/deb.sh): every lab run tests the package
# users install. A package given by the caller (the test suite passes the one built from the
# binary under test: cargo holds the build directory's lock while tests run) is used as it is.
lab_build_ferro() {
  if [[ -n ${FERRO_DEB:-} ]]; then
    [[ -f $FERRO_DEB ]] || die "FERRO_DEB=$FERRO_DEB is not a file"
    return
  fi
  log "scripts/deb.sh (ferro-ocf .deb)"
  local root; root=$(cd "$LAB_DIR/../.." && pwd)
  FERRO_DEB=$(cd "$root" && nice -n 10 scripts/deb.sh | tail -1) || die "building the .deb failed"
}

# lab_install_deb VM... : install (or upgrade to) $FERRO_DEB with dpkg on each VM.
lab_install_deb() {
  local vm
  for vm in "$@"; do
    lab_scp_to "$vm" "$FERRO_DEB" /root/ferro-ocf.deb
    lab_ssh "$vm" 'dpkg -i /root/ferro-ocf.deb && ferro-ocf --version' \
      >> "$LAB_RUN/logs/ferro-install-$vm.log" 2>&1 || die "dpkg -i ferro-ocf.deb failed on $vm (logs/ferro-install-$vm.log)"
  done
  log "installed $(basename "$FERRO_DEB") on $*"
}

# lab_prepare NAME : root, room for the VMs on this host, the image, the accelerator, and a
# run directory $LAB_RUN named after the time and NAME.
lab_prepare() {
  [[ $(id -u) == 0 ]] || die "run as root (netns, taps)"
  local n; n=$(pgrep -c qemu-system || true)
  ((n < 3)) || die "$n qemu VMs already running on this 2-core host: wait until fewer than 3 run"
  lab_host_packages
  lab_image
  lab_accel
  LAB_RUN=$LAB_CACHE/runs/$(date -u +%Y%m%dT%H%M%S)-$1
  mkdir -p "$LAB_RUN/logs"
}
