#!/usr/bin/python3
"""Client writer and verifier for the lab experiments (runs in the client VM).

write FILE ACKLOG STOPFILE : append fixed-size sequence-numbered records to FILE (on NFS), fsync each,
                             and only then log "seq ack_time" to ACKLOG (local disk). Stops when
                             STOPFILE exists.
verify FILE ACKLOG T_FAULT : every acknowledged seq must be in FILE; prints one line of figures.
"""
import os
import sys
import time


def write(path, acklog, stopfile):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    with open(acklog, "a", buffering=1) as log:
        seq = 0
        while not os.path.exists(stopfile):
            seq += 1
            rec = ("%010d %17.6f\n" % (seq, time.time())).encode()
            try:
                if fd < 0:
                    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                os.write(fd, rec)
                os.fsync(fd)
            except OSError as e:
                # A client-visible error: not acknowledged, counted, and the writer goes on
                # (as an application that retries would) with the next number, on a new fd.
                log.write("E %d %.6f %s\n" % (seq, time.time(), e.strerror))
                time.sleep(1)
                if fd >= 0:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                fd = -1
                continue
            log.write("%d %.6f\n" % (seq, time.time()))
            time.sleep(0.05)
    if fd >= 0:
        os.close(fd)


def verify(path, acklog, t_fault):
    t_fault = float(t_fault)
    acked, errors = [], []
    with open(acklog) as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] == "E":
                errors.append(" ".join(parts[3:]))
            elif len(parts) == 2:
                acked.append((int(parts[0]), float(parts[1])))
    present = set()
    bad = 0
    with open(path, "rb") as f:
        for line in f:
            try:
                present.add(int(line.split()[0]))
            except (ValueError, IndexError):
                bad += 1
    lost = [s for s, _ in acked if s not in present]
    longest, end_of_longest, restored = 0.0, None, 0.0
    for (s0, t0), (s1, t1) in zip(acked, acked[1:]):
        gap = t1 - t0
        if gap > longest:
            longest, end_of_longest = gap, t1
    # Fault -> restored: the end of the longest stall that follows the fault (0 if none > 1 s).
    after = [(t1 - t0, t1) for (_, t0), (_, t1) in zip(acked, acked[1:]) if t1 > t_fault]
    if after:
        gap, t1 = max(after)
        if gap > 1.0:
            restored = t1 - t_fault
    print("acked=%d lost=%d client_errors=%d garbage_lines=%d longest_stall=%.1f restored_after=%.1f first_lost=%s%s"
          % (len(acked), len(lost), len(errors), bad, longest, restored, lost[0] if lost else "-",
             " first_error=" + errors[0].replace(" ", "_") if errors else ""))
    return 1 if lost or errors else 0


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(*sys.argv[2:5])
    else:
        sys.exit(verify(*sys.argv[2:5]))
