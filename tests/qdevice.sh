# The quorum arbiter as the live tests (tests/live) and the VM lab (tests/lab) run it: sourced.

# qdevice_conf HOST INDENT : corosync.conf's quorum device block for the corosync-qnetd at HOST:
# model net, ffsplit, TLS off (no certificates to hand out in a test; pcs sets them up on a
# real cluster, crm-examples/README.md), and the short poll deadlines corosync-qdevice's
# maintainer suggests for fast failover (defaults 10000 and 30000 ms).
qdevice_conf() {
  local line
  for line in "device {" "    model: net" "    votes: 1" "    timeout: 1000" \
    "    sync_timeout: 3000" "    net {" "        host: $1" "        algorithm: ffsplit" \
    "        tls: off" "    }" "}"; do
    printf '%s%s\n' "$2" "$line"
  done
}

# qnetd_start NETNS ADDR DIR LOG : corosync-qnetd in NETNS listening on ADDR, TLS off, its lock
# file and socket in DIR, its output appended to LOG; sets QNETD_PID.
qnetd_start() {
  ip netns exec "$1" setsid corosync-qnetd -f -s off -l "$2" \
    -S "lock_file=$3/qnetd.pid,local_socket_file=$3/qnetd.sock" >>"$4" 2>&1 </dev/null &
  QNETD_PID=$!
}
