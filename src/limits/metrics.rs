//! Prometheus `/metrics`: the documents being answered or sent at once, each capped.

use super::{kib, BudgetLine, Limits};
use crate::config::Config;
use crate::server::metrics::{MAX_BYTES, MAX_SCRAPES};

/// The "metrics" line, when the exporter is on: `MAX_SCRAPES` documents of up to
/// `MAX_BYTES` each (`server::metrics`).
pub(super) fn line(config: &Config, _: &Limits) -> Option<BudgetLine> {
    if !config.exporter_enabled {
        return None;
    }
    Some(BudgetLine {
        what: "metrics",
        formula: format!(
            "{MAX_SCRAPES} scrapes at once x {} document (server::metrics::MAX_BYTES)",
            kib(MAX_BYTES)
        ),
        bytes: (MAX_SCRAPES * MAX_BYTES) as u64,
    })
}
