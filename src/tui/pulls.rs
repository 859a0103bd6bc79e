//! Live bytes of the pulls on screen: which nodes' runtimes to read (`ctr content active`
//! through a preloader's privileged container), how often, and what they said. Only nodes
//! on screen with a pull under way are read; each at most once a second, at most
//! [`PER_SECOND`] reads a second and [`AT_ONCE`] at a time in all, so the API server's load
//! stays bounded whatever the cluster's size, and is nothing when nothing pulls.

use std::collections::{HashMap, HashSet, VecDeque};

use jiff::Timestamp;

use crate::core::progress::bytes::{Floors, LiveTarget, Tracker, live_targets};
use crate::core::progress::{Overview, Snapshot};
use crate::runtime::ActivePull;

/// Reads under way at most.
pub const AT_ONCE: usize = 4;
/// Reads started in any second at most.
pub const PER_SECOND: usize = 8;
/// A node is read again this long after its last reading, at the soonest.
const AGAIN_SECONDS: f64 = 1.0;
/// And this long after a read that failed.
const AFTER_FAILURE: i64 = 9;

/// What the runtimes said, and the reads under way.
#[derive(Debug, Default)]
pub struct PullReads {
    pub tracker: Tracker,
    /// What the screen showed of each pull: it never shows less.
    pub floors: Floors,
    in_flight: HashSet<String>,
    last: HashMap<String, Timestamp>,
    started: VecDeque<Timestamp>,
    /// Why no node's bytes are read at all (read-only, exec not allowed), when so.
    pub off: Option<String>,
    /// Why a node's bytes are not read, by node.
    pub why_not: HashMap<String, String>,
    /// Each pool's throughput, a sample a second, the latest last.
    pub history: HashMap<String, VecDeque<f64>>,
    /// The clock reading the last look for due reads was taken at, and whether a read has
    /// ended since: the loop asks after every action, and looking costs a pass over the
    /// pool's nodes, so it looks again only when one of them moved.
    looked: Option<Timestamp>,
    answered: bool,
}

/// Throughput samples kept per pool.
const HISTORY: usize = 60;

impl PullReads {
    /// The reads to start now for the `nodes` on screen.
    pub fn due(
        &mut self,
        snapshot: &Snapshot,
        overview: &Overview,
        nodes: &[String],
        now: Timestamp,
    ) -> Vec<LiveTarget> {
        if self.off.is_some() || nodes.is_empty() {
            return Vec::new();
        }
        if self.looked == Some(now) && !self.answered {
            return Vec::new();
        }
        self.looked = Some(now);
        self.answered = false;
        while self
            .started
            .front()
            .is_some_and(|t| now.duration_since(*t).as_secs_f64() >= 1.0)
        {
            self.started.pop_front();
        }
        let room = AT_ONCE
            .saturating_sub(self.in_flight.len())
            .min(PER_SECOND.saturating_sub(self.started.len()));
        if room == 0 {
            return Vec::new();
        }
        let mut ready: Vec<LiveTarget> = Vec::new();
        for (node, target) in live_targets(snapshot, overview, nodes) {
            match target {
                Ok(t) => {
                    // A node whose read failed keeps its reason until it is tried again.
                    if self.last.get(&node).is_none_or(|at| *at <= now) {
                        self.why_not.remove(&node);
                    }
                    ready.push(t);
                }
                Err(why) => {
                    self.why_not.insert(node, why);
                }
            }
        }
        ready.retain(|t| {
            !self.in_flight.contains(&t.node)
                && self
                    .last
                    .get(&t.node)
                    .is_none_or(|at| now.duration_since(*at).as_secs_f64() >= AGAIN_SECONDS)
        });
        // The longest unread first.
        ready.sort_by_key(|t| self.last.get(&t.node).copied());
        ready.truncate(room);
        for t in &ready {
            self.in_flight.insert(t.node.clone());
            // Counted from when it was asked: the next is due a second later.
            self.last.insert(t.node.clone(), now);
            self.started.push_back(now);
        }
        ready
    }

    /// A read's answer.
    pub fn answer(
        &mut self,
        target: &LiveTarget,
        at: Timestamp,
        answer: Result<Vec<ActivePull>, String>,
    ) {
        self.in_flight.remove(&target.node);
        self.answered = true;
        match answer {
            Ok(pulls) => {
                self.why_not.remove(&target.node);
                self.tracker
                    .observe(&target.node, &target.image, target.since, &pulls, at);
            }
            Err(e) if e.starts_with("Not allowed to exec") => {
                self.off = Some(
                    "not allowed to exec into the preloader pods (pods/exec, verbs get and create)"
                        .into(),
                );
            }
            Err(e) => {
                // A node that cannot be read now is tried again in ten seconds, not every
                // second: an exec that fails (a pod going, a kubelet unreachable) costs the
                // API server as much as one that works.
                if let Ok(later) = at.checked_add(jiff::SignedDuration::from_secs(AFTER_FAILURE)) {
                    self.last.insert(target.node.clone(), later);
                }
                self.why_not.insert(target.node.clone(), e);
            }
        }
    }

    /// One throughput sample per pool (called once a second); a pool with nothing pulling
    /// and no history is left out.
    pub fn sample(&mut self, overview: &Overview) {
        for p in &overview.pools {
            let rate = p.throughput.unwrap_or(0.0);
            if rate == 0.0 && !self.history.contains_key(&p.pool) {
                continue;
            }
            let h = self.history.entry(p.pool.clone()).or_default();
            h.push_back(rate);
            while h.len() > HISTORY {
                h.pop_front();
            }
        }
        self.history.retain(|pool, h| {
            overview.pools.iter().any(|p| &p.pool == pool) && h.iter().any(|r| *r > 0.0)
        });
    }

    /// The last `width` samples of a pool's throughput as a sparkline (`▁▃▅█`), scaled to
    /// their own peak; empty when the pool has pulled nothing lately.
    pub fn sparkline(&self, pool: &str, width: usize) -> String {
        const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
        let Some(h) = self.history.get(pool) else {
            return String::new();
        };
        let last: Vec<f64> = h.iter().rev().take(width).rev().copied().collect();
        let peak = last.iter().copied().fold(0.0, f64::max);
        if peak <= 0.0 {
            return String::new();
        }
        last.iter()
            .map(|r| {
                if *r <= 0.0 {
                    ' '
                } else {
                    BARS[((r / peak) * 7.0).round() as usize]
                }
            })
            .collect()
    }

    /// Forgets everything of the namespace left (a switch: the loop stopped its reads, and
    /// `pods/exec` may be allowed in the next one); read-only stays read-only.
    pub fn forget_pending(&mut self) {
        let off = self.off.take().filter(|o| o.starts_with("read-only"));
        *self = PullReads {
            off,
            ..PullReads::default()
        };
    }

    /// Keeps the readings of the nodes still pulling, or failing (the kubelet tries again,
    /// and the new attempt is then told as a restart with its bytes kept), and raises every
    /// figure in `overview` to what was shown before.
    pub fn settle(&mut self, overview: &mut Overview) {
        self.floors.apply(overview);
        if self.tracker.is_empty() {
            return;
        }
        let going: HashSet<&str> = overview
            .pools
            .iter()
            .flat_map(|p| &p.nodes)
            .filter(|n| n.pulling() || n.images.iter().any(|i| i.state.word() == "failed"))
            .map(|n| n.node.as_str())
            .collect();
        self.tracker.retain(|n| going.contains(n));
        self.last.retain(|n, _| going.contains(n.as_str()));
    }

    /// Why the figures of these nodes' pulls are estimates (`~`), in a sentence: kpreload
    /// reads nothing (read-only, exec not allowed), or the first node's own reason (a
    /// hand-written preloader, a runtime without the tool, a failed read).
    pub fn reason(
        &self,
        read_only: bool,
        snapshot: &Snapshot,
        overview: &Overview,
        nodes: &[&str],
    ) -> Option<String> {
        if read_only {
            return Some("read-only: kpreload does not exec into pods".into());
        }
        if let Some(off) = &self.off {
            return Some(off.clone());
        }
        if let Some(said) = nodes
            .iter()
            .find_map(|n| Some(format!("{n}: {}", self.why_not.get(*n)?)))
        {
            return Some(said);
        }
        let nodes: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
        live_targets(snapshot, overview, &nodes)
            .into_iter()
            .find_map(|(node, t)| t.err().map(|e| format!("{node}: {e}")))
            .or_else(|| Some("not read yet".into()))
    }
}
