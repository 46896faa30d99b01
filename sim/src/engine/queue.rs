//! The event queue: a binary heap ordered by (time, sequence number). The sequence number is
//! the order of scheduling, so events at the same instant run first-scheduled-first, and the
//! order never depends on anything but the run's own history.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::time::SimTime;

/// What the heap orders: the key and where the item waits. Items stay put in the slab while
/// the heap moves only these 24 bytes (an engine event is several times larger, and a heap
/// pop moves an entry once per level).
struct Key {
    time: SimTime,
    seq: u64,
    slot: u32,
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    /// Reversed, so the max-heap pops the earliest (time, seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// A min-queue of items keyed by (time, scheduling order).
pub struct EventQueue<T> {
    heap: BinaryHeap<Key>,
    /// Items by slot; `None` for a free slot.
    slots: Vec<Option<T>>,
    /// Free slots, reused last-freed-first.
    free: Vec<u32>,
    next_seq: u64,
}

impl<T> std::fmt::Debug for EventQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventQueue")
            .field("len", &self.heap.len())
            .field("next_seq", &self.next_seq)
            .finish()
    }
}

impl<T> Default for EventQueue<T> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
        }
    }
}

impl<T> EventQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `item` at `time`.
    pub fn push(&mut self, time: SimTime, item: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(item);
                slot
            }
            None => {
                self.slots.push(Some(item));
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 events waiting")
            }
        };
        self.heap.push(Key { time, seq, slot });
    }

    /// The time of the earliest item.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|k| k.time)
    }

    /// Removes and returns the earliest item.
    pub fn pop(&mut self) -> Option<(SimTime, T)> {
        let key = self.heap.pop()?;
        let item = self.slots[key.slot as usize]
            .take()
            .expect("every key in the heap names a filled slot");
        self.free.push(key.slot);
        Some((key.time, item))
    }

    /// Number of items waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_scheduling_order() {
        let mut q = EventQueue::new();
        q.push(SimTime::from_nanos(5), "c");
        q.push(SimTime::from_nanos(1), "a");
        q.push(SimTime::from_nanos(5), "d");
        q.push(SimTime::from_nanos(1), "b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, x)| x)).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }

    #[test]
    fn reused_slots_keep_the_order() {
        let mut q = EventQueue::new();
        q.push(SimTime::from_nanos(3), 30);
        q.push(SimTime::from_nanos(1), 10);
        assert_eq!(q.pop(), Some((SimTime::from_nanos(1), 10)));
        // Takes the freed slot, yet comes after the earlier-scheduled item of its instant.
        q.push(SimTime::from_nanos(3), 31);
        q.push(SimTime::from_nanos(2), 20);
        assert_eq!(q.len(), 3);
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, x)| x)).collect();
        assert_eq!(order, [20, 30, 31]);
        assert!(q.is_empty());
    }
}
