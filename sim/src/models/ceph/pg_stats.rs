//! PG state counts as the cluster reports them (`ceph -s`'s "pgs:" line): every OSD sends the
//! states of the PGs it is primary of to the monitors every `osd_mon_report_interval`
//! (`MPGStats`), and the leader folds them into counts, recorded as a [`super::facts::PgCounts`] fact when they
//! change. A PG whose current primary has not reported it counts as `stale`, as Ceph shows a PG
//! whose primary stopped reporting.

use std::collections::BTreeMap;

use super::layout::{CephLayout, PgId};
use super::osdmap::OsdMap;
use super::pool::{OsdStates, PgMapping};
use crate::engine::Message;

/// Seconds between an OSD's PG stats reports (`osd_mon_report_interval`, Ceph default 5 s).
pub const OSD_MON_REPORT_INTERVAL_SECS: u64 = 5;

/// An OSD's report of the PGs it is primary of.
#[derive(Clone, Debug)]
pub struct PgStatsReport {
    /// Reporting OSD.
    pub osd: i32,
    /// Its boot nonce (reports of an older incarnation are stale).
    pub nonce: u64,
    /// PG and state name.
    pub states: Vec<(PgId, String)>,
}

impl Message for PgStatsReport {
    fn kind(&self) -> &'static str {
        "PgStatsReport"
    }
}

/// The leader's table of reports.
#[derive(Clone, Debug, Default)]
pub struct PgStatsTable {
    by_osd: BTreeMap<i32, (u64, BTreeMap<PgId, String>)>,
    last: String,
    /// The PG mapping under the OSD states it was computed for: most maps (up_thru changes)
    /// leave the states alone, so the leader maps the PGs again only when they move.
    mapped: Option<(OsdStates, Vec<(PgId, PgMapping)>)>,
}

impl PgStatsTable {
    /// Takes in a report.
    pub fn update(&mut self, r: &PgStatsReport) {
        self.by_osd
            .insert(r.osd, (r.nonce, r.states.iter().cloned().collect()));
    }

    /// Counts under `map`: `active+clean=30 active+undersized+degraded=2`, or `None` when
    /// unchanged since the last call.
    pub fn changed_summary(&mut self, layout: &CephLayout, map: &OsdMap) -> Option<String> {
        if self.mapped.as_ref().is_none_or(|(s, _)| *s != map.states) {
            self.mapped = Some((map.states.clone(), layout.map_all(&map.states)));
        }
        let mapping = self.mapped.as_ref().map_or(&[][..], |(_, m)| m.as_slice());
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for (pg, m) in mapping {
            let state = m
                .up_primary
                .and_then(|p| {
                    let (nonce, states) = self.by_osd.get(&p)?;
                    (map.up_nonce.get(p as usize) == Some(nonce))
                        .then(|| states.get(pg).cloned())
                        .flatten()
                })
                .unwrap_or_else(|| "stale".to_owned());
            *counts.entry(state).or_insert(0) += 1;
        }
        let text = counts
            .iter()
            .map(|(s, n)| format!("{s}={n}"))
            .collect::<Vec<_>>()
            .join(" ");
        if text == self.last {
            return None;
        }
        self.last = text.clone();
        Some(text)
    }

    /// Forgets everything (a new leader starts empty).
    pub fn clear(&mut self) {
        self.by_osd.clear();
        self.last.clear();
    }
}
