//! The Debian package users install (scripts/deb.sh, cargo-deb), in a clean Debian 12 root
//! (mmdebstrap + chroot, tests/deb/clean-root.sh): installed, upgraded from the previous
//! build, `pcs resource describe ocf:ferro:<Agent>` for every agent, removed, purged, and
//! nothing of it left. Also what the package holds, read with dpkg-deb.

mod pcmk;

use pcmk::{cmd, run, say, skip, skip_unless};

#[test]
fn the_package_holds_the_binary_every_agent_link_the_man_page_and_the_examples() {
    let test = "the_package_holds_the_binary_every_agent_link_the_man_page_and_the_examples";
    if !skip_unless(test, &["dpkg-deb"]) {
        return;
    }
    let deb = pcmk::built_deb().unwrap_or_else(|e| panic!("{e}"));
    let list = run(cmd("dpkg-deb").arg("-c").arg(&deb), 60).stdout_checked("dpkg-deb -c");
    assert!(list.contains(" ./usr/sbin/ferro-ocf\n"), "{list}");
    for agent in pcmk::AGENTS {
        let link = format!("./usr/lib/ocf/resource.d/ferro/{agent} -> ../../../../sbin/ferro-ocf");
        assert!(list.contains(&link), "no {link} in\n{list}");
    }
    for handler in ["crm-fence-peer.9.sh", "crm-unfence-peer.9.sh"] {
        let link = format!("./usr/lib/ferro-ocf/{handler} -> ../../sbin/ferro-ocf");
        assert!(list.contains(&link), "no {link} in\n{list}");
    }
    assert!(list.contains("./usr/share/man/man8/ferro-ocf.8.gz"));
    for f in std::fs::read_dir(pcmk::manifest_dir().join("crm-examples")).unwrap() {
        let name = f.unwrap().file_name().into_string().unwrap();
        assert!(
            list.contains(&format!("./usr/share/doc/ferro-ocf/examples/{name}")),
            "example {name} missing"
        );
    }
    let control = run(cmd("dpkg-deb").arg("-f").arg(&deb), 60).stdout_checked("dpkg-deb -f");
    for field in [
        "Depends: libc6",
        "Recommends: pacemaker-cli-utils, drbd-utils, nfs-kernel-server",
    ] {
        assert!(control.contains(field), "{field} not in\n{control}");
    }
}

#[test]
fn install_upgrade_remove_and_purge_in_a_clean_debian_root() {
    let test = "install_upgrade_remove_and_purge_in_a_clean_debian_root";
    // mmdebstrap the script installs itself; it needs apt and the network to Debian's mirror.
    if !skip_unless(test, &["apt-get", "unshare", "chroot"]) {
        return;
    }
    if std::env::var("FERRO_DEB_TEST").as_deref() == Ok("0") {
        return skip(test, "FERRO_DEB_TEST=0");
    }
    let deb = pcmk::built_deb().unwrap_or_else(|e| panic!("{e}"));
    let script = pcmk::manifest_dir().join("tests/deb/clean-root.sh");
    let out = run(cmd(&script).arg(&deb), 1800);
    let pass = out.stdout.lines().find(|l| l.starts_with("DEB PASS"));
    say(&format!(
        "--- {test}: {}",
        pass.unwrap_or("no DEB PASS line")
    ));
    assert!(
        out.code == Some(0) && pass.is_some(),
        "{} failed ({:?})\n{}\n{}",
        script.display(),
        out.code,
        out.stdout,
        out.stderr
    );
}
