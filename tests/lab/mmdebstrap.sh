#!/bin/bash
# mmdebstrap with no inherited file descriptor above stderr. Debian 12's mmdebstrap (1.3.5) hands
# dpkg a hook `cat >&N` for sh, and dash cannot parse N above 9: with enough descriptors open in
# the caller (a lock, cargo's jobserver, a test harness) its pipe lands above 9 and the build
# fails with "Syntax error: Bad fd number". Used by build-image.sh and tests/deb/clean-root.sh.
for fd in /proc/$$/fd/*; do
  fd=${fd##*/}
  ((fd > 2 && fd != 255)) && eval "exec $fd>&-"
done
exec mmdebstrap "$@"
