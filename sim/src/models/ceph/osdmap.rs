//! The OSDMap as the monitors commit it: an epoch, which OSDs are up and in, when each went
//! down (for the down-out timer), which incarnation of each OSD is up (its boot nonce, so a
//! restarted OSD is told apart from the one that died) and whether an out was automatic (an
//! auto-out OSD is marked in again when it boots, `mon_osd_auto_mark_auto_out_in`, default
//! true). Changes are values ([`MapChange`]) the leader batches into the next epoch.

use std::fmt;

use super::crush::WEIGHT_ONE;
use super::pool::OsdStates;
use crate::engine::SimTime;

/// One change the leader proposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MapChange {
    /// Failure reports crossed the threshold.
    MarkDown(i32),
    /// Down for `mon_osd_down_out_interval`.
    MarkOut(i32),
    /// A primary asked (`MOSDAlive`) for its up_thru to reach `epoch`, the map it had
    /// (`OSDMonitor::prepare_alive` writes the message's version, not its want).
    UpThru {
        /// OSD id.
        osd: i32,
        /// The epoch.
        epoch: u64,
    },
    /// An OSD incarnation (`nonce`) booted.
    Boot {
        /// OSD id.
        osd: i32,
        /// Its boot counter.
        nonce: u64,
    },
}

/// An epoch of the OSDMap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsdMap {
    /// Epoch; every committed change makes a new one.
    pub epoch: u64,
    /// Up/in per OSD.
    pub states: OsdStates,
    /// When each OSD was marked down (`None` while up).
    pub down_since: Vec<Option<SimTime>>,
    /// Boot nonce of the incarnation marked up.
    pub up_nonce: Vec<u64>,
    /// Marked out by the down-out timer (not by an operator).
    pub auto_out: Vec<bool>,
    /// Per OSD, the newest epoch the monitors know it was alive and peering in (`up_thru`): a
    /// primary may not activate a PG whose interval began after its up_thru, so a past
    /// interval without that proof is known never to have accepted writes.
    pub up_thru: Vec<u64>,
}

impl OsdMap {
    /// Epoch 1 of a fresh cluster of `n` OSDs: all up and in (first incarnations).
    pub fn initial(n: usize) -> Self {
        OsdMap {
            epoch: 1,
            states: OsdStates::all_up_in(n),
            down_since: vec![None; n],
            up_nonce: vec![1; n],
            auto_out: vec![false; n],
            up_thru: vec![1; n],
        }
    }

    /// Whether OSD `osd` is up.
    pub fn is_up(&self, osd: i32) -> bool {
        self.states.is_up(osd)
    }

    /// Whether OSD `osd` is in (weight above zero).
    pub fn is_in(&self, osd: i32) -> bool {
        osd >= 0
            && self
                .states
                .osds
                .get(osd as usize)
                .is_some_and(|o| o.weight > 0)
    }

    /// Whether `change` would change this map.
    pub fn changes(&self, change: MapChange) -> bool {
        match change {
            MapChange::MarkDown(o) => self.is_up(o),
            MapChange::MarkOut(o) => !self.is_up(o) && self.is_in(o),
            MapChange::Boot { osd, nonce } => {
                !self.is_up(osd) || self.up_nonce.get(osd as usize) != Some(&nonce)
            }
            MapChange::UpThru { osd, epoch } => self.is_up(osd) && self.up_thru_of(osd) < epoch,
        }
    }

    /// Applies `change` at `now` (no epoch bump; the caller makes the new epoch).
    pub fn apply(&mut self, change: MapChange, now: SimTime) {
        let i = |o: i32| usize::try_from(o).ok();
        match change {
            MapChange::MarkDown(o) => {
                if let Some(k) = i(o).filter(|k| *k < self.states.osds.len()) {
                    self.states.osds[k].up = false;
                    self.down_since[k] = Some(now);
                }
            }
            MapChange::MarkOut(o) => {
                if let Some(k) = i(o).filter(|k| *k < self.states.osds.len()) {
                    self.states.osds[k].weight = 0;
                    self.auto_out[k] = true;
                }
            }
            MapChange::UpThru { osd, epoch } => {
                if let Some(k) = i(osd).filter(|k| *k < self.up_thru.len()) {
                    self.up_thru[k] = self.up_thru[k].max(epoch);
                }
            }
            MapChange::Boot { osd, nonce } => {
                if let Some(k) = i(osd).filter(|k| *k < self.states.osds.len()) {
                    self.states.osds[k].up = true;
                    self.down_since[k] = None;
                    self.up_nonce[k] = nonce;
                    if self.auto_out[k] {
                        self.states.osds[k].weight = WEIGHT_ONE;
                        self.auto_out[k] = false;
                    }
                }
            }
        }
    }

    /// `osd`'s up_thru (0 for an unknown id).
    pub fn up_thru_of(&self, osd: i32) -> u64 {
        usize::try_from(osd)
            .ok()
            .and_then(|k| self.up_thru.get(k))
            .copied()
            .unwrap_or(0)
    }

    /// Up OSD ids.
    pub fn up_osds(&self) -> Vec<i32> {
        (0..self.states.osds.len() as i32)
            .filter(|o| self.is_up(*o))
            .collect()
    }

    /// In OSD ids.
    pub fn in_osds(&self) -> Vec<i32> {
        (0..self.states.osds.len() as i32)
            .filter(|o| self.is_in(*o))
            .collect()
    }
}

impl fmt::Display for OsdMap {
    /// `e5 up=[0,1,2] in=[0,1,2,3]`, for people (checks read the `OsdMapCommitted` fact).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: Vec<i32>| {
            v.iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        write!(
            f,
            "e{} up=[{}] in=[{}]",
            self.epoch,
            list(self.up_osds()),
            list(self.in_osds())
        )
    }
}

/// Parses an [`OsdMap`]'s display text back: (epoch, up OSDs, in OSDs).
pub fn parse_map_summary(text: &str) -> Option<(u64, Vec<i32>, Vec<i32>)> {
    let mut parts = text.split_whitespace();
    let epoch = parts.next()?.strip_prefix('e')?.parse().ok()?;
    let up = parse_list(parts.next()?.strip_prefix("up=")?)?;
    let inn = parse_list(parts.next()?.strip_prefix("in=")?)?;
    Some((epoch, up, inn))
}

/// Parses `[1,2,3]` (also with spaces, as `{:?}` prints it).
pub fn parse_list(text: &str) -> Option<Vec<i32>> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    inner.split(',').map(|s| s.trim().parse().ok()).collect()
}

/// OSD states of `n` OSDs with `up` up and `inn` in.
pub fn states_from(n: usize, up: &[i32], inn: &[i32]) -> OsdStates {
    let mut s = OsdStates::all_up_in(n);
    for (i, o) in s.osds.iter_mut().enumerate() {
        o.up = up.contains(&(i as i32));
        if !inn.contains(&(i as i32)) {
            o.weight = 0;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SimDuration;

    #[test]
    fn down_out_boot_round_trip() {
        let mut m = OsdMap::initial(3);
        let t = SimTime::ZERO + SimDuration::from_secs(80);
        assert!(m.changes(MapChange::MarkDown(1)));
        m.apply(MapChange::MarkDown(1), t);
        assert!(!m.changes(MapChange::MarkDown(1)));
        assert_eq!(m.down_since[1], Some(t));
        m.apply(MapChange::MarkOut(1), t);
        assert!(!m.is_in(1));
        assert!(m.changes(MapChange::Boot { osd: 1, nonce: 2 }));
        m.apply(MapChange::Boot { osd: 1, nonce: 2 }, t);
        assert!(m.is_up(1) && m.is_in(1), "auto-out OSD comes back in");
        assert!(!m.changes(MapChange::Boot { osd: 1, nonce: 2 }));
        m.epoch = 7;
        assert_eq!(m.to_string(), "e7 up=[0,1,2] in=[0,1,2]");
        assert_eq!(
            parse_map_summary(&m.to_string()),
            Some((7, vec![0, 1, 2], vec![0, 1, 2]))
        );
        assert_eq!(parse_list("[3, 4]"), Some(vec![3, 4]));
        let st = states_from(3, &[0], &[0, 1]);
        assert!(st.is_up(0) && !st.is_up(1));
        assert_eq!(st.weights(), vec![WEIGHT_ONE, WEIGHT_ONE, 0]);
    }
}
