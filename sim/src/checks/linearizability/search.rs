//! The Wing-Gong search with Lowe's memoisation, over one part of a history.
//!
//! A history is linearizable if its operations can be put in one order that respects real time
//! (an operation that returned before another was called comes first) and in which each
//! operation's result is what the sequential model gives. Wing and Gong search that order
//! depth-first: at each point, any operation called before every not-yet-placed operation
//! returned may go next. Lowe ("Testing for linearizability", 2017) and Porcupine cache each
//! (set of placed operations, model state) already explored, which turns the exponential search
//! into one proportional to the states actually reachable.
//!
//! Indeterminate operations have no return: they never force anything to wait, may be placed
//! anywhere after their call, and need not be placed at all; the search succeeds once every
//! determinate operation is placed. The stack is explicit (histories have thousands of
//! operations) and every model step counts against a budget, so the search always stops.
//! Timed-out writes with interchangeable effects are placed in call order only (a symmetry
//! reduction), which keeps histories with many unobserved timeouts tractable.

// The memo is only asked "seen before?" and never iterated, so hash order cannot reach any
// output, and a hash set is several times faster than a BTreeSet of bit sets here.
#[allow(clippy::disallowed_types)]
use std::collections::HashSet;

use super::model::{KeySpace, Prepared, State};

/// One operation ready for the search.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) call: u64,
    /// `u64::MAX` for indeterminate operations.
    pub(crate) ret: u64,
    pub(crate) determinate: bool,
    /// Timed-out plain puts of a value nobody saw, and timed-out deletes, have the same effect
    /// as any other of their kind on the same key: (key, is delete). Among those ready to be
    /// placed, only the earliest called is tried, since any linearization placing a later one
    /// can place the earlier one there instead.
    pub(crate) class: Option<(String, bool)>,
    pub(crate) op: Prepared,
}

/// What the search concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    Linearizable,
    NotLinearizable,
    /// The step budget ran out first.
    Unknown,
}

/// A fixed-size set of operation indices.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn with(&self, i: usize) -> Self {
        let mut b = self.clone();
        b.0[i / 64] |= 1 << (i % 64);
        b
    }
    /// Index of the first unset bit (may be past the end).
    fn first_unset(&self) -> usize {
        self.0
            .iter()
            .position(|w| *w != u64::MAX)
            .map_or(self.0.len() * 64, |w| {
                w * 64 + self.0[w].trailing_ones() as usize
            })
    }
}

struct Frame {
    placed: Bits,
    done: usize,
    choices: Vec<(usize, State)>,
    next: usize,
}

/// Search for a linearization of `entries` (sorted by call time) from `init`. `steps` counts
/// model steps across calls; the search gives up with `Unknown` once it exceeds `max_steps`.
pub(crate) fn search(
    keys: &KeySpace,
    init: State,
    entries: &[Entry],
    max_steps: u64,
    steps: &mut u64,
) -> Found {
    let n = entries.len();
    let determinate = entries.iter().filter(|e| e.determinate).count();
    if determinate == 0 {
        return Found::Linearizable;
    }
    #[allow(clippy::disallowed_types)] // membership only, never iterated (see the import)
    let mut memo: HashSet<(Bits, State)> = HashSet::new();
    let root = Bits::new(n);
    let Some(choices) = expand(keys, entries, &root, &init, max_steps, steps) else {
        return Found::Unknown;
    };
    let mut stack = vec![Frame {
        placed: root,
        done: 0,
        choices,
        next: 0,
    }];
    while let Some(top) = stack.last_mut() {
        let Some((j, state)) = top.choices.get(top.next).cloned() else {
            stack.pop();
            continue;
        };
        top.next += 1;
        let placed = top.placed.with(j);
        let done = top.done + usize::from(entries[j].determinate);
        if done == determinate {
            return Found::Linearizable;
        }
        if !memo.insert((placed.clone(), state.clone())) {
            continue;
        }
        let Some(choices) = expand(keys, entries, &placed, &state, max_steps, steps) else {
            return Found::Unknown;
        };
        stack.push(Frame {
            placed,
            done,
            choices,
            next: 0,
        });
    }
    Found::NotLinearizable
}

/// Every (operation, next state) that may come next after `placed`, or `None` when the budget
/// is exhausted.
fn expand(
    keys: &KeySpace,
    entries: &[Entry],
    placed: &Bits,
    state: &State,
    max_steps: u64,
    steps: &mut u64,
) -> Option<Vec<(usize, State)>> {
    // Candidates: unplaced operations called no later than the earliest return among unplaced
    // determinate operations. Entries are sorted by call, so the scan stops at the first call
    // past that minimum: later entries return later still and cannot lower it.
    let mut min_ret = u64::MAX;
    let mut window = Vec::new();
    for (j, e) in entries.iter().enumerate().skip(placed.first_unset()) {
        if placed.get(j) {
            continue;
        }
        if e.call > min_ret {
            break;
        }
        window.push(j);
        if e.determinate {
            min_ret = min_ret.min(e.ret);
        }
    }
    // Try determinate operations first: an indeterminate one is placed only when nothing else
    // explains what follows, which finds the linearization of a correct history sooner.
    window.retain(|&j| entries[j].call <= min_ret);
    let mut classes: Vec<&(String, bool)> = Vec::new();
    window.retain(|&j| match &entries[j].class {
        None => true,
        Some(c) if classes.contains(&c) => false,
        Some(c) => {
            classes.push(c);
            true
        }
    });
    window.sort_by_key(|&j| !entries[j].determinate);
    let mut out = Vec::new();
    for j in window {
        *steps += 1;
        if *steps > max_steps {
            return None;
        }
        out.extend(keys.step(state, &entries[j].op).into_iter().map(|s| (j, s)));
    }
    Some(out)
}
