//! Records the git revision the binary is built from, for `ferro-ocf --version`. Outside a
//! git checkout (a source tarball) FERRO_GIT_REV may give it; otherwise it says "unknown".

use std::process::Command;

fn main() {
    let rev = std::env::var("FERRO_GIT_REV").ok().or_else(git_rev);
    println!(
        "cargo:rustc-env=FERRO_GIT_REV={}",
        rev.as_deref().unwrap_or("unknown")
    );
    println!("cargo:rerun-if-env-changed=FERRO_GIT_REV");
    // A new commit or checkout changes HEAD or the branch it points to.
    for p in [".git/HEAD", ".git/index"] {
        println!("cargo:rerun-if-changed={p}");
    }
    if let Ok(head) = std::fs::read_to_string(".git/HEAD") {
        if let Some(r) = head.trim().strip_prefix("ref: ") {
            println!("cargo:rerun-if-changed=.git/{r}");
        }
    }
}

/// `git describe`-like: the short commit, with "-dirty" when the tree has uncommitted changes.
fn git_rev() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut rev = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    // --no-optional-locks: `git status` would otherwise refresh and rewrite .git/index, which
    // this script watches, so every cargo run after the first rebuilt the binary (and the .deb
    // made from it looked older than the binary under test).
    let dirty = Command::new("git")
        .args([
            "--no-optional-locks",
            "status",
            "--porcelain",
            "--untracked-files=no",
        ])
        .output()
        .map(|o| o.status.success() && !o.stdout.is_empty())
        .unwrap_or(false);
    if dirty {
        rev.push_str("-dirty");
    }
    Some(rev)
}
