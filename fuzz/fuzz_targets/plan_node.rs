//! The cleanup planner on one node, from arbitrary images, names, pins, uses and preloads.
//! It never removes an image the input marks in use, preloaded, pinned or protected, under
//! any of its names or in any spelling of them; it loses no image; its total is its removals'.
#![no_main]

use arbitrary::Arbitrary;
use kpreload_core::planner::{
    Decision, InventoryImage, NodeInput, Preload, Settings, Usage, plan_node,
};
use kpreload_core::reference::ImageRef;
use libfuzzer_sys::fuzz_target;

const REPOS: &[&str] = &[
    "nginx",
    "docker.io/library/nginx",
    "library/python",
    "registry.local:5000/team/a",
    "registry.local:5000/team",
    "127.0.0.1:5000/a",
    "registry.k8s.io/pause",
    "ghcr.io/org/tool",
];
const TAGS: &[&str] = &[
    "1.0",
    "1.1",
    "1.2",
    "1.9",
    "1.10",
    "v1.2",
    "2.0",
    "2.0-slim",
    "2.1-slim",
    "3-alpine",
    "1.0.0-rc1",
    "1.0.0",
    "20240101",
    "20240301",
    "latest",
    "main",
    "a1b2c3d",
];

#[derive(Arbitrary, Debug)]
enum Tag {
    Known(u8),
    Free(String),
}

#[derive(Arbitrary, Debug)]
struct Image {
    repo: u8,
    tags: Vec<Tag>,
    digest: Option<u8>,
    id: Option<u8>,
    size: u32,
    pinned: bool,
    created: Option<u16>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    images: Vec<Image>,
    /// (image, which of its names, written short)
    in_use: Vec<(u8, u8, bool)>,
    preloaded: Vec<(u8, u8, bool)>,
    keep: u8,
    min_age: Option<u16>,
    now: u16,
    group_flavours: bool,
}

fn hex(n: u8, salt: char) -> String {
    format!("{salt}{:063x}", n)
}

fn names(i: &Image) -> Vec<String> {
    let repo = REPOS[i.repo as usize % REPOS.len()];
    let mut out: Vec<String> = i
        .tags
        .iter()
        .map(|t| match t {
            Tag::Known(k) => format!("{repo}:{}", TAGS[*k as usize % TAGS.len()]),
            Tag::Free(s) => format!("{repo}:{s}"),
        })
        .collect();
    if let Some(d) = i.digest {
        out.push(format!("{repo}@sha256:{}", hex(d, 'd')));
    }
    out
}

fn id(i: &Image) -> Option<String> {
    i.id.map(|n| format!("sha256:{}", hex(n, 'e')))
}

/// A name as a pod spec might write it: as the runtime lists it, or in its short form.
fn spelled(name: &str, short: bool) -> String {
    match ImageRef::parse(name) {
        Ok(r) if short => r.familiar(),
        _ => name.to_string(),
    }
}

fn normal(name: &str) -> String {
    ImageRef::parse(name).map_or_else(|_| name.to_string(), |r| r.normalized())
}

fuzz_target!(|input: Input| {
    if input.images.len() > 40 {
        return;
    }
    let images: Vec<InventoryImage> = input
        .images
        .iter()
        .map(|i| InventoryImage {
            id: id(i),
            refs: names(i).into_iter().chain(id(i)).collect(),
            size: u64::from(i.size),
            pinned: i.pinned,
            created: i.created.map(i64::from),
        })
        .collect();
    if images.is_empty() {
        return;
    }
    // (image index, the name the node input uses)
    let pick = |(image, which, short): &(u8, u8, bool)| -> Option<(usize, String)> {
        let at = *image as usize % images.len();
        let all = &images[at].refs;
        (!all.is_empty()).then(|| (at, spelled(&all[*which as usize % all.len()], *short)))
    };
    let used: Vec<(usize, String)> = input.in_use.iter().filter_map(pick).collect();
    let preloaded: Vec<(usize, String)> = input
        .preloaded
        .iter()
        .filter_map(pick)
        .filter(|(_, n)| !n.starts_with("sha256:"))
        .collect();
    let node = NodeInput {
        node: "n1".into(),
        pool: Some("p".into()),
        images: images.clone(),
        in_use: used
            .iter()
            .map(|(_, n)| Usage {
                image: n.clone(),
                by: "default/app".into(),
            })
            .collect(),
        preloaded: preloaded
            .iter()
            .map(|(_, n)| Preload {
                image: n.clone(),
                pool: "p".into(),
            })
            .collect(),
    };
    let settings = Settings {
        keep: input.keep as usize % 5,
        min_age_secs: input.min_age.map(i64::from),
        now: i64::from(input.now),
        group_flavours: input.group_flavours,
        ..Settings::default()
    };
    let plan = plan_node(&node, &settings);

    // Which planned images stand for an input image: the same ID, or a name in common.
    let stands_for = |p: &kpreload_core::planner::ImagePlan, i: &InventoryImage| {
        (p.id.is_some() && p.id == i.id)
            || i.refs
                .iter()
                .any(|r| p.refs.contains(&normal(r)) || p.refs.contains(r))
    };
    for (at, i) in images.iter().enumerate() {
        let plans: Vec<_> = plan.images.iter().filter(|p| stands_for(p, i)).collect();
        assert!(
            !plans.is_empty() || i.refs.is_empty(),
            "{i:?} lost from {plan:#?}"
        );
        let why = if i.pinned {
            Some("pinned")
        } else if used.iter().any(|(u, _)| *u == at) {
            Some("in use")
        } else if preloaded.iter().any(|(u, _)| *u == at) {
            Some("preloaded")
        } else if i
            .refs
            .iter()
            .any(|r| normal(r).starts_with("registry.k8s.io/"))
        {
            Some("protected")
        } else {
            None
        };
        if let Some(why) = why {
            for p in plans {
                assert_eq!(
                    p.decision,
                    Decision::Keep,
                    "{why} {i:?} removed: {p:#?}\n{node:#?}"
                );
            }
        }
    }
    let total: u64 = plan.removals().map(|p| p.size).sum();
    assert_eq!(plan.remove_bytes, total);
});
