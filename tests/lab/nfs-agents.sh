#!/bin/bash
# ocf:ferro:exportfs and ocf:ferro:nfsserver against the real kernel NFS server, in one lab VM
# (Debian 12, systemd, nfsd module), side by side with the reference agents. No cluster: the agents
# are run the way pacemaker-execd runs them (environment only), plus ocf-tester.
#
#   tests/lab/nfs-agents.sh [test]      boot a VM, run the checks, print a table, tear down
#   tests/lab/nfs-agents.sh up          boot the VM and leave it running (prints how to reach it)
#   tests/lab/nfs-agents.sh sh CMD...   run CMD in the running VM
#   tests/lab/nfs-agents.sh capture DIR copy real NFS state files from the running VM into DIR
#   tests/lab/nfs-agents.sh down        stop the VM and remove the namespace
#
# Uses the lab's image and plumbing (lib.sh) in its own network namespace (FERRO_LAB_NETNS,
# default fnfs) so that it can run next to tests/lab/run.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export FERRO_LAB_NETNS=${FERRO_LAB_NETNS:-fnfs}
# shellcheck source=lib.sh
source "$HERE/lib.sh"
STATE=$LAB_CACHE/nfs-agents.run
VM=node1

vm_up() {
  [[ -f $STATE ]] && die "a VM is up ($STATE): $0 down first"
  lab_prepare nfs-agents
  echo "$LAB_RUN" > "$STATE"
  lab_net_up
  cp --sparse=always "$LAB_IMG/root.ext4" "$LAB_RUN/$VM.root.ext4"
  # The second disk holds the exported filesystem, so that stop can be checked to free it.
  truncate -s 512M "$LAB_RUN/$VM.drbd.raw"
  vm_start "$VM"
  wait_ssh "$VM"
  lab_ssh "$VM" 'mkfs.xfs -q -f /dev/vdb && mkdir -p /srv/exp && mount /dev/vdb /srv/exp &&
    mkdir -p /srv/exp/a /srv/exp/b /srv/exp/c "/srv/exp/with space" && mkdir -p /srv/local'
}

vm_resume() {
  [[ -f $STATE ]] || die "no VM up: $0 up"
  LAB_RUN=$(cat "$STATE")
  LAB_IMG=$("$LAB_DIR/build-image.sh")
  LAB_KEY=$LAB_IMG/id_lab
}

vm_down() {
  [[ -f $STATE ]] || return 0
  LAB_RUN=$(cat "$STATE")
  timeout 60 lab_ssh "$VM" 'journalctl -b --no-pager -o short-precise' > "$LAB_RUN/logs/$VM.journal" 2>/dev/null || true
  vm_kill "$VM"
  ip netns del "$LAB_NS" 2>/dev/null || true
  rm -f "$LAB_RUN"/*.raw "$LAB_RUN"/*.ext4 "$STATE"
  log "VM down; logs in $LAB_RUN/logs"
}

ferro_install() {
  lab_install_deb "$VM"
  # ocf-tester validates meta-data with xmllint, which the image lacks (libxml2 it has): the
  # host's Debian 12 build of it runs there.
  if ! lab_ssh "$VM" 'command -v xmllint' >/dev/null && [[ -x /usr/bin/xmllint ]]; then
    lab_scp_to "$VM" /usr/bin/xmllint /usr/local/bin/xmllint
  fi
}

# Real state files for the parsers' tests: the export table of the kernel and of exportfs(8),
# rmtab, /proc/fs/nfsd, the systemd view of the NFS units, with a few exports of each kind.
capture() {
  local dir=$1
  mkdir -p "$dir"
  lab_ssh "$VM" 'set -e
    systemctl start nfs-server
    exportfs -o rw,sync,no_root_squash,fsid=1 192.168.48.0/24:/srv/exp/a
    exportfs -o ro,fsid=2,sec=sys 192.168.48.190:/srv/exp/b
    exportfs -o rw,fsid=3a1f5e3c-2b9d-4c6e-8f00-112233445566 "*:/srv/exp/c"
    exportfs -o rw,fsid=0,crossmnt "[fd00:48::]/64:/srv/exp"
    exportfs -o rw,fsid=5 "@labnet:/srv/exp/with space"
    exportfs -o rw,fsid=6 "node*.lab:/srv/local"
    mkdir -p /mnt/self && mount -t nfs -o vers=3,nolock 127.0.0.1:/srv/exp/c /mnt/self || true
    ls /mnt/self >/dev/null 2>&1 || true
    mount -t nfs -o vers=4.2 127.0.0.1:/srv/exp/c /mnt/self 2>/dev/null || true
    ls /mnt/self >/dev/null 2>&1 || true' >&2 || true
  lab_ssh "$VM" 'cat /var/lib/nfs/etab' > "$dir/etab"
  lab_ssh "$VM" 'cat /proc/net/rpc/nfsd.export/content' > "$dir/nfsd.export.content"
  lab_ssh "$VM" 'cat /proc/net/rpc/nfsd.fh/content' > "$dir/nfsd.fh.content" || true
  lab_ssh "$VM" 'cat /var/lib/nfs/rmtab 2>/dev/null || echo "(no rmtab)"' > "$dir/rmtab"
  lab_ssh "$VM" 'exportfs -v' > "$dir/exportfs-v.out"
  lab_ssh "$VM" 'exportfs' > "$dir/exportfs.out"
  lab_ssh "$VM" 'cd /proc/fs/nfsd && for f in threads versions portlist nfsv4leasetime nfsv4gracetime; do printf "%s: " $f; cat $f 2>&1 | tr "\n" " "; echo; done; ls -l /proc/fs/nfsd' > "$dir/proc-fs-nfsd.txt"
  lab_ssh "$VM" 'systemctl is-active rpcbind.service nfs-mountd.service nfs-idmapd.service rpc-statd.service nfs-server.service nfsdcld.service no-such.service; echo "rc=$?"' > "$dir/systemctl-is-active.out" || true
  lab_ssh "$VM" 'systemctl show -p Id,ActiveState,SubState,LoadState,UnitFileState rpcbind.service nfs-mountd.service nfs-idmapd.service rpc-statd.service nfs-server.service nfsdcld.service no-such.service' > "$dir/systemctl-show.out" || true
  lab_ssh "$VM" 'systemctl list-unit-files "nfs*" "rpc*" --no-legend' > "$dir/systemctl-list-unit-files.out" || true
  lab_ssh "$VM" 'cat /proc/self/mountinfo' > "$dir/mountinfo" || true
  lab_ssh "$VM" 'umount -l /mnt/self 2>/dev/null; exportfs -ua; systemctl stop nfs-server' >&2 || true
  log "captured into $dir"
}

case ${1:-test} in
  up) vm_up; log "VM up: $0 sh CMD; $0 down" ;;
  sh) vm_resume; shift; lab_ssh "$VM" "$@" ;;
  install) vm_resume; lab_build_ferro; ferro_install ;;
  capture) vm_resume; capture "${2:?capture DIR}" ;;
  down) vm_down ;;
  test)
    trap vm_down EXIT
    lab_build_ferro
    vm_up
    ferro_install
    lab_scp_to "$VM" "$HERE/nfs-agents.guest.sh" /root/nfs-agents.guest.sh
    rc=0
    SSH_T=3000 lab_ssh "$VM" 'bash /root/nfs-agents.guest.sh' | tee "$LAB_RUN/logs/results.txt" || rc=$?
    lab_ssh "$VM" 'cat /root/agents.log' > "$LAB_RUN/logs/agents.log" 2>/dev/null || true
    exit "$rc"
    ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
