//! Lists read page by page: each kept as it was at its first page, for a while.

use std::collections::VecDeque;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use super::{Store, Stored};

/// How many lists being paged through are kept at once.
pub const PAGED_LISTS: usize = 32;
/// How long a list's snapshot is kept after its first page: the API server's default etcd
/// compaction interval, after which its continue tokens expire.
pub const PAGED_LIST_TTL: Duration = Duration::from_secs(300);

/// A list as it was at its first page: the objects that matched, in key order.
pub struct Snapshot {
    pub kind: &'static str,
    pub ns: Option<String>,
    pub rv: u64,
    pub items: Vec<Arc<Stored>>,
    pub taken: Instant,
}

#[derive(Default)]
pub(super) struct Pages {
    next_id: u64,
    pub(super) taken: VecDeque<(u64, Arc<Snapshot>)>,
}

impl Pages {
    fn expire(&mut self, now: Instant) {
        self.taken
            .retain(|(_, s)| now.duration_since(s.taken) < PAGED_LIST_TTL);
    }
}

impl Store {
    pub(super) fn lock_pages(&self) -> MutexGuard<'_, Pages> {
        self.pages.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a list's items for its next pages (their JSON: a kept list outlives the
    /// versions it holds, and 5,000 nodes' heartbeats a minute would otherwise keep every
    /// old node parsed); returns the snapshot's id. The oldest snapshot makes room when
    /// [`PAGED_LISTS`] are kept.
    pub fn keep_snapshot(&self, snapshot: Arc<Snapshot>) -> u64 {
        let snapshot = Arc::new(Snapshot {
            kind: snapshot.kind,
            ns: snapshot.ns.clone(),
            rv: snapshot.rv,
            items: snapshot.items.iter().map(Stored::without_tree).collect(),
            taken: snapshot.taken,
        });
        let mut pages = self.lock_pages();
        pages.expire(Instant::now());
        pages.next_id += 1;
        let id = pages.next_id;
        while pages.taken.len() >= PAGED_LISTS {
            pages.taken.pop_front();
        }
        pages.taken.push_back((id, snapshot));
        id
    }

    /// A kept snapshot, unless it expired ([`PAGED_LIST_TTL`]), made room or was compacted.
    pub fn snapshot(&self, id: u64) -> Option<Arc<Snapshot>> {
        let mut pages = self.lock_pages();
        pages.expire(Instant::now());
        pages
            .taken
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, s)| s.clone())
    }
}
