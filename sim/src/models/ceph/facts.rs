//! What the Ceph actors state about themselves, as typed facts the checks, the scenario
//! figures and the tests match on (see `engine::fact`): the committed OSD map, each PG's state
//! as its primary records it, stuck writes, finished recovery transfers, the monitors' PG
//! counts and leader, and lost disks. Before these were strings the checks parsed back.

use serde::Serialize;

use super::layout::PgId;
use crate::engine::{Fact, SimDuration, SimTime, fact_json};

macro_rules! fact_kind {
    ($ty:ty, $kind:literal) => {
        impl Fact for $ty {
            fn kind(&self) -> &'static str {
                $kind
            }
            fn to_json(&self) -> serde_json::Value {
                fact_json(self)
            }
        }
    };
}

/// The leader monitor committed OSD map `epoch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OsdMapCommitted {
    /// Its epoch.
    pub epoch: u64,
    /// OSDs up in it.
    pub up: Vec<i32>,
    /// OSDs in (weight above zero) in it.
    #[serde(rename = "in")]
    pub inn: Vec<i32>,
}
fact_kind!(OsdMapCommitted, "ceph/osdmap");

/// A PG's primary recorded its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PgStateFact {
    /// The PG.
    #[serde(serialize_with = "pgid_text")]
    pub pg: PgId,
    /// Ceph's `+`-joined state name, e.g. `active+clean`.
    pub state: String,
    /// The map epoch it judged by.
    pub epoch: u64,
    /// Acting set.
    pub acting: Vec<i32>,
    /// Up set.
    pub up: Vec<i32>,
}
fact_kind!(PgStateFact, "ceph/pg");

impl PgStateFact {
    /// Whether one of the `+`-joined state words is `word`.
    pub fn has(&self, word: &str) -> bool {
        self.state.split('+').any(|s| s == word)
    }
}

/// A client write took longer than `IO_STALL_AFTER` to be acknowledged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WriteStalled {
    /// Its PG.
    #[serde(serialize_with = "pgid_text")]
    pub pg: PgId,
    /// Its transaction id.
    pub tid: u64,
    /// When the client issued it.
    pub issued: SimTime,
    /// How long it took.
    pub took: SimDuration,
    /// Time the PG reported itself inactive during the wait.
    pub inactive: SimDuration,
    /// Time the client waited without a monitor quorum.
    pub no_quorum: SimDuration,
}
fact_kind!(WriteStalled, "ceph/write-stalled");

/// A recovery or backfill transfer finished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Recovered {
    /// Its PG.
    #[serde(serialize_with = "pgid_text")]
    pub pg: PgId,
    /// `recovery` or `backfill`.
    pub how: &'static str,
    /// The OSD that received the data.
    pub osd: i32,
    /// Bytes moved.
    pub bytes: u64,
    /// Bytes this host's primaries moved so far.
    pub host_total: u64,
}
fact_kind!(Recovered, "ceph/recovery");

/// The leader monitor's PG state counts changed (`ceph -s`'s pgs line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PgCounts {
    /// The summary, for people.
    pub summary: String,
}
fact_kind!(PgCounts, "ceph/pg-states");

/// A monitor won an election.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MonLeader {
    /// Its name.
    pub mon: String,
}
fact_kind!(MonLeader, "ceph/mon-leader");

/// An OSD's disk was lost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiskLost {
    /// The OSD.
    pub osd: i32,
}
fact_kind!(DiskLost, "ceph/disk-lost");

fn pgid_text<S: serde::Serializer>(pg: &PgId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(pg)
}
