//! `ferro-ocf install`: the binary to /usr/sbin/ferro-ocf and one symlink per agent in
//! /usr/lib/ocf/resource.d/ferro/, which is where Pacemaker looks for `ocf:ferro:*`.

use crate::agents::AGENTS;
use anyhow::{Context, Result};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

pub const SBIN: &str = "usr/sbin/ferro-ocf";
pub const PROVIDER_DIR: &str = "usr/lib/ocf/resource.d/ferro";
/// Relative, so the links work both in / and inside an image being built with --root.
const LINK_TARGET: &str = "../../../../sbin/ferro-ocf";

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
        let link = dir.join(agent.name());
        if fs::read_link(&link).is_ok_and(|t| t == Path::new(LINK_TARGET)) {
            continue;
        }
        let tmp = dir.join(format!(".{}.new", agent.name()));
        let _ = fs::remove_file(&tmp);
        symlink(LINK_TARGET, &tmp).with_context(|| format!("creating {}", tmp.display()))?;
        fs::rename(&tmp, &link).with_context(|| format!("creating {}", link.display()))?;
    }
    println!(
        "installed {} and ocf:ferro:{{{}}} in {}",
        dest.display(),
        crate::agents::names(","),
        dir.display()
    );
    Ok(())
}

pub fn uninstall(root: &Path) -> Result<()> {
    let dir = root.join(PROVIDER_DIR);
    for agent in AGENTS {
        remove_if_present(&dir.join(agent.name()))?;
    }
    if dir.exists() && fs::read_dir(&dir)?.next().is_none() {
        fs::remove_dir(&dir).with_context(|| format!("removing {}", dir.display()))?;
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
