#!/bin/bash
# Run a command in a lab VM of the running lab:  tests/lab/ssh.sh node1|node2|client [CMD...]
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
LAB_KEY=$(cat "$LAB_CACHE/key-$LAB_NS")
vm=$1; shift
exec ip netns exec "$LAB_NS" ssh -i "$LAB_KEY" "${SSH_OPTS[@]}" "root@${LAB_IP[$vm]}" "$@"
