//! `ferro-ocf install`: the binary to /usr/sbin/ferro-ocf and one symlink per agent in
//! /usr/lib/ocf/resource.d/ferro/, which is where Pacemaker looks for `ocf:ferro:*`, and the
//! DRBD fence-peer handler under drbd-utils' names in /usr/lib/ferro-ocf/ (for drbd.conf).

use crate::agents::AGENTS;
use anyhow::{Context, Result};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

pub const SBIN: &str = "usr/sbin/ferro-ocf";
pub const PROVIDER_DIR: &str = "usr/lib/ocf/resource.d/ferro";
/// Relative, so the links work both in / and inside an image being built with --root.
const LINK_TARGET: &str = "../../../../sbin/ferro-ocf";
pub const HANDLER_DIR: &str = "usr/lib/ferro-ocf";
const HANDLER_TARGET: &str = "../../sbin/ferro-ocf";
/// drbd-utils' names (`/usr/lib/drbd/crm-fence-peer.9.sh`): the name picks fence or unfence.
pub const HANDLERS: &[&str] = &["crm-fence-peer.9.sh", "crm-unfence-peer.9.sh"];

pub fn install(root: &Path) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let dest = root.join(SBIN);
    let same = fs::canonicalize(&exe).ok() == fs::canonicalize(&dest).ok();
    if !same {
        let dir = dest.parent().unwrap();
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // Copy then rename: a running agent keeps its old inode, a new one gets the new binary.
        let tmp = dest.with_extension("new");
        fs::copy(&exe, &tmp)
            .with_context(|| format!("copying {} to {}", exe.display(), tmp.display()))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
        fs::rename(&tmp, &dest).with_context(|| format!("installing {}", dest.display()))?;
    }
    let dir = root.join(PROVIDER_DIR);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // ocf-tester and crm_resource run agents as other users: the folder must be readable by all.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
    for agent in AGENTS {
        link(&dir, agent.name(), LINK_TARGET)?;
    }
    let hdir = root.join(HANDLER_DIR);
    fs::create_dir_all(&hdir).with_context(|| format!("creating {}", hdir.display()))?;
    fs::set_permissions(&hdir, fs::Permissions::from_mode(0o755))?;
    for name in HANDLERS {
        link(&hdir, name, HANDLER_TARGET)?;
    }
    println!(
        "installed {} and ocf:ferro:{{{}}} in {}",
        dest.display(),
        crate::agents::names(","),
        dir.display()
    );
    Ok(())
}

/// `dir/name` -> `target`, replaced atomically unless it is that link already.
fn link(dir: &Path, name: &str, target: &str) -> Result<()> {
    let link = dir.join(name);
    if fs::read_link(&link).is_ok_and(|t| t == Path::new(target)) {
        return Ok(());
    }
    let tmp = dir.join(format!(".{name}.new"));
    let _ = fs::remove_file(&tmp);
    symlink(target, &tmp).with_context(|| format!("creating {}", tmp.display()))?;
    fs::rename(&tmp, &link).with_context(|| format!("creating {}", link.display()))
}

pub fn uninstall(root: &Path) -> Result<()> {
    let dir = root.join(PROVIDER_DIR);
    for agent in AGENTS {
        remove_if_present(&dir.join(agent.name()))?;
    }
    if dir.exists() && fs::read_dir(&dir)?.next().is_none() {
        fs::remove_dir(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let hdir = root.join(HANDLER_DIR);
    for name in HANDLERS {
        remove_if_present(&hdir.join(name))?;
    }
    if hdir.exists() && fs::read_dir(&hdir)?.next().is_none() {
        fs::remove_dir(&hdir).with_context(|| format!("removing {}", hdir.display()))?;
    }
    remove_if_present(&root.join(SBIN))?;
    println!("removed ocf:ferro:* from {}", root.display());
    Ok(())
}

fn remove_if_present(p: &PathBuf) -> Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", p.display()))
        }
        _ => Ok(()),
    }
}
