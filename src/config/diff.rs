//! What a reload changes, one line per key, written with the config file's key names and units.

use super::error::push_key;
use super::section::{Entry, Section};
use super::Config;

/// `old` → `new`, in file order: top-level keys, then vhosts (default first, then by name).
/// The keys, their spelling and which need a restart come from the sections' definitions.
pub(super) fn diff(old: &Config, new: &Config) -> Vec<String> {
    let mut lines = Vec::new();
    changes("", &entries(old), &entries(new), &mut lines);
    for vhost in old.vhosts() {
        let mut path = String::from("vhost");
        push_key(&mut path, &vhost.name);
        match new.vhosts().find(|v| v.name == vhost.name) {
            Some(now) => changes(&path, &entries(vhost), &entries(now), &mut lines),
            None => lines.push(format!("{path}: removed")),
        }
    }
    for vhost in new.vhosts() {
        if !old.vhosts().any(|v| v.name == vhost.name) {
            let mut path = String::from("vhost");
            push_key(&mut path, &vhost.name);
            lines.push(format!("{path}: added"));
        }
    }
    lines
}

fn entries(section: &impl Section) -> Vec<Entry> {
    let mut out = Vec::new();
    section.entries("", &mut out);
    out
}

/// Both lists come from the same definition, so they hold the same keys in the same order.
fn changes(prefix: &str, old: &[Entry], new: &[Entry], lines: &mut Vec<String>) {
    for (was, now) in old.iter().zip(new) {
        if was.value == now.value {
            continue;
        }
        let mut path = prefix.to_owned();
        push_dotted(&mut path, &was.key);
        let restart = if was.restart {
            " (needs a restart to apply)"
        } else {
            ""
        };
        lines.push(format!("{path}: {} -> {}{restart}", was.value, now.value));
    }
}

/// Appends an already dotted, bare key such as `play.gop_cache`.
fn push_dotted(path: &mut String, key: &str) {
    for part in key.split('.') {
        push_key(path, part);
    }
}

#[cfg(test)]
mod tests {
    use super::super::vhost::seconds;

    #[test]
    fn seconds_are_written_as_in_the_file() {
        assert_eq!(seconds(&10_000), "10");
        assert_eq!(seconds(&500), "0.5");
        assert_eq!(seconds(&1), "0.001");
        assert_eq!(seconds(&3_600_000), "3600");
        assert_eq!(seconds(&1_250), "1.25");
    }
}
