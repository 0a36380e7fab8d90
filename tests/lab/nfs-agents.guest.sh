#!/bin/bash
# Runs inside the lab VM (copied there by nfs-agents.sh): ocf:ferro:{nfsserver,exportfs} against
# the real kernel NFS server, and the reference agents in the same situations where that tells
# something. Prints one line per check and a summary; exits non-zero if a ferro check failed.
# Expects: systemd, nfs-kernel-server, the ferro agents installed, an XFS on /dev/vdb mounted
# on /srv/exp with directories a b c in it.
set -uo pipefail
export OCF_ROOT=/usr/lib/ocf
FERRO=$OCF_ROOT/resource.d/ferro
REF=$OCF_ROOT/resource.d/heartbeat
IP=$(ip -4 -o addr show dev eth0 | awk '{sub(/\/.*/, "", $4); print $4}')
NET=${IP%.*}.0/24
PASS=0 FAIL=0 NOTE=0
TIMEFORMAT=%R

say() { printf '%s\n' "$*"; }
# check NAME EXPECTED_RC ACTUAL_RC [DETAIL]
check() {
  if [[ $2 == "$3" ]]; then PASS=$((PASS + 1)); say "PASS  $1 (rc $3)${4:+ — $4}"
  else FAIL=$((FAIL + 1)); say "FAIL  $1: expected rc $2, got $3${4:+ — $4}"; fi
}
ok() { if eval "$2"; then PASS=$((PASS + 1)); say "PASS  $1"; else FAIL=$((FAIL + 1)); say "FAIL  $1 ($2)"; fi; }
# The reference's behaviour, recorded for comparison, never a failure of ours.
note() { NOTE=$((NOTE + 1)); say "REF   $*"; }

# agent AGENT_PATH ACTION [VAR=VALUE...] : run like pacemaker-execd, stderr to the log
agent() {
  local a=$1 act=$2; shift 2
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin OCF_ROOT=$OCF_ROOT OCF_RESOURCE_INSTANCE=${INST:-lab} \
    HA_RSCTMP=/run/resource-agents OCF_RESKEY_CRM_meta_interval=${INTERVAL:-10000} \
    OCF_RESKEY_CRM_meta_timeout=${TIMEOUT_MS:-60000} "${@/#/OCF_RESKEY_}" \
    "$a" "$act" >>/root/agents.log 2>&1
}
rc() { agent "$@"; echo $?; }
timed() {  # timed VAR CMD... : run, set VAR to wall seconds, return the command's status
  local __v=$1 t0 t1 r; shift
  t0=$(date +%s.%N); "$@"; r=$?; t1=$(date +%s.%N)
  printf -v "$__v" '%.2f' "$(echo "$t1 - $t0" | bc -l 2>/dev/null || awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')"
  return $r
}
threads() { cat /proc/fs/nfsd/threads 2>/dev/null || echo none; }
bound() { awk '$5 == "/var/lib/nfs" {f=1} END {exit !f}' /proc/self/mountinfo; }
reset_nfs() {
  exportfs -ua 2>/dev/null; systemctl stop nfs-server rpc-statd nfs-idmapd nfs-mountd nfsdcld 2>/dev/null
  pkill -x sm-notify; umount /var/lib/nfs 2>/dev/null; systemctl reset-failed
  rm -f /run/resource-agents/*
}

say "== $(uname -r), $(dpkg-query -W -f '${Package} ${Version}' nfs-kernel-server), $(dpkg-query -W -f '${Package} ${Version}' resource-agents), $(date -u +%FT%TZ)"
reset_nfs

###### nfsserver
say "-- nfsserver (systemd units)"
INFO=/srv/exp/nfsinfo
NS=(nfs_shared_infodir=$INFO nfs_ip=$IP)
check "ferro nfsserver probe, stopped" 7 "$(INTERVAL=0 rc $FERRO/nfsserver monitor "${NS[@]}")"
timed T rc $FERRO/nfsserver start "${NS[@]}" >/tmp/rc; check "ferro nfsserver start" 0 "$(cat /tmp/rc)" "${T}s, threads $(threads)"
ok "ferro nfsserver start bound $INFO on /var/lib/nfs" bound
ok "ferro nfsserver start created nfsdcld/ and v4recovery/ in $INFO" "[[ -d $INFO/nfsdcld && -d $INFO/v4recovery ]]"
check "ferro nfsserver monitor" 0 "$(rc $FERRO/nfsserver monitor "${NS[@]}")"
check "ferro nfsserver start again (running)" 0 "$(rc $FERRO/nfsserver start "${NS[@]}")"
systemctl kill -s KILL nfs-mountd.service; sleep 1
check "ferro nfsserver monitor, rpc.mountd killed" 7 "$(rc $FERRO/nfsserver monitor "${NS[@]}")" "$(tail -1 /root/agents.log)"
systemctl start nfs-mountd.service
rpc.nfsd 0
check "ferro nfsserver monitor, nfsd threads 0 (unit still active)" 7 "$(rc $FERRO/nfsserver monitor "${NS[@]}")"
rpc.nfsd 8
# #122: sm-notify retrying an unreachable client keeps /var/lib/nfs busy.
printf '0100007f 000186b5 00000003 00000010 00000000 00000000 00000000 00000000 192.168.48.99 lab\n' \
  > /var/lib/nfs/sm/192.168.48.99; chown statd: /var/lib/nfs/sm/192.168.48.99
sm-notify -f; sleep 1
ok "sm-notify retries and holds /var/lib/nfs (#122 set-up)" "[[ \$(readlink /proc/\$(pgrep -x sm-notify | head -1)/cwd) == /var/lib/nfs ]]"
timed T rc $FERRO/nfsserver stop "${NS[@]}" >/tmp/rc; check "ferro nfsserver stop with sm-notify holding /var/lib/nfs (#122)" 0 "$(cat /tmp/rc)" "${T}s"
ok "ferro nfsserver stop unbound /var/lib/nfs, nfsd threads $(threads)" "! bound && [[ \$(threads) == 0 || \$(threads) == none ]]"
ok "ferro nfsserver stop kept the monitor list in sm.ha" "ls $INFO/sm.ha/sm $INFO/sm.ha/sm.bak 2>/dev/null | grep -q 192.168.48.99"
check "ferro nfsserver stop again (stopped)" 0 "$(rc $FERRO/nfsserver stop "${NS[@]}")"
check "ferro nfsserver monitor, stopped" 7 "$(rc $FERRO/nfsserver monitor "${NS[@]}")"
# #267: several nfs_ip, unreachable clients, sm-notify in the foreground: bounded by the timeout.
TIMEOUT_MS=30000 timed T rc $FERRO/nfsserver start nfs_shared_infodir=$INFO nfs_ip=$IP,192.168.48.201 nfs_notify_foreground=true nfs_smnotify_retry_time=1 >/tmp/rc
check "ferro nfsserver start, 2 nfs_ip, unreachable client, foreground sm-notify, timeout 30s (#267)" 0 "$(cat /tmp/rc)" "${T}s"
check "ferro nfsserver stop" 0 "$(rc $FERRO/nfsserver stop "${NS[@]}")"
# nfsv4_only with a shared directory: rpc-statd must go too or the unbind fails (PR#1979).
check "ferro nfsserver start nfsv4_only" 0 "$(rc $FERRO/nfsserver start "${NS[@]}" nfsv4_only=true)"
check "ferro nfsserver monitor nfsv4_only" 0 "$(rc $FERRO/nfsserver monitor "${NS[@]}" nfsv4_only=true)"
systemctl start rpc-statd
check "ferro nfsserver stop nfsv4_only with rpc-statd running (PR#1979)" 0 "$(rc $FERRO/nfsserver stop "${NS[@]}" nfsv4_only=true)"
ok "ferro nfsserver nfsv4_only stop unbound /var/lib/nfs" "! bound"
# nfs_server_scope: nfsd started in a UTS namespace named after the scope.
check "ferro nfsserver start nfs_server_scope" 0 "$(rc $FERRO/nfsserver start nfs_server_scope=nfs-scope-lab)"
ok "rpc.nfsd started through unshare --uts with the scope, host name unchanged" "systemctl show -p ExecStart nfs-server | grep -q unshare && grep -q NFS_SERVER_SCOPE=nfs-scope-lab /run/sysconfig/nfs-server-scope && [[ \$(hostname) != nfs-scope-lab && \$(threads) -gt 0 ]]"
check "ferro nfsserver start nfs_server_scope again (running)" 0 "$(rc $FERRO/nfsserver start nfs_server_scope=nfs-scope-lab)"
check "ferro nfsserver stop nfs_server_scope" 0 "$(rc $FERRO/nfsserver stop nfs_server_scope=nfs-scope-lab)"
ok "ferro nfsserver stop removed the scope drop-in" "[[ ! -e /run/systemd/system/nfs-server.service.d/51-resource-agents-unshare-uts.conf ]]"
reset_nfs

# Monitor cost, ferro vs reference, server running (10 monitors each).
systemctl start nfs-server
for a in ferro heartbeat; do
  timed T bash -c "for i in 1 2 3 4 5 6 7 8 9 10; do env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin OCF_ROOT=$OCF_ROOT OCF_RESOURCE_INSTANCE=m OCF_RESKEY_CRM_meta_interval=10000 $OCF_ROOT/resource.d/$a/nfsserver monitor >/dev/null 2>&1 || exit 1; done"
  r=$?
  [[ $a == ferro ]] && check "ferro nfsserver 10 monitors" 0 $r "${T}s" || note "heartbeat nfsserver 10 monitors rc $r, ${T}s"
done
reset_nfs

# The reference in the same #122 situation, for the record.
note "heartbeat nfsserver start rc $(rc $REF/nfsserver start "${NS[@]}")"
printf '0100007f 000186b5 00000003 00000010 00000000 00000000 00000000 00000000 192.168.48.99 lab\n' \
  > /var/lib/nfs/sm/192.168.48.99; chown statd: /var/lib/nfs/sm/192.168.48.99
sm-notify -f; sleep 1
timed T rc $REF/nfsserver stop "${NS[@]}" >/tmp/rc
note "heartbeat nfsserver stop with sm-notify holding /var/lib/nfs rc $(cat /tmp/rc), ${T}s, /var/lib/nfs $(bound && echo still bound || echo unbound)"
reset_nfs

###### exportfs
say "-- exportfs"
systemctl start nfs-server
E=(clientspec=$NET "directory=/srv/exp/a /srv/exp/b" fsid=10 options=rw,sync,no_root_squash)
INST=exp1
check "ferro exportfs probe, not exported" 7 "$(INTERVAL=0 rc $FERRO/exportfs monitor "${E[@]}")"
check "ferro exportfs start (2 dirs)" 0 "$(rc $FERRO/exportfs start "${E[@]}")"
ok "etab lists /srv/exp/a fsid=10 and /srv/exp/b fsid=11" "grep -q '^/srv/exp/a.*fsid=10,' /var/lib/nfs/etab && grep -q '^/srv/exp/b.*fsid=11,' /var/lib/nfs/etab"
check "ferro exportfs monitor" 0 "$(rc $FERRO/exportfs monitor "${E[@]}")"
check "ferro exportfs start again" 0 "$(rc $FERRO/exportfs start "${E[@]}")"
mkdir -p /mnt/a
mount -t nfs -o vers=3,soft,timeo=20,retrans=1 "$IP:/srv/exp/a" /mnt/a && echo x > /mnt/a/f
check "ferro exportfs monitor with a client (rmtab backup)" 0 "$(rc $FERRO/exportfs monitor "${E[@]}")"
ok "rmtab backup /srv/exp/a/.rmtab holds the client" "grep -q ':/srv/exp/a:' /srv/exp/a/.rmtab"
# A reboot empties HA_RSCTMP but leaves etab (PR#821): a probe must say stopped.
mv /run/resource-agents/exp1 /run/resource-agents/exp1.saved
check "ferro exportfs probe, etab lists it but no state file (reboot)" 7 "$(INTERVAL=0 rc $FERRO/exportfs monitor "${E[@]}")"
mv /run/resource-agents/exp1.saved /run/resource-agents/exp1
timed T rc $FERRO/exportfs stop "${E[@]}" >/tmp/rc; check "ferro exportfs stop with a client mounted" 0 "$(cat /tmp/rc)" "${T}s"
ok "etab no longer lists the directories" "! grep -q '^/srv/exp/[ab]\\s' /var/lib/nfs/etab"
ok "no valid kernel export cache entry left for /srv/exp/a" "! grep -q '^/srv/exp/a\\s' /proc/net/rpc/nfsd.export/content"
umount -f -l /mnt/a
check "ferro exportfs stop again" 0 "$(rc $FERRO/exportfs stop "${E[@]}")"
rm -f /var/lib/nfs/rmtab
check "ferro exportfs start restores rmtab from the backup (rmtab missing)" 0 "$(rc $FERRO/exportfs start "${E[@]}")"
ok "rmtab restored" "grep -q ':/srv/exp/a:' /var/lib/nfs/rmtab"
check "ferro exportfs stop" 0 "$(rc $FERRO/exportfs stop "${E[@]}")"
# The exported filesystem can be unmounted after stop (nothing of the export pins it).
exportfs -ua; systemctl stop nfs-server
ok "umount /srv/exp after stop" "umount /srv/exp && mount /dev/vdb /srv/exp"
systemctl start nfs-server
# wait_for_leasetime_on_stop: nfsd's lease time (10 s in the lab) + 2 s, cut at the stop timeout.
INST=lease
L=(clientspec='*' directory=/srv/exp/b fsid=30 wait_for_leasetime_on_stop=true)
check "ferro exportfs start (lease wait)" 0 "$(rc $FERRO/exportfs start "${L[@]}")"
timed T rc $FERRO/exportfs stop "${L[@]}" >/tmp/rc
check "ferro exportfs stop waits the NFSv4 lease time ($(cat /proc/fs/nfsd/nfsv4leasetime)s + 2)" 0 "$(cat /tmp/rc)" "${T}s"
rc $FERRO/exportfs start "${L[@]}" >/dev/null
TIMEOUT_MS=6000 timed T rc $FERRO/exportfs stop "${L[@]}" >/tmp/rc
check "ferro exportfs stop lease wait cut at a 6s stop timeout" 0 "$(cat /tmp/rc)" "${T}s"
V6=(clientspec='[fd00:48::]/64' directory=/srv/exp/c fsid=3a1f5e3c-2b9d-4c6e-8f00-112233445566)
INST=exp6
check "ferro exportfs start IPv6 clientspec in brackets, UUID fsid" 0 "$(rc $FERRO/exportfs start "${V6[@]}")"
check "ferro exportfs monitor IPv6" 0 "$(rc $FERRO/exportfs monitor "${V6[@]}")"
note "heartbeat exportfs monitor of the same IPv6 export rc $(rc $REF/exportfs monitor "${V6[@]}")"
check "ferro exportfs stop IPv6" 0 "$(rc $FERRO/exportfs stop "${V6[@]}")"
INST=root
check "ferro exportfs start fsid=root" 0 "$(rc $FERRO/exportfs start clientspec='*' directory=/srv/exp fsid=root options=ro)"
ok "etab lists /srv/exp fsid=0/root" "grep -Eq '^/srv/exp\\s.*fsid=(0|root),' /var/lib/nfs/etab"
check "ferro exportfs stop fsid=root" 0 "$(rc $FERRO/exportfs stop clientspec='*' directory=/srv/exp fsid=root options=ro)"
INST=bad
check "ferro exportfs start, exportfs refuses the options" 1 "$(rc $FERRO/exportfs start clientspec='*' directory=/srv/exp/a fsid=5 options=nonsense_option)"
rc $FERRO/exportfs stop clientspec='*' directory=/srv/exp/a fsid=5 options=nonsense_option >/dev/null

# Monitor cost with 60 exports (one resource per directory): ferro reads etab once per
# monitor, the reference lists and parses the whole table per directory.
mkdir -p /srv/exp/many
for i in $(seq 1 60); do mkdir -p /srv/exp/many/d$i; exportfs -o rw,fsid=$((100 + i)) "$NET:/srv/exp/many/d$i"; done
touch /run/resource-agents/many
for a in ferro heartbeat; do
  timed T bash -c "for i in \$(seq 1 60); do env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin OCF_ROOT=$OCF_ROOT OCF_RESOURCE_INSTANCE=many HA_RSCTMP=/run/resource-agents OCF_RESKEY_CRM_meta_interval=10000 OCF_RESKEY_clientspec=$NET OCF_RESKEY_directory=/srv/exp/many/d\$i OCF_RESKEY_fsid=\$((100 + i)) OCF_RESKEY_rmtab_backup=none $OCF_ROOT/resource.d/$a/exportfs monitor >/dev/null 2>&1 || exit 1; done"
  r=$?
  [[ $a == ferro ]] && check "ferro exportfs 60 monitors of 60 exports (one round)" 0 $r "${T}s" || note "heartbeat exportfs 60 monitors of 60 exports (one round) rc $r, ${T}s"
done
exportfs -ua
reset_nfs

###### nfsserver without systemd as init (containers, init= boots): the init script, here
# Debian's, which then runs the daemons itself. systemd is hidden from the agent and the script
# by a private mount namespace with an empty /run/systemd.
say "-- nfsserver, init script mode (systemd hidden)"
nosd() {  # nosd ACTION [VAR=VALUE...]
  local act=$1; shift
  unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs /run/systemd && exec "$@"' nosd \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin OCF_ROOT=$OCF_ROOT OCF_RESOURCE_INSTANCE=nosd \
    OCF_RESKEY_CRM_meta_interval=10000 OCF_RESKEY_CRM_meta_timeout=60000 "${@/#/OCF_RESKEY_}" \
    $FERRO/nfsserver "$act" >>/root/agents.log 2>&1
  echo $?
}
# The lab image diverts Debian's script away (the reference would use it under systemd too).
INIT=/etc/init.d/nfs-kernel-server
[[ -x $INIT ]] || INIT=$INIT.distrib
NOSD=(nfs_init_script=$INIT)
# Debian's script starts nothing without an export in /etc/exports.
cp /etc/exports /etc/exports.lab
echo "/srv/exp/a 127.0.0.1(ro,fsid=99,no_subtree_check)" >> /etc/exports
check "ferro nfsserver init mode monitor, stopped" 7 "$(nosd monitor "${NOSD[@]}")"
check "ferro nfsserver init mode start" 0 "$(nosd start "${NOSD[@]}")" "threads $(threads), statd $(pgrep -xc rpc.statd)"
check "ferro nfsserver init mode monitor" 0 "$(nosd monitor "${NOSD[@]}")"
check "ferro nfsserver init mode stop" 0 "$(nosd stop "${NOSD[@]}")"
check "ferro nfsserver init mode monitor after stop" 7 "$(nosd monitor "${NOSD[@]}")"
ok "init mode stop left no rpc.statd/sm-notify, nfsd threads $(threads)" "! pgrep -x rpc.statd && ! pgrep -x sm-notify"
mv /etc/exports.lab /etc/exports
reset_nfs

###### ocf-tester
say "-- ocf-tester"
if command -v ocf-tester >/dev/null; then
  systemctl start nfs-server
  out=$(ocf-tester -n t-exportfs -o clientspec="$NET" -o directory=/srv/exp/a -o fsid=20 $FERRO/exportfs 2>&1); r=$?
  check "ocf-tester ocf:ferro:exportfs" 0 $r "$(tail -1 <<<"$out")"; [[ $r == 0 ]] || say "$out"
  reset_nfs
  out=$(ocf-tester -n t-nfsserver -o nfs_shared_infodir=$INFO $FERRO/nfsserver 2>&1); r=$?
  check "ocf-tester ocf:ferro:nfsserver" 0 $r "$(tail -1 <<<"$out")"; [[ $r == 0 ]] || say "$out"
  reset_nfs
else
  say "SKIP  ocf-tester not installed"
fi

say "== $PASS passed, $FAIL failed, $NOTE reference observations"
((FAIL == 0))
