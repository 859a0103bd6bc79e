//! The workloads' starts for the screens: the window of starts (`core::payoff`), fed by the
//! starts watch, and which pools each node is in and what each preloader has pulled where,
//! worked out again when nodes, preloaders or their pods change (at most every two seconds:
//! on 5,000 nodes that is 50,000 selector matches).

use jiff::Timestamp;

use crate::cluster::watch::{Link, Links, Watch};
use crate::core::payoff::{Figures, Scopes, Start, Window};
use crate::core::progress::Snapshot;

const RESCOPE: i64 = 2;

#[derive(Debug, Default)]
pub struct Payoff {
    pub window: Window,
    scopes: Option<Scopes>,
    /// Nodes or preloaders changed since the scopes were made.
    stale: bool,
    scoped_at: i64,
    /// Moves with every change of the figures.
    pub version: u64,
}

impl Payoff {
    /// Starts the watch saw: counted now when the pools are known, else held.
    pub fn seen(&mut self, starts: Vec<Start>, now: Timestamp) {
        match &self.scopes {
            Some(scopes) => {
                for s in starts {
                    self.window.record(s, scopes, now.as_second());
                }
            }
            None => {
                for s in starts {
                    self.window.defer(s);
                }
            }
        }
        self.version += 1;
    }

    /// Nodes or preloaders changed.
    pub fn changed(&mut self) {
        self.stale = true;
    }

    /// Works the pools out again when due, once the nodes and preloaders are loaded.
    pub fn maintain(&mut self, snapshot: &Snapshot, links: &Links, now: Timestamp) {
        let loaded = [Watch::Nodes, Watch::DaemonSets, Watch::Pods]
            .iter()
            .all(|w| links.get(*w) == Link::Live);
        let now = now.as_second();
        let due = self.scopes.is_none() || (self.stale && now - self.scoped_at >= RESCOPE);
        if !loaded || !due {
            return;
        }
        let scopes = Scopes::of(snapshot);
        self.window.settle(&scopes, now);
        self.scopes = Some(scopes);
        self.stale = false;
        self.scoped_at = now;
        self.version += 1;
    }

    /// Once a tick: old starts and pulls whose end never came leave, whether or not anything
    /// changes (not on every update: that scan is the window's whole length).
    pub fn tick(&mut self, now: Timestamp) {
        let before = self.window.retained();
        self.window.expire(now.as_second());
        if self.window.retained() != before {
            self.version += 1;
        }
    }

    /// Whether the starts can be counted yet (the pools known, the watch listed).
    pub fn ready(&self, links: &Links) -> bool {
        self.scopes.is_some() && links.get(Watch::Starts) == Link::Live
    }

    /// A pool's figures; `headroom` its least room before image GC, where read.
    pub fn figures(&self, pool: &str, headroom: Option<i64>) -> Option<Figures> {
        let scope = self
            .scopes
            .as_ref()?
            .pools
            .iter()
            .find(|p| p.pool == pool)?;
        Some(self.window.figures(pool, &scope.images, headroom))
    }

    /// Every pool's figures, for the findings (the headroom is theirs to add).
    pub fn all(&self) -> Vec<Figures> {
        self.scopes
            .as_ref()
            .map(|s| s.figures(&self.window, |_| None))
            .unwrap_or_default()
    }

    /// Another namespace: its preloaders are other pools.
    pub fn clear(&mut self) {
        self.window.clear();
        self.scopes = None;
        self.stale = false;
        self.version += 1;
    }
}
