use super::*;

fn img(refs: &[&str], size: u64) -> InventoryImage {
    InventoryImage {
        refs: refs.iter().map(|s| s.to_string()).collect(),
        size,
        ..Default::default()
    }
}

fn node(images: Vec<InventoryImage>) -> NodeInput {
    NodeInput {
        node: "web-1".into(),
        pool: Some("web".into()),
        images,
        ..Default::default()
    }
}

fn removed(plan: &NodePlan) -> Vec<String> {
    plan.removals().map(|i| i.refs[0].clone()).collect()
}

fn reason_of(plan: &NodePlan, r: &str) -> String {
    let want = ImageName::parse(r).unwrap().normalized();
    let i = plan.images.iter().find(|i| i.refs.contains(&want)).unwrap();
    format!("{:?}: {}", i.decision, i.reason).to_lowercase()
}

#[test]
fn the_articles_cleanup_example() {
    let tags = [
        ("nginx", &["1.23", "1.24", "1.25", "1.26"][..]),
        ("python", &["3.12", "3.13", "3.14"][..]),
        ("golang", &["1.24", "1.25"][..]),
        ("the-app", &["v1.0", "v1.1", "v1.2", "v1.3"][..]),
    ];
    let images = tags
        .iter()
        .flat_map(|(repo, tags)| {
            tags.iter()
                .map(move |t| img(&[&format!("{repo}:{t}")], 100))
        })
        .collect();
    let plan = plan_node(&node(images), &Settings::default());
    assert_eq!(
        removed(&plan),
        [
            "docker.io/library/nginx:1.23",
            "docker.io/library/nginx:1.24",
            "docker.io/library/python:3.12",
            "docker.io/library/the-app:v1.0",
            "docker.io/library/the-app:v1.1",
        ]
    );
    assert_eq!(plan.remove_bytes, 500);
    assert_eq!(
        reason_of(&plan, "nginx:1.23"),
        "remove: older than the newest 2"
    );
    assert_eq!(reason_of(&plan, "nginx:1.26"), "keep: newest 2");
    assert_eq!(reason_of(&plan, "golang:1.24"), "keep: newest 2");
}

#[test]
fn versions_are_not_sorted_as_text() {
    let images = ["1.0", "1.1", "1.2", "1.10"]
        .iter()
        .map(|t| img(&[&format!("the-app:{t}")], 1))
        .collect();
    let plan = plan_node(&node(images), &Settings::default());
    assert_eq!(
        removed(&plan),
        [
            "docker.io/library/the-app:1.0",
            "docker.io/library/the-app:1.1"
        ]
    );
}

#[test]
fn a_registry_port_is_part_of_the_repository() {
    let images = vec![
        img(&["registry.local:5000/a:1"], 1),
        img(&["registry.local:5000/a:2"], 1),
        img(&["registry.local:5000/b:1"], 1),
        img(&["registry.local:5000/b:2"], 1),
    ];
    let plan = plan_node(&node(images), &Settings::default());
    assert!(removed(&plan).is_empty(), "{:?}", removed(&plan));
}

#[test]
fn tag_digest_and_id_are_one_image() {
    let id = format!("sha256:{}", "1".repeat(64));
    let digest = format!("sha256:{}", "2".repeat(64));
    let old = InventoryImage {
        id: Some(id.clone()),
        refs: vec!["nginx:1.23".into(), format!("nginx@{digest}"), id.clone()],
        size: 10,
        ..Default::default()
    };
    let images = vec![old, img(&["nginx:1.24"], 1), img(&["nginx:1.25"], 1)];
    let plan = plan_node(&node(images), &Settings::default());
    let gone: Vec<_> = plan.removals().collect();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].refs.len(), 3);
    assert_eq!(gone[0].id.as_deref(), Some(id.as_str()));
    assert_eq!(plan.remove_bytes, 10);
}

#[test]
fn tag_and_digest_reported_apart_are_still_one_image() {
    let id = format!("sha256:{}", "3".repeat(64));
    let a = InventoryImage {
        id: Some(id.clone()),
        refs: vec!["nginx:1.25".into()],
        size: 5,
        ..Default::default()
    };
    let b = InventoryImage {
        id: Some(id),
        refs: vec![format!("nginx@sha256:{}", "4".repeat(64))],
        size: 5,
        ..Default::default()
    };
    let plan = plan_node(
        &node(vec![a, b, img(&["nginx:1.24"], 1)]),
        &Settings::default(),
    );
    assert_eq!(plan.images.len(), 2);
    assert!(removed(&plan).is_empty());
}

#[test]
fn in_use_preloaded_pinned_and_protected_are_kept() {
    let mut pause = img(&["registry.k8s.io/pause:3.8"], 1);
    pause.pinned = true;
    let images = vec![
        img(&["nginx:1.20"], 1),
        img(&["nginx:1.21"], 1),
        img(&["nginx:1.22"], 1),
        img(&["nginx:1.23"], 1),
        img(&["nginx:1.24"], 1),
        img(&["registry.k8s.io/kube-proxy:v1.30.0"], 1),
        img(&["registry.k8s.io/kube-proxy:v1.31.0"], 1),
        img(&["registry.k8s.io/kube-proxy:v1.32.0"], 1),
        pause,
        img(&["registry.k8s.io/pause:3.9"], 1),
        img(&["registry.k8s.io/pause:3.10"], 1),
    ];
    let mut input = node(images);
    input.in_use = vec![Usage {
        image: "docker.io/library/nginx:1.20".into(),
        by: "default/api-0".into(),
    }];
    input.preloaded = vec![Preload {
        image: "nginx:1.21".into(),
        pool: "web".into(),
    }];
    let plan = plan_node(&input, &Settings::default());
    assert_eq!(removed(&plan), ["docker.io/library/nginx:1.22"]);
    assert_eq!(
        reason_of(&plan, "nginx:1.20"),
        "keep: in use by default/api-0"
    );
    assert_eq!(
        reason_of(&plan, "nginx:1.21"),
        "keep: preloaded by pool web"
    );
    assert_eq!(
        reason_of(&plan, "registry.k8s.io/pause:3.8"),
        "keep: pinned"
    );
    assert_eq!(
        reason_of(&plan, "registry.k8s.io/kube-proxy:v1.30.0"),
        "keep: protected by pattern registry.k8s.io/*"
    );
}

#[test]
fn a_reference_with_tag_and_digest_matches_either() {
    let d = format!("sha256:{}", "7".repeat(64));
    let images = vec![
        img(&["nginx:1.23", &format!("nginx@{d}")], 1),
        img(&["nginx:1.24"], 1),
        img(&["nginx:1.25"], 1),
    ];
    let mut input = node(images.clone());
    input.in_use = vec![Usage {
        image: format!("nginx:1.23@{d}"),
        by: "default/web-0".into(),
    }];
    assert!(removed(&plan_node(&input, &Settings::default())).is_empty());
    let mut input = node(images);
    input.preloaded = vec![Preload {
        image: format!("nginx:1.23@{d}"),
        pool: "web".into(),
    }];
    assert!(removed(&plan_node(&input, &Settings::default())).is_empty());
    // And an image listed with both, used by its tag alone.
    let mut input = node(vec![
        img(&[&format!("nginx:1.23@{d}")], 1),
        img(&["nginx:1.24"], 1),
        img(&["nginx:1.25"], 1),
    ]);
    input.in_use = vec![Usage {
        image: "nginx:1.23".into(),
        by: "default/web-0".into(),
    }];
    assert!(removed(&plan_node(&input, &Settings::default())).is_empty());
}

#[test]
fn every_id_of_a_grouped_image_counts_for_use() {
    let (a, b) = (
        format!("sha256:{}", "a".repeat(64)),
        format!("sha256:{}", "b".repeat(64)),
    );
    let first = InventoryImage {
        id: Some(a),
        refs: vec!["app:1".into()],
        ..Default::default()
    };
    let second = InventoryImage {
        id: Some(b.clone()),
        refs: vec!["app:1".into()],
        ..Default::default()
    };
    let mut input = node(vec![first, second, img(&["app:2"], 1), img(&["app:3"], 1)]);
    input.in_use = vec![Usage {
        image: b,
        by: "default/x".into(),
    }];
    assert!(removed(&plan_node(&input, &Settings::default())).is_empty());
}

#[test]
fn an_unreadable_usage_keeps_what_would_go() {
    let mut input = node(vec![
        img(&["app:1"], 1),
        img(&["app:2"], 1),
        img(&["app:3"], 1),
    ]);
    input.in_use = vec![Usage {
        image: "App:1".into(),
        by: "default/typo".into(),
    }];
    let plan = plan_node(&input, &Settings::default());
    assert!(removed(&plan).is_empty());
    assert_eq!(
        reason_of(&plan, "app:1"),
        "keep: default/typo uses \"app:1\", which could not be read, and could mean this image"
            .replace("\"app:1\"", "\"App:1\"")
            .to_lowercase()
    );
}

#[test]
fn keep_zero_still_keeps_the_newest() {
    let input = node(vec![img(&["app:1"], 1), img(&["app:2"], 1)]);
    let settings = Settings {
        keep: 0,
        ..Settings::default()
    };
    assert_eq!(
        removed(&plan_node(&input, &settings)),
        ["docker.io/library/app:1"]
    );
}

#[test]
fn in_use_by_image_id() {
    let id = format!("sha256:{}", "5".repeat(64));
    let old = InventoryImage {
        id: Some(id.clone()),
        refs: vec!["nginx:1.1".into()],
        ..Default::default()
    };
    let mut input = node(vec![old, img(&["nginx:1.2"], 1), img(&["nginx:1.3"], 1)]);
    input.in_use = vec![Usage {
        image: id,
        by: "kube-system/x".into(),
    }];
    let plan = plan_node(&input, &Settings::default());
    assert!(removed(&plan).is_empty());
}

#[test]
fn words_hashes_and_digest_only_images_are_kept() {
    let images = vec![
        img(&["app:latest"], 1),
        img(&["app:0d5f3c1e"], 1),
        img(&[&format!("app@sha256:{}", "6".repeat(64))], 1),
        img(&["app:1"], 1),
        img(&["app:2"], 1),
        img(&["app:3"], 1),
    ];
    let plan = plan_node(&node(images), &Settings::default());
    assert_eq!(removed(&plan), ["docker.io/library/app:1"]);
    assert_eq!(
        reason_of(&plan, "app:latest"),
        "keep: not a version tag (latest)"
    );
    assert!(
        reason_of(&plan, &format!("app@sha256:{}", "6".repeat(64))).ends_with("no tag to order by")
    );
}

#[test]
fn an_image_with_a_newer_tag_elsewhere_is_kept() {
    // One image tagged 1.0 in one line and newest in another.
    let images = vec![
        img(&["app:1.0", "mirror.local/app:9.0"], 1),
        img(&["app:2.0"], 1),
        img(&["app:3.0"], 1),
    ];
    let plan = plan_node(&node(images), &Settings::default());
    assert!(removed(&plan).is_empty());
}

#[test]
fn flavours_are_separate_lines_unless_grouping_is_off() {
    let images = vec![
        img(&["python:3.12-slim"], 1),
        img(&["python:3.13-slim"], 1),
        img(&["python:3.14-alpine"], 1),
    ];
    let plan = plan_node(&node(images.clone()), &Settings::default());
    assert!(removed(&plan).is_empty());
    let settings = Settings {
        group_flavours: false,
        ..Settings::default()
    };
    let plan = plan_node(&node(images), &settings);
    assert_eq!(removed(&plan), ["docker.io/library/python:3.12-slim"]);
}

#[test]
fn minimum_age() {
    let mut old = img(&["app:1"], 1);
    old.created = Some(1_000);
    let mut young = img(&["app:2"], 1);
    young.created = Some(99_000);
    let unknown = img(&["app:3"], 1);
    let images = vec![old, young, unknown, img(&["app:8"], 1), img(&["app:9"], 1)];
    let settings = Settings {
        min_age_secs: Some(86_400),
        now: 100_000,
        ..Settings::default()
    };
    let plan = plan_node(&node(images), &settings);
    assert_eq!(removed(&plan), ["docker.io/library/app:1"]);
    assert_eq!(
        reason_of(&plan, "app:2"),
        "keep: younger than the minimum age of 1d"
    );
    assert_eq!(
        reason_of(&plan, "app:3"),
        "keep: age unknown and a minimum age is set"
    );
}

#[test]
fn unreadable_refs_keep_their_image() {
    let images = vec![
        img(&["app:1", "Bad Ref"], 1),
        img(&["app:2"], 1),
        img(&["app:3"], 1),
    ];
    let plan = plan_node(&node(images), &Settings::default());
    assert!(removed(&plan).is_empty());
}

#[test]
fn protect_patterns() {
    let r = |s: &str| ImageRef::parse(s).unwrap();
    assert!(protects(
        "registry.k8s.io/*",
        &r("registry.k8s.io/pause:3.9")
    ));
    assert!(!protects("registry.k8s.io/*", &r("nginx:1")));
    assert!(protects("nginx", &r("docker.io/library/nginx:1.2")));
    assert!(protects("nginx:1.2", &r("nginx:1.2")));
    assert!(!protects("nginx:1.2", &r("nginx:1.3")));
    assert!(protects("*/cuda*", &r("nvidia/cuda:12")));
    assert!(protects("docker.io/library/*", &r("redis:7")));
    assert!(!protects(
        "registry.local:5000/a",
        &r("registry.local:5000/b:1")
    ));
}

#[test]
fn glob_edge_cases() {
    assert!(glob("*", ""));
    assert!(glob("a*a", "aa"));
    assert!(!glob("a*a", "a"));
    assert!(glob("a*b*c", "a-b-c"));
    assert!(!glob("a*b*c", "a-c-b"));
}
