#!/usr/bin/python3
"""Lab fence daemon: runs on the host inside the lab's network namespace and powers
node VMs off (SIGKILL of their qemu process) when a guest's fence_lab asks.
Protocol, one line per connection: "ping" | "status NODE" | "off NODE" -> "OK"/"on"/"off"/"ERR ...".
"""
import os
import signal
import socketserver
import sys
import time

RUN = sys.argv[2]
NODES = ("node1", "node2", "node3")  # node3: the tiebreaker (run.sh --nodes 3)


def pid_of(node):
    try:
        with open(os.path.join(RUN, node + ".pid")) as f:
            pid = int(f.read().strip())
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        # A killed qemu may linger as a zombie until its parent reaps it: that is off.
        return None if state in ("Z", "X") else pid
    except (OSError, ValueError):
        return None


def log(msg):
    with open(os.path.join(RUN, "fence.log"), "a") as f:
        f.write("%.3f %s\n" % (time.time(), msg))


class H(socketserver.StreamRequestHandler):
    def handle(self):
        words = self.rfile.readline().decode(errors="replace").split()
        peer = self.client_address[0]
        if words == ["ping"]:
            reply = "OK"
        elif len(words) == 2 and words[1] in NODES and words[0] in ("status", "off"):
            node = words[1]
            pid = pid_of(node)
            if words[0] == "status":
                reply = "on" if pid else "off"
            else:
                if pid:
                    os.kill(pid, signal.SIGKILL)
                    for _ in range(100):
                        if not pid_of(node):
                            break
                        time.sleep(0.1)
                reply = "OK" if not pid_of(node) else "ERR still running"
                log("off %s requested by %s: %s (pid %s)" % (node, peer, reply, pid))
        else:
            reply = "ERR unsupported"
        self.wfile.write((reply + "\n").encode())


class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    host, port = sys.argv[1].rsplit(":", 1)
    with S((host, int(port)), H) as srv:
        srv.serve_forever()
