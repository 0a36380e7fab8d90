# overlay_agents DIR
# In the current (private) mount namespace, make /usr/lib/ocf/resource.d/ferro hold links to
# the agents in DIR (e.g. ROOT/usr/lib/ocf/resource.d/ferro after `ferro-ocf install --root
# ROOT`), so pcs, crmsh and Pacemaker see a test's agents without anything being installed on
# the host. The other providers (heartbeat, linbit, ...) stay visible.
overlay_agents() {
    local dir rd=/usr/lib/ocf/resource.d stage p name
    dir=$(realpath "$1")
    stage=$(mktemp -d /tmp/fcrm-rd.XXXXXX)
    # Keep the real providers reachable, put an empty tmpfs over resource.d (the ferro
    # directory need not exist on the host), then bind the providers and DIR into it.
    mount --bind "$rd" "$stage"
    mount -t tmpfs -o mode=755 fcrm-rd "$rd"
    for p in "$stage"/*; do
        name=${p##*/}
        [[ -d $p && $name != ferro ]] || continue
        mkdir "$rd/$name"
        mount --bind "$p" "$rd/$name"
    done
    # Links to the resolved agents: install's links are relative to its root. The agent
    # still sees argv0 = /usr/lib/ocf/resource.d/ferro/<Agent>, which picks the agent.
    mkdir -m 755 "$rd/ferro"
    for p in "$dir"/*; do
        ln -s "$(realpath "$p")" "$rd/ferro/${p##*/}"
    done
    umount "$stage"
    rmdir "$stage"
}
