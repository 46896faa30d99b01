//! PG states from which OSDs are up and which hold the data, with Ceph's
//! names (`pg_state_string` order), and whether client I/O is served.
//!
//! Rules (the subset of peering that decides availability):
//! * no up OSD holds a complete copy: `down` if a holder still exists (it
//!   may come back), `incomplete` if every holder is gone;
//! * fewer acting OSDs than `min_size`: `peered` (I/O blocks) and
//!   `undersized`, `degraded` when the PG has objects;
//! * at least `min_size` but fewer than `size`: `active+undersized(+degraded)`;
//! * `size` acting OSDs, some without the data yet: `active+degraded`
//!   (recovery pending); all with the data: `active+clean`.

use std::fmt;

use super::crush::map::CRUSH_ITEM_NONE;
use super::pool::{OsdStates, Pool};

/// A PG's state flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PgState {
    /// Serving I/O.
    pub active: bool,
    /// Every acting OSD has the data and the set is full.
    pub clean: bool,
    /// Blocked on down OSDs that may hold the only copy.
    pub down: bool,
    /// Fewer acting OSDs than `size`.
    pub undersized: bool,
    /// Some objects have fewer than `size` copies.
    pub degraded: bool,
    /// No surviving copy can be found.
    pub incomplete: bool,
    /// Peered but below `min_size`: no I/O.
    pub peered: bool,
}

impl PgState {
    /// Client reads and writes are served.
    pub fn serves_io(&self) -> bool {
        self.active
    }
}

impl fmt::Display for PgState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (self.active, "active"),
            (self.clean, "clean"),
            (self.down, "down"),
            (self.undersized, "undersized"),
            (self.degraded, "degraded"),
            (self.incomplete, "incomplete"),
            (self.peered, "peered"),
        ];
        let parts: Vec<&str> = names
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
        if parts.is_empty() {
            f.write_str("unknown")
        } else {
            f.write_str(&parts.join("+"))
        }
    }
}

/// The state of a PG whose acting set is `acting` (from
/// [`super::pool::map_pg`]) when the OSDs in `holders` have a complete copy.
/// `has_data` says whether the PG holds any objects (an empty PG is never
/// degraded; with no holders it needs no surviving copy).
pub fn pg_state(
    pool: &Pool,
    acting: &[i32],
    holders: &[i32],
    osds: &OsdStates,
    has_data: bool,
) -> PgState {
    let mut s = PgState::default();
    let acting_up: Vec<i32> = acting
        .iter()
        .copied()
        .filter(|o| *o != CRUSH_ITEM_NONE && osds.is_up(*o))
        .collect();
    let surviving: Vec<i32> = holders.iter().copied().filter(|o| osds.is_up(*o)).collect();
    if has_data && !holders.is_empty() && surviving.is_empty() {
        let holder_exists = holders
            .iter()
            .any(|o| osds.osds.get(*o as usize).is_some_and(|i| i.exists));
        if holder_exists {
            s.down = true;
        } else {
            s.incomplete = true;
        }
        return s;
    }
    let n = acting_up.len();
    if n == 0 {
        s.down = true;
        return s;
    }
    s.undersized = n < pool.size;
    let missing_copies = has_data && acting_up.iter().any(|o| !holders.contains(o));
    s.degraded = has_data && (s.undersized || missing_copies);
    if n < pool.min_size {
        s.peered = true;
        return s;
    }
    s.active = true;
    s.clean = !s.undersized && !s.degraded;
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ceph::pool::OsdInfo;

    fn states(n: usize, down: &[usize]) -> OsdStates {
        let mut o = OsdStates::all_up_in(n);
        for &d in down {
            o.osds[d].up = false;
        }
        o
    }

    #[test]
    fn names_follow_ceph() {
        let pool = Pool::replicated(1, 0);
        let acting = [0, 1, 2];
        let all = states(3, &[]);
        assert_eq!(
            pg_state(&pool, &acting, &acting, &all, true).to_string(),
            "active+clean"
        );
        let one = states(3, &[2]);
        assert_eq!(
            pg_state(&pool, &[0, 1], &acting, &one, true).to_string(),
            "active+undersized+degraded"
        );
        let two = states(3, &[1, 2]);
        let st = pg_state(&pool, &[0], &acting, &two, true);
        assert_eq!(st.to_string(), "undersized+degraded+peered");
        assert!(!st.serves_io());
        assert_eq!(
            pg_state(&pool, &[0], &acting, &two, false).to_string(),
            "undersized+peered"
        );
        let all_down = states(3, &[0, 1, 2]);
        assert_eq!(
            pg_state(&pool, &[], &acting, &all_down, true).to_string(),
            "down"
        );
        let mut gone = states(3, &[0, 1, 2]);
        for o in &mut gone.osds {
            *o = OsdInfo {
                exists: false,
                ..*o
            };
        }
        assert_eq!(
            pg_state(&pool, &[], &acting, &gone, true).to_string(),
            "incomplete"
        );
    }

    #[test]
    fn new_member_without_data_is_degraded() {
        let pool = Pool::replicated(1, 0);
        let o = states(4, &[]);
        assert_eq!(
            pg_state(&pool, &[0, 1, 3], &[0, 1, 2], &o, true).to_string(),
            "active+degraded"
        );
    }
}
