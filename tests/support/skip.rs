//! The one way an integration test says it did not run its check. A skipped test is not a
//! passed one: each skip is appended to `$FERRO_TEST_SKIPS` (tests/run.sh counts them and
//! prints the reasons), and under `CI=true` a skip fails the test unless tests/optional-skips
//! lists the test as optional, with the reason it may be.
//! Shared by tests/support and tests/pcmk (`#[path]`), and by test binaries on their own.

use std::io::Write;

const OPTIONAL: &str = include_str!("../optional-skips");

/// Record that `test` did not run its check, and why. Panics (the test fails) under CI=true
/// unless the test is documented as optional.
pub fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {why}");
    let fails = std::env::var("CI").as_deref() == Ok("true") && !is_optional(test, why);
    if let Some(path) = std::env::var_os("FERRO_TEST_SKIPS") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            // One write per line: parallel tests append to the same file. The test binary's
            // name tells tests of the same name in two binaries apart.
            let bin = std::env::current_exe().ok().and_then(|p| {
                let stem = p.file_stem()?.to_str()?.to_owned();
                Some(
                    stem.rsplit_once('-')
                        .map_or(stem.clone(), |(b, _)| b.to_owned()),
                )
            });
            let line = format!(
                "{}::{test}\t{}\t{}\n",
                bin.unwrap_or_default(),
                if fails { "failed" } else { "skipped" },
                why.replace(['\n', '\t'], " ")
            );
            let _ = f.write_all(line.as_bytes());
        }
    }
    if fails {
        panic!(
            "{test} skipped under CI=true: {why} (tests/optional-skips lists the skips CI accepts)"
        );
    }
}

/// A line of tests/optional-skips is `test` (any reason) or `test | reason` (that reason only,
/// e.g. an explicit opt-out); `#` starts a comment.
fn is_optional(test: &str, why: &str) -> bool {
    OPTIONAL
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .any(|l| match l.split_once('|') {
            Some((name, reason)) => name.trim() == test && why.contains(reason.trim()),
            None => l == test,
        })
}
