//! The first line of the pools, pool and node screens: their main question answered (how
//! many nodes are not warm yet and why; how long until the pool is warm; what the node
//! waits for). Never "warm" while anything it counts is failing or unknown.

use crate::core::progress::{ImageState, NodeProgress, PoolProgress};
use crate::core::units;

use super::pool::matrix::short_reason;

/// Where one node stands for one pool.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Standing {
    /// Every image is on the node and the preloader pod runs.
    Warm,
    /// A pull fails, or the preloader pod cannot run: what, in a few words.
    Failing(String),
    Pulling,
    /// Nothing pulls and nothing fails: what it waits for.
    Waiting(String),
}

pub(crate) fn standing(n: &NodeProgress) -> Standing {
    if let Some(trouble) = &n.trouble {
        return Standing::Failing(format!(
            "its preloader pod does not run: {}",
            trouble.summary()
        ));
    }
    if let Some((image, reason)) = n.images.iter().find_map(|i| match &i.state {
        ImageState::Failed { reason, .. } => Some((&i.image, reason)),
        _ => None,
    }) {
        return Standing::Failing(format!("{image}: {}", short_reason(reason)));
    }
    if n.ready() {
        return Standing::Warm;
    }
    if n.pulling() {
        return Standing::Pulling;
    }
    Standing::Waiting(if n.pod.is_none() {
        "no preloader pod yet".into()
    } else if n.images.iter().all(|i| i.state.word() != "queued") {
        "its preloader pod to run".into()
    } else {
        "its preloader pod to start".into()
    })
}

/// A pool's nodes counted by where they stand, and the first failing one.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Counts {
    pub nodes: usize,
    pub warm: usize,
    pub failing: usize,
    pub pulling: usize,
    pub waiting: usize,
    /// The first failing node and what fails there.
    pub first_failing: Option<(String, String)>,
}

impl Counts {
    pub(crate) fn of(pool: &PoolProgress) -> Counts {
        let mut c = Counts {
            nodes: pool.nodes.len(),
            ..Counts::default()
        };
        for n in &pool.nodes {
            match standing(n) {
                Standing::Warm => c.warm += 1,
                Standing::Pulling => c.pulling += 1,
                Standing::Waiting(_) => c.waiting += 1,
                Standing::Failing(what) => {
                    c.failing += 1;
                    if c.first_failing.is_none() {
                        c.first_failing = Some((n.node.clone(), what));
                    }
                }
            }
        }
        c
    }

    fn not_warm(&self) -> usize {
        self.nodes - self.warm
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "node" } else { "nodes" }
}

fn nodes(n: usize) -> String {
    format!("{n} node{}", if n == 1 { "" } else { "s" })
}

/// The pool screen's first line: how long until the pool is warm, or what stops it.
pub(crate) fn pool(pool: &PoolProgress, c: &Counts) -> (String, Tone) {
    let name = &pool.pool;
    if let Some(problem) = &pool.problem {
        let clause = problem.split(['.', ';']).next().unwrap_or(problem);
        return (
            format!("pool {name}: not known to be warm: {clause}"),
            Tone::Fail,
        );
    }
    if c.nodes == 0 {
        return (
            format!(
                "pool {name}: no node to warm: its preloader runs on none (its node selector, affinity or tolerations match no node)"
            ),
            Tone::Busy,
        );
    }
    if c.failing > 0 {
        let (node, what) = c.first_failing.clone().unwrap_or_default();
        let others = c.not_warm() - c.failing;
        let rest = match (others, pool.eta_seconds) {
            (0, _) => String::new(),
            (n, Some(s)) if s > 0.0 => {
                format!(
                    "; {n} other {} warm in {}",
                    plural(n),
                    units::estimate(Some(s))
                )
            }
            (n, _) => format!("; {n} other {} still to go", plural(n)),
        };
        let more = if c.failing > 1 {
            format!(" and {} more failing", nodes(c.failing - 1))
        } else {
            String::new()
        };
        return (
            format!("pool {name}: not warm while {node} fails ({what}){more}{rest}"),
            Tone::Fail,
        );
    }
    if c.not_warm() == 0 {
        if let Some(warning) = &pool.warning {
            return (
                format!("pool {name}: every node has its images, but {warning}"),
                Tone::Busy,
            );
        }
        return (
            format!(
                "pool {name}: warm: all {} images on {}",
                pool.images.len(),
                if c.nodes == 1 {
                    "its node".to_string()
                } else {
                    format!("all {} nodes", c.nodes)
                }
            ),
            Tone::Ok,
        );
    }
    let when = match pool.eta_seconds {
        Some(s) if s > 0.0 => format!("warm in {}", units::estimate(Some(s))),
        _ => "no estimate yet of when it is warm".to_string(),
    };
    let slowest = pool
        .slowest
        .as_deref()
        .map_or(String::new(), |s| format!(", slowest {s}"));
    let mut how = Vec::new();
    if c.pulling > 0 {
        how.push(format!("{} pulling", c.pulling));
    }
    if c.waiting > 0 {
        how.push(format!("{} waiting for a preloader pod", c.waiting));
    }
    let how = if how.is_empty() {
        String::new()
    } else {
        format!(" ({})", how.join(", "))
    };
    (
        format!(
            "pool {name}: {when}: {} of {} to go{how}{slowest}",
            c.not_warm(),
            nodes(c.nodes),
        ),
        Tone::Busy,
    )
}

/// The pools screen's first line: how many nodes are not warm yet, and why.
pub(crate) fn pools<'a>(
    pools: impl Iterator<Item = (&'a PoolProgress, &'a Counts)>,
) -> (String, Tone) {
    let mut total = Counts::default();
    let mut unreadable: Vec<&str> = Vec::new();
    let mut eta: Option<f64> = None;
    let mut unknown = false;
    let mut count = 0;
    for (p, c) in pools {
        count += 1;
        if p.problem.is_some() {
            unreadable.push(&p.pool);
            continue;
        }
        total.nodes += c.nodes;
        total.warm += c.warm;
        total.failing += c.failing;
        total.pulling += c.pulling;
        total.waiting += c.waiting;
        if total.first_failing.is_none()
            && let Some((node, what)) = &c.first_failing
        {
            total.first_failing = Some((node.clone(), format!("{}: {what}", p.pool)));
        }
        // The rest's estimate is the slowest pool's; one pool with none leaves none.
        if c.not_warm() > c.failing {
            match p.eta_seconds {
                Some(s) => eta = eta.map(|e| e.max(s)),
                None => unknown = true,
            }
            if eta.is_none() && !unknown {
                eta = p.eta_seconds;
            }
        }
    }
    if count == 0 {
        return (
            "no preloaders yet: `kpreload render` makes them from a pools file, or e on a node pool writes one".into(),
            Tone::Dim,
        );
    }
    let unread = if unreadable.is_empty() {
        String::new()
    } else {
        format!(
            "; the pool{} {} cannot be read",
            if unreadable.len() == 1 { "" } else { "s" },
            unreadable.join(", ")
        )
    };
    let not_warm = total.not_warm();
    if not_warm == 0 {
        let tone = if unreadable.is_empty() {
            Tone::Ok
        } else {
            Tone::Fail
        };
        return (
            format!(
                "{} warm across {count} pool{}{unread}",
                if total.nodes == 1 {
                    "the 1 node".to_string()
                } else {
                    format!("all {} nodes", total.nodes)
                },
                if count == 1 { "" } else { "s" }
            ),
            tone,
        );
    }
    let mut why = Vec::new();
    if total.failing > 0 {
        let (node, what) = total.first_failing.clone().unwrap_or_default();
        why.push(format!("{} failing ({node}, {what})", total.failing));
    }
    if total.pulling > 0 {
        why.push(format!("{} pulling", total.pulling));
    }
    if total.waiting > 0 {
        why.push(format!("{} waiting for a preloader pod", total.waiting));
    }
    let eta = match eta.filter(|_| !unknown) {
        Some(s) if s > 0.0 && total.pulling + total.waiting > 0 => {
            format!(" · the rest warm in {}", units::estimate(Some(s)))
        }
        _ if unknown && total.pulling + total.waiting > 0 => {
            " · no estimate yet of when the rest is warm".to_string()
        }
        _ => String::new(),
    };
    let tone = if total.failing > 0 || !unreadable.is_empty() {
        Tone::Fail
    } else {
        Tone::Busy
    };
    (
        format!(
            "{not_warm} of {} not warm yet: {}{eta}{unread}",
            nodes(total.nodes),
            why.join(", ")
        ),
        tone,
    )
}

/// The node screen's first line: what the node waits for, for each pool it is in.
pub(crate) fn node(
    name: &str,
    pools: &[(&PoolProgress, &NodeProgress)],
    now: jiff::Timestamp,
) -> (String, Tone) {
    if pools.is_empty() {
        return (
            format!("node {name}: no preloader serves it; nothing is preloaded here"),
            Tone::Dim,
        );
    }
    let mut parts = Vec::new();
    let mut tone = Tone::Ok;
    for (p, n) in pools {
        let prefix = if pools.len() > 1 {
            format!("{}: ", p.pool)
        } else {
            String::new()
        };
        let queued = n
            .images
            .iter()
            .filter(|i| i.state.word() == "queued")
            .count();
        let behind = match queued {
            0 => String::new(),
            q => format!(", then {q} more"),
        };
        let text = match standing(n) {
            Standing::Warm => format!(
                "warm: all {} of {}'s images are here",
                n.images.len(),
                p.pool
            ),
            Standing::Failing(what) => {
                tone = Tone::Fail;
                let retry = n
                    .images
                    .iter()
                    .find_map(|i| match &i.state {
                        ImageState::Failed {
                            next_retry: Some(r),
                            ..
                        } => {
                            let s = r.duration_since(now).as_secs_f64();
                            Some(if s > 0.0 {
                                format!(", the kubelet retries in ~{}", units::seconds(s))
                            } else {
                                ", the kubelet retries now".to_string()
                            })
                        }
                        _ => None,
                    })
                    .unwrap_or_default();
                format!(
                    "stuck: {what}{retry}{}",
                    if queued > 0 {
                        format!("; {queued} queued behind it")
                    } else {
                        String::new()
                    }
                )
            }
            Standing::Pulling => {
                if tone == Tone::Ok {
                    tone = Tone::Busy;
                }
                let pulls: Vec<String> = n
                    .images
                    .iter()
                    .filter_map(|i| match &i.state {
                        ImageState::Pulling { bytes: Some(b), .. } => {
                            let amount = match b.total {
                                Some(total) => units::fraction(b.done, total),
                                None => units::short_bytes(b.done),
                            };
                            let approx = if b.estimated { "~" } else { "" };
                            let eta = b.eta_seconds().map_or(String::new(), |s| {
                                format!(", ETA {}", units::estimate(Some(s)))
                            });
                            Some(format!("{} ({approx}{amount}{eta})", i.image))
                        }
                        ImageState::Pulling { since, .. } => Some(match since {
                            Some(s) => format!(
                                "{} ({} so far)",
                                i.image,
                                units::seconds(now.duration_since(*s).as_secs_f64())
                            ),
                            None => i.image.clone(),
                        }),
                        _ => None,
                    })
                    .collect();
                format!("waiting for {}{behind}", pulls.join(" and "))
            }
            Standing::Waiting(what) => {
                if tone == Tone::Ok {
                    tone = Tone::Busy;
                }
                format!(
                    "waiting for {what}{}",
                    if queued > 0 {
                        format!(" ({queued} images queued)")
                    } else {
                        String::new()
                    }
                )
            }
        };
        parts.push(format!("{prefix}{text}"));
    }
    (format!("node {name}: {}", parts.join(" · ")), tone)
}

/// The colour an answer is told in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tone {
    Ok,
    Busy,
    Fail,
    Dim,
}

impl Tone {
    pub(crate) fn style(self, t: &crate::tui::config::Theme) -> ratatui::style::Style {
        let colour = match self {
            Tone::Ok => t.ok,
            Tone::Busy => t.busy,
            Tone::Fail => t.fail,
            Tone::Dim => t.dim,
        };
        ratatui::style::Style::new()
            .fg(colour)
            .add_modifier(ratatui::style::Modifier::BOLD)
    }
}
