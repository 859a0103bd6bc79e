//! Properties of the cleanup planner over generated nodes.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use crate::planner::{
    Decision, InventoryImage, NodeInput, NodePlan, Preload, Settings, Usage, plan_node, protects,
};
use crate::reference::{ImageName, ImageRef};
use crate::version::Tag;
use proptest::prelude::*;

const REPOS: &[&str] = &[
    "nginx",
    "docker.io/library/python",
    "registry.local:5000/team/a",
    "registry.local:5000/team/b",
    "registry.k8s.io/pause",
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
];
/// Tags that are not versions, drawn less often.
const WORDS: &[&str] = &["latest", "main", "a1b2c3d"];

fn tag() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        9 => (0..TAGS.len()).prop_map(|i| TAGS[i]),
        1 => (0..WORDS.len()).prop_map(|i| WORDS[i]),
    ]
}

fn repo() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        8 => (0..REPOS.len() - 1).prop_map(|i| REPOS[i]),
        1 => Just(REPOS[REPOS.len() - 1]),
    ]
}

fn image() -> impl Strategy<Value = InventoryImage> {
    (
        repo(),
        prop_oneof![1 => proptest::collection::vec(tag(), 0..1), 8 => proptest::collection::vec(tag(), 1..2), 1 => proptest::collection::vec(tag(), 2..3)],
        proptest::bool::weighted(0.3),
        proptest::option::of(0u8..40),
        1u64..1_000,
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(repo, tags, digest, id, size, pinned)| {
            let mut refs: Vec<String> = tags
                .iter()
                .map(|t| format!("{repo}:{t}"))
                .collect();
            if digest || refs.is_empty() {
                refs.push(format!("{repo}@sha256:{size:064x}"));
            }
            InventoryImage {
                id: id.map(|i| format!("sha256:{:064x}", i)),
                refs,
                size,
                pinned,
                created: None,
            }
        })
}

fn node() -> impl Strategy<Value = (NodeInput, usize)> {
    (
        proptest::collection::vec(image(), 0..24),
        proptest::collection::vec((0..REPOS.len(), 0..TAGS.len()), 0..3),
        proptest::collection::vec((0..REPOS.len(), 0..TAGS.len()), 0..3),
        1usize..4,
    )
        .prop_map(|(images, used, preloaded, keep)| {
            let in_use = used
                .iter()
                .enumerate()
                .map(|(i, (r, t))| Usage {
                    image: format!("{}:{}", REPOS[*r], TAGS[*t]),
                    by: format!("default/pod-{i}"),
                })
                .collect();
            let preloaded = preloaded
                .iter()
                .map(|(r, t)| Preload {
                    image: format!("{}:{}", REPOS[*r], TAGS[*t]),
                    pool: "web".into(),
                })
                .collect();
            (
                NodeInput {
                    node: "n".into(),
                    pool: Some("web".into()),
                    images,
                    in_use,
                    preloaded,
                },
                keep,
            )
        })
}

fn settings(keep: usize) -> Settings {
    Settings {
        keep,
        ..Settings::default()
    }
}

fn normalized(text: &str) -> String {
    ImageName::parse(text).unwrap().normalized()
}

/// Tagged refs of a planned image, parsed.
fn tagged(refs: &[String]) -> Vec<ImageRef> {
    refs.iter()
        .filter_map(|r| ImageRef::parse(r).ok())
        .filter(|r| r.tag().is_some())
        .collect()
}

fn line_key(r: &ImageRef) -> Option<(String, String, String)> {
    match Tag::parse(r.tag()?) {
        Tag::Version(v) => Some((r.name(), v.flavour.clone(), v.scheme.to_string())),
        Tag::NotVersion => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn never_removes_what_must_stay((input, keep) in node()) {
        let plan = plan_node(&input, &settings(keep));
        let used: BTreeSet<String> = input.in_use.iter().map(|u| normalized(&u.image)).collect();
        let preloaded: BTreeSet<String> =
            input.preloaded.iter().map(|p| normalized(&p.image)).collect();
        for image in plan.removals() {
            for r in &image.refs {
                prop_assert!(!used.contains(r), "removed {r}, which is in use");
                prop_assert!(!preloaded.contains(r), "removed {r}, which is preloaded");
                if let Ok(parsed) = ImageRef::parse(r) {
                    prop_assert!(!protects("registry.k8s.io/*", &parsed), "removed protected {r}");
                }
            }
        }
        for original in input.images.iter().filter(|i| i.pinned) {
            let first = normalized(&original.refs[0]);
            let planned = plan.images.iter().find(|i| i.refs.contains(&first)).unwrap();
            prop_assert_eq!(planned.decision, Decision::Keep);
        }
    }

    #[test]
    fn every_removal_has_n_newer_images_in_each_of_its_lines((input, keep) in node()) {
        let plan = plan_node(&input, &settings(keep));
        for removed in plan.removals() {
            let mine = tagged(&removed.refs);
            prop_assert!(!mine.is_empty());
            for r in &mine {
                let key = line_key(r);
                prop_assert!(key.is_some(), "removed an image with a tag that is not a version: {r}");
                let Tag::Version(v) = Tag::parse(r.tag().unwrap()) else { unreachable!() };
                let newer = plan
                    .images
                    .iter()
                    .filter(|other| other.refs != removed.refs)
                    .filter(|other| {
                        tagged(&other.refs).iter().any(|o| {
                            line_key(o) == key
                                && matches!(Tag::parse(o.tag().unwrap()), Tag::Version(ov)
                                    if ov.cmp_version(&v) != Ordering::Less)
                        })
                    })
                    .count();
                prop_assert!(newer >= keep, "{r} removed with only {newer} newer images kept around it");
            }
        }
    }

    #[test]
    fn the_plan_does_not_depend_on_input_order((input, keep) in node(), seed in any::<u64>()) {
        let plan = plan_node(&input, &settings(keep));
        let mut shuffled = input.clone();
        shuffle(&mut shuffled.images, seed);
        shuffle(&mut shuffled.in_use, seed.rotate_left(7));
        shuffle(&mut shuffled.preloaded, seed.rotate_left(13));
        for image in &mut shuffled.images {
            shuffle(&mut image.refs, seed.rotate_left(3));
        }
        prop_assert_eq!(plan, plan_node(&shuffled, &settings(keep)));
    }

    #[test]
    fn planning_again_after_removal_removes_nothing((input, keep) in node()) {
        let plan = plan_node(&input, &settings(keep));
        let gone: BTreeSet<&String> = plan.removals().flat_map(|i| &i.refs).collect();
        let mut after = input.clone();
        after.images.retain(|i| !i.refs.iter().any(|r| gone.contains(&normalized(r))));
        let again = plan_node(&after, &settings(keep));
        prop_assert_eq!(again.removals().count(), 0, "{:?}", again);
    }

    #[test]
    fn bytes_add_up((input, keep) in node()) {
        let plan: NodePlan = plan_node(&input, &settings(keep));
        prop_assert_eq!(plan.remove_bytes, plan.removals().map(|i| i.size).sum::<u64>());
        for image in &plan.images {
            prop_assert!(!image.reason.to_string().is_empty());
        }
    }
}

/// A small deterministic shuffle, so a failing case replays exactly.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

#[test]
fn generated_nodes_do_exercise_removals() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = node();
    let with_removals = (0..200)
        .filter(|_| {
            let (input, keep) = strategy.new_tree(&mut runner).unwrap().current();
            plan_node(&input, &settings(keep)).removals().count() > 0
        })
        .count();
    // Otherwise the properties above would hold vacuously.
    assert!(
        with_removals >= 40,
        "only {with_removals} of 200 generated nodes had removals"
    );
}
