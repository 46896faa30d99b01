//! The figures a run's timelines do not show: how much data Ceph re-replicated, how the PGs
//! ended, how often etcd changed leader and its longest leader-election gap. Read from the log
//! after the run, so the models only record facts and never summarise.

use serde::Serialize;

use crate::checks::timeline::Timeline;
use crate::engine::{LogEntry, LogKind, Record, SimDuration};
use crate::models::ceph::osd_pg::RECOVERY_KEY;
use crate::models::ceph::pg_stats::PG_COUNTS_KEY;
use crate::models::etcd::LEADER_KEY;
use crate::models::etcd::availability::COMPONENT as ETCD_LANE;

/// One named figure, e.g. `ceph re-replicated` = `27.6 GB in 15 transfers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fact {
    /// What it measures.
    pub name: String,
    /// The figure, for people.
    pub value: String,
}

fn fact(name: &str, value: String) -> Fact {
    Fact {
        name: name.to_owned(),
        value,
    }
}

/// Bytes in a recovery record (`... bytes=<n> ...`).
fn recovered_bytes(value: &str) -> Option<u64> {
    value
        .split_whitespace()
        .find_map(|w| w.strip_prefix("bytes="))?
        .parse()
        .ok()
}

/// The run's figures from its `log` and `timelines`.
pub fn facts(log: &[LogEntry], timelines: &[Timeline]) -> Vec<Fact> {
    let mut out = Vec::new();
    let (mut bytes, mut transfers, mut pg_states, mut elections) = (0u64, 0u64, None, 0u64);
    for entry in log {
        if let LogKind::Record {
            record: Record::State { key, value },
            ..
        } = &entry.kind
        {
            if key == RECOVERY_KEY {
                bytes = bytes.saturating_add(recovered_bytes(value).unwrap_or(0));
                transfers += 1;
            } else if key == PG_COUNTS_KEY {
                pg_states = Some(value.clone());
            } else if key == LEADER_KEY {
                elections += 1;
            }
        }
    }
    if transfers > 0 {
        out.push(fact(
            "ceph data moved by recovery and backfill",
            format!("{:.1} GB in {transfers} PG transfers", bytes as f64 / 1e9),
        ));
    }
    if let Some(states) = pg_states {
        out.push(fact("ceph PGs at the end", states));
    }
    if elections > 0 {
        let longest = timelines
            .iter()
            .find(|t| t.component == ETCD_LANE)
            .and_then(|t| {
                t.intervals
                    .iter()
                    .filter(|i| i.status != crate::engine::Status::Up)
                    .map(|i| i.len())
                    .max()
            });
        out.push(fact(
            "etcd leader elections",
            format!(
                "{elections}; longest leader-election gap {}",
                crate::report::human(longest.unwrap_or(SimDuration::ZERO))
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bytes_from_recovery_records() {
        assert_eq!(
            recovered_bytes("pg=1.a recovery osd.3 bytes=4096 host_total=8192"),
            Some(4096)
        );
        assert_eq!(recovered_bytes("pg=1.a"), None);
    }
}
