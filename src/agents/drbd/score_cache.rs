//! What a recurring monitor needs to know besides the kernel's state, kept between monitors so
//! that a steady-state monitor runs no program (DRBD 8.4) or only `drbdsetup events2` (DRBD 9):
//! the promotion score last read or written in the CIB, the crm_attribute form, and the
//! resource's minors from drbd.conf.
//!
//! The entry is trusted only while it cannot have outlived the cluster's view of the score:
//! - it is a file under HA_RSCTMP (/run: tmpfs, gone at reboot), and its key holds the boot id
//!   as well, for a HA_RSCTMP that is not;
//! - the key holds the process keeping the node's transient attributes (pacemaker-attrd, by pid
//!   and start time): a cluster stop or restart on this node, which clears them, starts another;
//! - the key holds the instance, node, resource and the drbd.conf fingerprint;
//! - every action but a recurring monitor (start, stop, promote, demote, notify, reload, a
//!   probe: after a cleanup or a cluster start) removes it and asks the cluster again, and so
//!   does a monitor that fails or cannot read or write the score; a post notification that
//!   wrote the score (after a promote, say) leaves a new entry with what it wrote, as a
//!   monitor that wrote it would;
//! - what the key cannot see (an admin's `crm_attribute -D`, a partition that made the DC erase
//!   the node's attributes, a replaced CIB) is caught by the bound: a monitor trusts it at most
//!   TRUSTED_MONITORS - 1 times in a row, then reads the score again, so a score removed behind
//!   the agent's back is written again within TRUSTED_MONITORS monitors.

use crate::sys::pacemaker::{Score, ScoreForm};
use crate::sys::safe_file::{self, one_line};
use std::path::{Path, PathBuf};

/// A monitor re-reads everything at least once in this many monitors.
pub const TRUSTED_MONITORS: u32 = 10;
const MAGIC: &str = "ferro-ocf drbd score cache 1";
/// Larger than any entry (a key of a few hundred bytes per drbd.conf file).
const MAX_BYTES: u64 = 1 << 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    /// The score in the CIB: Absent or a number (a manual INFINITY is never cached).
    pub score: Score,
    pub form: ScoreForm,
    pub minors: Vec<u32>,
    pub stacked: bool,
    /// How many more monitors may trust this entry.
    pub left: u32,
}

impl Entry {
    pub fn render(&self) -> String {
        let score = match &self.score {
            Score::Value(n) => n.to_string(),
            _ => "-".to_owned(),
        };
        let minors: Vec<String> = self.minors.iter().map(u32::to_string).collect();
        format!(
            "{MAGIC}\nkey {}\nscore {score}\nform {}\nminors {}\nstacked {}\nleft {}\n",
            one_line(&self.key),
            self.form.tag(),
            minors.join(" "),
            u8::from(self.stacked),
            self.left
        )
    }

    pub fn parse(text: &str) -> Option<Entry> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let mut field = |name: &str| {
            lines
                .next()?
                .strip_prefix(name)?
                .strip_prefix(' ')
                .map(str::to_owned)
        };
        let key = field("key")?;
        let score = match field("score")?.as_str() {
            "-" => Score::Absent,
            n => Score::Value(n.parse().ok()?),
        };
        let form = ScoreForm::from_tag(&field("form")?)?;
        let minors = field("minors")?
            .split_whitespace()
            .map(|m| m.parse().ok())
            .collect::<Option<Vec<u32>>>()
            .filter(|m| !m.is_empty())?;
        let stacked = match field("stacked")?.as_str() {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        let left = field("left")?.parse().ok()?;
        Some(Entry {
            key,
            score,
            form,
            minors,
            stacked,
            left,
        })
    }
}

/// The cache of one resource instance: `<dir>/ferro-drbd-<instance>.cache`.
pub struct Cache {
    dir: PathBuf,
    name: PathBuf,
}

impl Cache {
    /// None when the instance name cannot be a file name (nothing is cached then).
    pub fn new(dir: &Path, instance: &str) -> Option<Cache> {
        if instance.is_empty() || instance.contains(['/', '\0']) {
            return None;
        }
        Some(Cache {
            dir: dir.to_path_buf(),
            name: PathBuf::from(format!("ferro-drbd-{instance}.cache")),
        })
    }

    /// The entry if it is for `key` and may still be trusted.
    pub fn load(&self, key: &str) -> Option<Entry> {
        let text = match safe_file::read(&self.dir, &self.name, MAX_BYTES) {
            Ok(t) => t?,
            Err(e) => {
                tracing::debug!("score cache: {e:#}");
                return None;
            }
        };
        Entry::parse(&text).filter(|e| e.key == one_line(key) && e.left > 0)
    }

    /// The key of the entry there, whatever its state (the epoch in it is a hint).
    pub fn stored_key(&self) -> Option<String> {
        let text = safe_file::read(&self.dir, &self.name, MAX_BYTES).ok()??;
        Entry::parse(&text).map(|e| e.key)
    }

    pub fn store(&self, entry: &Entry) {
        if let Score::Other(_) = entry.score {
            return self.forget();
        }
        let text = entry.render();
        if let Err(e) = safe_file::replace_creating_base(&self.dir, &self.name, text.as_bytes()) {
            tracing::debug!("score cache: {e:#}");
            self.forget();
        }
    }

    pub fn forget(&self) {
        match std::fs::remove_file(self.dir.join(&self.name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!("cannot remove {}: {e}", self.dir.join(&self.name).display())
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            key: "boot pacemaker-attrd/812/4242 | drbd_r0 node1 r0 | /etc/drbd.conf=1:2:3.4:5.6"
                .to_owned(),
            score: Score::Value(10000),
            form: ScoreForm::Promotion,
            minors: vec![0, 1],
            stacked: false,
            left: 9,
        }
    }

    struct Dir(PathBuf);
    impl Dir {
        fn new(tag: &str) -> Dir {
            let d = std::env::temp_dir().join(format!("fscache-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            Dir(d)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn entries_round_trip_and_bad_ones_are_misses() {
        let e = entry();
        assert_eq!(Entry::parse(&e.render()), Some(e.clone()));
        let absent = Entry {
            score: Score::Absent,
            form: ScoreForm::Named,
            stacked: true,
            ..e.clone()
        };
        assert_eq!(Entry::parse(&absent.render()), Some(absent));
        let good = e.render();
        for bad in [
            good.replace("score 10000", "score INFINITY"),
            good.replace("form promotion", "form p"),
            good.replace("minors 0 1", "minors "),
            good.replace("stacked 0", "stacked no"),
            good.replace("left 9", "left -1"),
            good.replace(MAGIC, "ferro-ocf drbd score cache 0"),
            good.lines().take(4).collect::<Vec<_>>().join("\n"),
            String::new(),
        ] {
            assert_eq!(Entry::parse(&bad), None, "{bad}");
        }
    }

    #[test]
    fn load_only_the_same_key_with_monitors_left() {
        let d = Dir::new("load");
        let c = Cache::new(&d.0, "drbd_r0:0").unwrap();
        assert_eq!(c.load("k"), None);
        let e = entry();
        c.store(&e);
        assert_eq!(c.load(&e.key), Some(e.clone()));
        assert_eq!(c.stored_key(), Some(e.key.clone()));
        // Another epoch (attrd restarted), instance, or drbd.conf: a miss.
        assert_eq!(c.load(&e.key.replace("812", "813")), None);
        // Used up: a miss, whatever the key.
        c.store(&Entry {
            left: 0,
            ..e.clone()
        });
        assert_eq!(c.load(&e.key), None);
        c.store(&e);
        c.forget();
        assert_eq!(c.load(&e.key), None);
        c.forget();
        // A score the agent does not understand is not cached at all.
        c.store(&e);
        c.store(&Entry {
            score: Score::Other("INFINITY".to_owned()),
            ..e.clone()
        });
        assert_eq!(c.load(&e.key), None);
        // A key with a line break cannot forge the fields after it.
        let forged = Entry {
            key: "k\nscore 5".to_owned(),
            ..e.clone()
        };
        c.store(&forged);
        assert_eq!(
            c.load("k\nscore 5").map(|e| e.score),
            Some(Score::Value(10000))
        );
    }

    #[test]
    fn instance_names_that_are_no_file_names_are_not_cached() {
        let d = Path::new("/run/x");
        assert!(Cache::new(d, "").is_none());
        assert!(Cache::new(d, "../etc/passwd").is_none());
        assert!(Cache::new(d, "a/b").is_none());
        assert!(Cache::new(d, "..").is_some_and(|c| c.name == Path::new("ferro-drbd-...cache")));
    }

    /// Not a regular file (a symlink planted there, a FIFO): a miss, and a store replaces it
    /// with a file instead of writing through it.
    #[test]
    fn a_planted_link_is_neither_read_nor_followed() {
        let d = Dir::new("link");
        std::fs::create_dir_all(&d.0).unwrap();
        let victim = d.0.join("victim");
        let e = entry();
        std::fs::write(&victim, e.render()).unwrap();
        let c = Cache::new(&d.0, "r").unwrap();
        std::os::unix::fs::symlink(&victim, d.0.join("ferro-drbd-r.cache")).unwrap();
        assert_eq!(c.load(&e.key), None);
        c.store(&Entry {
            left: 3,
            ..e.clone()
        });
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), e.render());
        assert!(std::fs::symlink_metadata(d.0.join("ferro-drbd-r.cache"))
            .unwrap()
            .is_file());
        assert_eq!(c.load(&e.key).map(|e| e.left), Some(3));
    }
}
