#!/bin/bash
# make-cib.sh OUT.xml: runs ha-nfs.pcs.sh (with the caller's environment, STONITH=no
# unless set: a CIB without a fence device is only valid without fencing) against an
# empty CIB that has only the two node entries, as ha-nfs.cib.xml was made:
#   crm-examples/make-cib.sh crm-examples/ha-nfs.cib.xml
# The agents must be installed where this runs: pcs reads their meta-data.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 OUT.xml" >&2; exit 2; }
out=$1
here=$(dirname "$(realpath "$0")")
tmp=$(mktemp /tmp/fcrm-cib.XXXXXX)
trap 'rm -f "$tmp"' EXIT
cibadmin --empty > "$tmp"
CIB_file=$tmp cibadmin -C -o nodes -X "<node id=\"1\" uname=\"${NODE1:-node1}\"/>"
CIB_file=$tmp cibadmin -C -o nodes -X "<node id=\"2\" uname=\"${NODE2:-node2}\"/>"
STONITH=${STONITH:-no} CIB=$tmp "$here/ha-nfs.pcs.sh" >/dev/null
cp "$tmp" "$out"
