//! Snapshots of the environment a program was started with: taken once, so the logic above can
//! run against an explicit environment in tests.

use std::collections::BTreeMap;

/// This process's variables; names or values that are not UTF-8 are left out (no agent or
/// handler variable is).
pub fn process() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
}

/// The variables among `pairs` whose names `keep` selects.
pub fn select<K: Into<String>, V: Into<String>>(
    pairs: impl IntoIterator<Item = (K, V)>,
    keep: impl Fn(&str) -> bool,
) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .filter(|(k, _)| keep(k))
        .collect()
}
