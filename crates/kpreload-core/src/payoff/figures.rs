//! A pool's figures from the starts its window keeps: the hit rate, the seconds, each image
//! ranked by what it cost with its mark, and the suggestions.

use std::collections::{BTreeMap, HashSet};

use super::{Kept, Outcome, SUGGESTIONS, places};
use crate::reference::ImageRef;

/// How an image workloads use stands against the pool's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mark {
    /// In the list, and every start while it was found it there.
    Preloaded,
    /// In the list, yet a workload pulled it on a node where the preloader had pulled it
    /// before: evicted since (image GC, most likely).
    Evicted,
    /// In the list, but every start came before its preloader had pulled it on that node
    /// (just added, or a node that joined): nothing to judge it by yet.
    Preloading,
    /// Not in the list, but another version of it is.
    Drifted,
    NotPreloaded,
}

impl Mark {
    pub fn word(self) -> &'static str {
        match self {
            Mark::Preloaded => "preloaded",
            Mark::Evicted => "evicted",
            Mark::Preloading => "preloading",
            Mark::Drifted => "drifted",
            Mark::NotPreloaded => "not preloaded",
        }
    }
}

/// One image workloads started with on the pool's nodes.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ImageCost {
    /// Normalised.
    pub image: String,
    pub starts: usize,
    pub present: usize,
    pub pulled: usize,
    pub failed: usize,
    /// Pulls under way (or whose end was not seen yet).
    pub pulling: usize,
    /// The kubelet's pull time, summed.
    pub pull_seconds: f64,
    /// The wait behind other pulls, summed (`including waiting` less the pull).
    pub waiting_seconds: f64,
    /// The largest size the kubelet reported.
    pub bytes: Option<u64>,
    pub mark: Mark,
    /// Among the starts while the pool preloaded it: the share that found it present.
    pub hit_rate_preloaded: Option<f64>,
}

impl ImageCost {
    /// What pulls of it delayed pod starts by, in all.
    pub fn lost(&self) -> f64 {
        self.pull_seconds + self.waiting_seconds
    }
}

/// An image worth preloading: what it cost the pool, and whether it fits.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Suggestion {
    pub image: String,
    /// Its starts, and how many of them pulled it.
    pub starts: usize,
    pub pulled: usize,
    pub pull_seconds: f64,
    pub waiting_seconds: f64,
    pub bytes: Option<u64>,
    /// The least room before image GC among the pool's nodes read.
    pub headroom: Option<i64>,
    pub mark: Mark,
}

impl Suggestion {
    pub fn fits(&self) -> Option<bool> {
        Some(i64::try_from(self.bytes?).unwrap_or(i64::MAX) <= self.headroom?)
    }
}

/// One pool's payoff.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Figures {
    pub pool: String,
    /// Container starts seen (a container's image once per pod).
    pub starts: usize,
    pub present: usize,
    pub pulled: usize,
    pub failed: usize,
    /// Pulls under way (or whose end was not seen).
    pub pulling: usize,
    /// Present / (present + pulled + failed); None before any start ended.
    pub hit_rate: Option<f64>,
    pub pull_seconds: f64,
    pub waiting_seconds: f64,
    /// The first start counted (seconds since the epoch).
    pub since: Option<i64>,
    /// The window's length, seconds.
    pub horizon: i64,
    /// Most seconds lost first.
    pub images: Vec<ImageCost>,
    pub suggestions: Vec<Suggestion>,
}

impl Figures {
    /// The figures in a line: `hit rate 86 % (43 of 50 container starts found their image
    /// on the node); 3m04s pulling, 41s of it waiting behind other pulls`.
    pub fn sentence(&self) -> String {
        self.words(
            "container starts found their image on the node",
            "; ",
            " behind other pulls",
        )
    }

    /// The same in a short line, for a screen: `hit rate 67 % (4 of 6 starts) · 51s
    /// pulling, 31s of it waiting · 1 failed · 1 pulling now`.
    pub fn short(&self) -> String {
        let mut out = self.words("starts", " · ", "");
        if self.hit_rate.is_some() && self.pulling > 0 {
            out.push_str(&format!(" · {} pulling now", self.pulling));
        }
        out
    }

    fn words(&self, starts: &str, between: &str, behind: &str) -> String {
        let ended = self.present + self.pulled + self.failed;
        let Some(rate) = self.hit_rate else {
            return match self.pulling {
                0 => "no workload start seen yet on its nodes".to_string(),
                n => format!(
                    "{n} workload pull{} under way",
                    if n == 1 { "" } else { "s" }
                ),
            };
        };
        let mut out = format!(
            "hit rate {} ({} of {ended} {starts})",
            percent(rate),
            self.present
        );
        if self.pulled > 0 {
            out.push_str(&format!(
                "{between}{} pulling",
                crate::units::seconds(self.pull_seconds + self.waiting_seconds)
            ));
            if self.waiting_seconds >= 0.5 {
                out.push_str(&format!(
                    ", {} of it waiting{behind}",
                    crate::units::seconds(self.waiting_seconds)
                ));
            }
        }
        if self.failed > 0 {
            out.push_str(&format!("{between}{} failed", self.failed));
        }
        out
    }
}

/// `86 %`, `100 %`, `99.5 %`.
pub fn percent(rate: f64) -> String {
    let p = rate * 100.0;
    if p > 99.0 && p < 100.0 {
        // Never 100 % while one start missed: 99.96 reads 99.9.
        format!("{:.1} %", (p * 10.0).floor() / 10.0)
    } else if p > 0.0 && p < 1.0 {
        format!("{p:.1} %")
    } else if p > 0.0 && p < 100.0 {
        // 99.6 would round to a 100 it is not; the others as they round.
        format!("{:.0} %", p.round().min(99.0))
    } else {
        format!("{p:.0} %")
    }
}

pub(super) fn figures<'a>(
    pool: &str,
    kept: impl Iterator<Item = &'a Kept>,
    images: &[ImageRef],
    headroom: Option<i64>,
    horizon: i64,
) -> Figures {
    let preloaded = places(images);
    let repositories: HashSet<String> = images.iter().map(ImageRef::name).collect();
    let mut f = Figures {
        pool: pool.to_string(),
        horizon,
        ..Default::default()
    };
    struct Tally {
        cost: ImageCost,
        while_preloaded: (usize, usize),
    }
    let mut by_image: BTreeMap<&str, Tally> = BTreeMap::new();
    for k in kept {
        f.starts += 1;
        f.since = Some(f.since.map_or(k.at, |s| s.min(k.at)));
        let t = by_image.entry(&k.image).or_insert_with(|| Tally {
            cost: ImageCost {
                image: k.image.to_string(),
                starts: 0,
                present: 0,
                pulled: 0,
                failed: 0,
                pulling: 0,
                pull_seconds: 0.0,
                waiting_seconds: 0.0,
                bytes: None,
                mark: Mark::NotPreloaded,
                hit_rate_preloaded: None,
            },
            while_preloaded: (0, 0),
        });
        let c = &mut t.cost;
        c.starts += 1;
        let ended = !matches!(k.outcome, Outcome::Pulling);
        if k.preloaded && ended {
            t.while_preloaded.1 += 1;
        }
        match &k.outcome {
            Outcome::Present => {
                f.present += 1;
                c.present += 1;
                if k.preloaded {
                    t.while_preloaded.0 += 1;
                }
            }
            Outcome::Pulling => {
                f.pulling += 1;
                c.pulling += 1;
            }
            Outcome::Pulled {
                seconds,
                total,
                bytes,
            } => {
                f.pulled += 1;
                c.pulled += 1;
                f.pull_seconds += seconds;
                c.pull_seconds += seconds;
                f.waiting_seconds += total - seconds;
                c.waiting_seconds += total - seconds;
                c.bytes = c.bytes.max(*bytes);
            }
            Outcome::Failed => {
                f.failed += 1;
                c.failed += 1;
            }
        }
    }
    let ended = f.present + f.pulled + f.failed;
    f.hit_rate = (ended > 0).then(|| f.present as f64 / ended as f64);
    let mut costs: Vec<ImageCost> = by_image
        .into_values()
        .map(|t| {
            let mut c = t.cost;
            let (hits, of) = t.while_preloaded;
            c.hit_rate_preloaded = (of > 0).then(|| hits as f64 / of as f64);
            c.mark = if preloaded.contains_key(&c.image) {
                if hits < of {
                    Mark::Evicted
                } else if of == 0 && c.pulled + c.failed > 0 {
                    Mark::Preloading
                } else {
                    Mark::Preloaded
                }
            } else if ImageRef::parse(&c.image).is_ok_and(|r| repositories.contains(&r.name())) {
                Mark::Drifted
            } else {
                Mark::NotPreloaded
            };
            c
        })
        .collect();
    costs.sort_by(|a, b| {
        b.lost()
            .total_cmp(&a.lost())
            .then(b.pulled.cmp(&a.pulled))
            .then(b.starts.cmp(&a.starts))
            .then(a.image.cmp(&b.image))
    });
    f.suggestions = costs
        .iter()
        .filter(|c| matches!(c.mark, Mark::NotPreloaded | Mark::Drifted) && c.pulled > 0)
        .take(SUGGESTIONS)
        .map(|c| Suggestion {
            image: c.image.clone(),
            starts: c.starts,
            pulled: c.pulled,
            pull_seconds: c.pull_seconds,
            waiting_seconds: c.waiting_seconds,
            bytes: c.bytes,
            headroom,
            mark: c.mark,
        })
        .collect();
    f.images = costs;
    f
}
