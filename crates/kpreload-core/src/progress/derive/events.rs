//! The Deriver's events index: the snapshot's events grouped by the pod they are about,
//! kept from one derivation to the next.

use std::sync::Arc;

use super::Fast;
use crate::objects::{Event, Pod};

/// The snapshot's events by the uid of the pod they are about, kept from one derivation to
/// the next: an event seen before is placed by its address, without reading it (on 5,000
/// nodes, reading 30,000 events' uids again was most of a derivation where little changed).
#[derive(Default)]
pub(super) struct EventIndex {
    /// Each event seen, held (its address is never a freed event's), with its uid's slot and
    /// the round that last saw it.
    seen: Fast<*const Event, (Arc<Event>, u32, u64)>,
    /// The uids' slots.
    slots: Fast<String, u32>,
    round: u64,
    /// Most slots are of uids no event names any more: start over next time.
    reset: bool,
    /// Moves each time the index starts over: a slot is a uid's within one epoch.
    epoch: u64,
}

/// No uid: the event is about no pod.
const NO_SLOT: u32 = u32::MAX;

/// One derivation's events by their pods: slot `s`'s are `order[start[s]..start[s + 1]]`,
/// in the snapshot's order.
pub(in crate::progress) struct ByPod<'a> {
    slots: &'a Fast<String, u32>,
    order: Vec<&'a Arc<Event>>,
    start: Vec<u32>,
    epoch: u64,
}

/// Where a pod's events are found while the index does not start over: its uid's slot, and
/// the epoch that gave it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(in crate::progress) struct Slot {
    epoch: u64,
    slot: u32,
}

impl<'a> ByPod<'a> {
    /// The events of a pod, in the snapshot's order.
    pub(in crate::progress) fn of(&self, pod: &Pod) -> &[&'a Arc<Event>] {
        self.slot(pod).map_or(&[], |s| self.at(s))
    }

    /// The slot of a pod's uid, once an event has named it.
    pub(in crate::progress) fn slot(&self, pod: &Pod) -> Option<Slot> {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        self.slots.get(uid).map(|&slot| Slot {
            epoch: self.epoch,
            slot,
        })
    }

    /// The events of the pod whose slot this is (found before, without its uid being
    /// looked up again); none when the slot is of an earlier epoch.
    pub(in crate::progress) fn at(&self, s: Slot) -> &[&'a Arc<Event>] {
        let i = s.slot as usize;
        if s.epoch != self.epoch || i + 1 >= self.start.len() {
            return &[];
        }
        &self.order[self.start[i] as usize..self.start[i + 1] as usize]
    }

    /// Whether a slot is of this epoch.
    pub(in crate::progress) fn current(&self, s: Slot) -> bool {
        s.epoch == self.epoch
    }
}

impl EventIndex {
    /// Places `events`, returning each one's slot.
    fn place(&mut self, events: &[Arc<Event>]) -> Vec<u32> {
        if self.reset {
            *self = EventIndex {
                epoch: self.epoch + 1,
                ..EventIndex::default()
            };
        }
        self.round += 1;
        let round = self.round;
        let mut slot_of = Vec::with_capacity(events.len());
        for e in events {
            let key = Arc::as_ptr(e);
            let slot = match self.seen.get_mut(&key) {
                Some(entry) => {
                    entry.2 = round;
                    entry.1
                }
                None => {
                    let slot = match e.involved_object.uid.as_deref() {
                        None => NO_SLOT,
                        Some(uid) => {
                            let next = self.slots.len() as u32;
                            *self.slots.entry(uid.to_string()).or_insert(next)
                        }
                    };
                    self.seen.insert(key, (e.clone(), slot, round));
                    slot
                }
            };
            slot_of.push(slot);
        }
        if self.seen.len() > events.len() {
            self.seen.retain(|_, e| e.2 == round);
        }
        slot_of
    }

    /// `events` grouped by their pods' slots (a stable counting sort).
    pub(super) fn group<'a>(&'a mut self, events: &'a [Arc<Event>]) -> ByPod<'a> {
        let slot_of = self.place(events);
        let n = self.slots.len();
        let mut start = vec![0u32; n + 1];
        for &s in &slot_of {
            if s != NO_SLOT {
                start[s as usize + 1] += 1;
            }
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let used = (0..n).filter(|&i| start[i + 1] > start[i]).count();
        self.reset = n > 2 * used + 4096;
        let mut order: Vec<&Arc<Event>> = match events.first() {
            Some(first) => vec![first; start[n] as usize],
            None => Vec::new(),
        };
        let mut fill = start.clone();
        for (e, &s) in events.iter().zip(&slot_of) {
            if s != NO_SLOT {
                order[fill[s as usize] as usize] = e;
                fill[s as usize] += 1;
            }
        }
        ByPod {
            slots: &self.slots,
            order,
            start,
            epoch: self.epoch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{event, event_of};

    /// A pod the fixtures' events name (`uid-{name}`).
    fn pod(name: &str) -> Pod {
        serde_json::from_value(
            serde_json::json!({"metadata": {"name": name, "uid": format!("uid-{name}")}}),
        )
        .unwrap()
    }

    fn names(events: &[&Arc<Event>]) -> Vec<String> {
        events
            .iter()
            .map(|e| e.metadata.name.clone().unwrap_or_default())
            .collect()
    }

    /// The index gives each pod its events in the snapshot's order, as they come and go, and
    /// starts over once most of its uids are of pods gone.
    #[test]
    fn the_event_index_follows_the_events() {
        let e = |pod: &str, n: u32| {
            event_of(event(
                pod,
                n,
                "2026-11-28T10:00:00Z",
                "Normal",
                "Pulling",
                "Pulling image \"x\"",
            ))
        };
        let (a, b) = (pod("a"), pod("b"));
        let mut index = EventIndex::default();
        let mut events = vec![e("a", 2), e("b", 1), e("a", 1)];
        {
            let by = index.group(&events);
            assert_eq!(names(by.of(&a)), ["a.0002", "a.0001"]);
            assert_eq!(names(by.of(&b)), ["b.0001"]);
        }
        events.remove(0);
        events.push(e("b", 2));
        {
            let by = index.group(&events);
            assert_eq!(names(by.of(&a)), ["a.0001"]);
            assert_eq!(names(by.of(&b)), ["b.0001", "b.0002"]);
        }
        assert_eq!(index.seen.len(), 3, "the event gone is let go");

        // A slot found once gives the pod's events without its uid.
        let slot = index.group(&events).slot(&b).unwrap();
        assert_eq!(names(index.group(&events).at(slot)), ["b.0001", "b.0002"]);

        // Thousands of pods' events, then theirs gone: the next grouping starts over.
        let many: Vec<Arc<Event>> = (0..5000).map(|i| e(&format!("p{i}"), 1)).collect();
        index.group(&many);
        index.group(&events);
        assert!(index.reset);
        let by = index.group(&events);
        assert_eq!(by.slots.len(), 2);
        assert_eq!(names(by.of(&b)), ["b.0001", "b.0002"]);
        // The slot found before the start-over is of another epoch: it gives nothing, and
        // the pod's events are looked up by its uid again.
        assert!(!by.current(slot));
        assert!(by.at(slot).is_empty());
        assert!(by.current(by.slot(&b).unwrap()));
    }
}
