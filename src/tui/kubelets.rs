//! What the TUI knows of the kubelets: each node's settings and image disk, read through
//! the node proxy only for the nodes a screen shows (or on request), a few at a time, and
//! kept for a minute. Nothing here loops over every node of a large cluster.

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;

use crate::cluster::kubelet::Answer;

/// A reading younger than this is not asked again unless a person asks.
pub(crate) const FRESH_SECONDS: i64 = 60;
/// At most this many nodes are waiting to be read; a screen asks for what it shows.
const QUEUE: usize = 64;

/// One node's reading and when it was taken.
#[derive(Clone, Debug)]
pub struct Reading {
    pub at: Timestamp,
    pub answer: Answer,
}

#[derive(Clone, Debug, Default)]
pub struct Kubelets {
    readings: HashMap<String, Reading>,
    /// Asked for and not answered yet.
    pending: BTreeSet<String>,
    /// Wanted, not yet asked for (oldest first).
    queue: Vec<String>,
}

impl Kubelets {
    pub fn get(&self, node: &str) -> Option<&Reading> {
        self.readings.get(node)
    }

    pub(crate) fn is_pending(&self, node: &str) -> bool {
        self.pending.contains(node) || self.queue.iter().any(|n| n == node)
    }

    /// Asks for these nodes' readings, unless fresh or already asked for.
    pub fn want<'a>(&mut self, nodes: impl IntoIterator<Item = &'a str>, now: Timestamp) {
        for node in nodes {
            let fresh = self
                .readings
                .get(node)
                .is_some_and(|r| now.as_second() - r.at.as_second() < FRESH_SECONDS);
            if fresh || self.is_pending(node) {
                continue;
            }
            if self.queue.len() >= QUEUE {
                break;
            }
            self.queue.push(node.to_string());
        }
    }

    /// Asks again for these nodes, however fresh (a person asked); how many were asked
    /// (those being read already are not asked twice).
    pub(crate) fn reread<'a>(&mut self, nodes: impl IntoIterator<Item = &'a str>) -> usize {
        let mut asked = 0;
        for node in nodes {
            if !self.is_pending(node) && self.queue.len() < QUEUE {
                self.queue.push(node.to_string());
                asked += 1;
            }
        }
        asked
    }

    /// The next nodes to read (at most `max`); they are pending until answered.
    pub fn take(&mut self, max: usize) -> Vec<String> {
        let n = self.queue.len().min(max);
        let taken: Vec<String> = self.queue.drain(..n).collect();
        self.pending.extend(taken.iter().cloned());
        taken
    }

    pub fn answer(&mut self, node: String, answer: Answer, at: Timestamp) {
        self.pending.remove(&node);
        self.readings.insert(node, Reading { at, answer });
    }

    /// Forgets the reads under way (their tasks were stopped), so they are asked again.
    pub(crate) fn forget_pending(&mut self) {
        self.pending.clear();
    }

    /// How many are being read or waiting to be.
    pub fn busy(&self) -> usize {
        self.pending.len() + self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::findings::Kubelet;

    #[test]
    fn only_what_is_wanted_and_not_fresh_is_read_and_a_person_can_ask_again() {
        let t0 = Timestamp::from_second(1_000_000).unwrap();
        let mut k = Kubelets::default();
        k.want(["a", "b", "a"], t0);
        assert_eq!(k.take(1), ["a"]);
        assert_eq!(k.take(8), ["b"]);
        assert!(k.take(8).is_empty());
        k.want(["a"], t0);
        assert!(k.take(8).is_empty(), "a is being read already");
        k.answer("a".into(), Ok((Kubelet::default(), None)), t0);
        let later = Timestamp::from_second(1_000_000 + FRESH_SECONDS - 1).unwrap();
        k.want(["a"], later);
        assert!(k.take(8).is_empty(), "a's reading is fresh");
        let stale = Timestamp::from_second(1_000_000 + FRESH_SECONDS).unwrap();
        k.want(["a"], stale);
        assert_eq!(k.take(8), ["a"]);
        k.answer("a".into(), Err("no".into()), stale);
        k.reread(["a"]);
        assert_eq!(k.take(8), ["a"], "asked again however fresh");
        // The queue is bounded: a screen cannot queue a whole large cluster.
        let many: Vec<String> = (0..1000).map(|i| format!("n{i}")).collect();
        k.want(many.iter().map(String::as_str), stale);
        // a and b are being read (b was never answered), and the queue is full.
        assert_eq!(k.busy(), 2 + QUEUE);
    }
}
