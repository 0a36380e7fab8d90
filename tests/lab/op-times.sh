#!/bin/bash
# Mean execution time per resource operation, from pacemaker.log files of a lab run:
#   tests/lab/op-times.sh RUN_DIR/logs/node*.pacemaker.log
# (pacemaker-execd logs "<rsc> <op> (call N, PID P) exited with status S (execution time Xs ...")
cat "$@" | sed -n 's/.*(log_finished) \t*info: \([^ ]*\) \([a-z_-]*\) (call.*execution time \([0-9.]*\)\(m\?s\).*/\1 \2 \3 \4/p' |
  awk '{if ($4 == "ms") $3 /= 1000; k=$1" "$2; n[k]++; s[k]+=$3; if ($3>m[k]) m[k]=$3}
       END {for (k in n) printf "%-28s %4d  mean %6.2fs  max %6.2fs\n", k, n[k], s[k]/n[k], m[k]}' | sort
