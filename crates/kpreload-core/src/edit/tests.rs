use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::selector::{NodeSelector, Requirement};

fn refs(list: &[&str]) -> Vec<ImageRef> {
    list.iter().map(|i| ImageRef::parse(i).unwrap()).collect()
}

fn draft() -> Draft {
    Draft::new(
        "web",
        refs(&["nginx:1.25-alpine", "node:20-alpine", "redis:7-alpine"]),
    )
}

fn names(d: &Draft) -> Vec<&str> {
    d.images.iter().map(|i| i.written()).collect()
}

#[test]
fn add_validates_and_refuses_duplicates_with_the_reason() {
    let mut d = draft();
    assert_eq!(d.add(1, "busybox:1.37"), Ok(1));
    assert_eq!(
        names(&d),
        [
            "nginx:1.25-alpine",
            "busybox:1.37",
            "node:20-alpine",
            "redis:7-alpine"
        ]
    );
    let err = d.add(0, "Nginx:1.25").unwrap_err();
    assert!(err.contains("uppercase"), "{err}");
    let err = d.add(0, "nginx:").unwrap_err();
    assert!(err.contains("empty tag"), "{err}");
    let err = d.add(0, "  ").unwrap_err();
    assert!(err.contains("type an image reference"), "{err}");
    // `docker.io/library/redis:7-alpine` is the list's `redis:7-alpine`.
    let err = d.add(0, "docker.io/library/redis:7-alpine").unwrap_err();
    assert_eq!(
        err,
        "docker.io/library/redis:7-alpine is already in the list (number 4)"
    );
    assert_eq!(d.images.len(), 4, "refusals change nothing");
}

#[test]
fn tags_moves_removal_and_undo() {
    let mut d = draft();
    d.set_tag(0, "1.27-alpine").unwrap();
    assert_eq!(d.images[0].written(), "nginx:1.27-alpine");
    assert!(d.set_tag(0, "bad tag").unwrap_err().contains("white space"));
    assert_eq!(d.move_down(0), Some(1));
    assert_eq!(d.move_down(2), None, "the last cannot go further");
    assert_eq!(d.move_up(0), None);
    assert_eq!(
        names(&d),
        ["node:20-alpine", "nginx:1.27-alpine", "redis:7-alpine"]
    );
    d.remove(2).unwrap();
    assert!(d.changed());
    assert_eq!(
        d.summary(),
        [
            "~ nginx  1.25-alpine → 1.27-alpine",
            "− redis:7-alpine",
            "pull order now: node, nginx"
        ]
    );
    assert!(d.undo() && d.undo() && d.undo());
    assert!(!d.undo(), "three changes, three undos");
    assert!(!d.changed());
    assert!(d.summary().is_empty());
}

#[test]
fn the_last_image_stays() {
    let mut d = Draft::new("p", refs(&["a:1"]));
    assert!(d.remove(0).unwrap_err().contains("delete the pool"));
    assert_eq!(d.images.len(), 1);
}

#[test]
fn summary_says_what_was_added_where() {
    let s = summary(&refs(&["a:1", "b:1"]), &refs(&["a:1", "b:1", "c:1"]));
    assert_eq!(s, ["+ c:1  (pulled 3rd)"]);
    // Two versions of one repository swapping places is a change too.
    let s = summary(
        &refs(&["nginx:1.25", "nginx:1.27"]),
        &refs(&["nginx:1.27", "nginx:1.25"]),
    );
    assert_eq!(s, ["pull order now: nginx:1.27, nginx:1.25"]);
    assert_eq!(ordinal(11), "11th");
    assert_eq!(ordinal(22), "22nd");
}

fn node(name: &str, images: serde_json::Value) -> Arc<Node> {
    let pool = if name.starts_with("web") { "web" } else { "ml" };
    crate::fixtures::node(name)
        .labels(json!({ "pool": pool }))
        .images(images)
        .build()
}

fn snapshot() -> Snapshot {
    Snapshot {
        nodes: vec![
            node(
                "web-1",
                json!([
                    {"names": ["docker.io/library/nginx@sha256:aa", "docker.io/library/nginx:1.25-alpine"], "sizeBytes": 20_000_000},
                    {"names": ["docker.io/library/nginx:1.27-alpine"], "sizeBytes": 21_000_000},
                ]),
            ),
            node(
                "web-2",
                json!([{"names": ["docker.io/library/nginx:1.25-alpine"], "sizeBytes": 20_000_000}]),
            ),
            node(
                "ml-1",
                json!([{"names": ["docker.io/library/nginx:1.9"], "sizeBytes": 1}]),
            ),
        ],
        ..Default::default()
    }
}

#[test]
fn the_catalog_knows_tags_newest_first_and_sizes() {
    let catalog = Catalog::from_snapshot(&snapshot(), &Overview::default());
    assert_eq!(catalog.known[0].image, "nginx:1.25-alpine");
    assert_eq!(catalog.known[0].seen, "on 2 nodes");
    assert!(
        catalog.known.iter().all(|k| !k.image.contains('@')),
        "digest names are not offered"
    );
    let nginx = ImageRef::parse("nginx").unwrap();
    // 1.27 > 1.25 > 1.9 by version, not by text.
    assert_eq!(
        catalog.tags_of(&nginx),
        ["1.27-alpine", "1.25-alpine", "1.9"]
    );
    assert_eq!(
        catalog.sizes.get("docker.io/library/nginx:1.27-alpine"),
        Some(&21_000_000)
    );
}

#[test]
fn each_node_pulls_only_what_it_lacks_and_the_time_comes_from_its_bandwidth() {
    let snap = snapshot();
    let catalog = Catalog::from_snapshot(&snap, &Overview::default());
    let pool = Pool {
        name: "web".into(),
        selector: NodeSelector {
            terms: vec![vec![Requirement::equals("pool", "web")]],
        },
        tolerations: vec![],
        images: refs(&["nginx:1.27-alpine", "redis:7-alpine"]),
        keep: None,
        protect: None,
        shards: 1,
        pull_secrets: vec![],
    };
    let nodes = pool_nodes(&snap.nodes, &pool);
    assert_eq!(nodes, ["web-1", "web-2"]);
    let rates = Rates::new(HashMap::from([("web-2".to_string(), 7_000_000.0)]));
    let free = HashMap::from([("web-2".to_string(), 10_000_000u64)]);
    let p = pulls(
        &snap,
        &nodes,
        &pool.images,
        &catalog,
        &HashMap::new(),
        &rates,
        &free,
    );
    // web-1 has nginx 1.27 already: only redis, whose size nobody knows.
    assert_eq!(p[0].images, [("redis:7-alpine".to_string(), None)]);
    assert_eq!((p[0].bytes, p[0].unknown), (0, 1));
    assert_eq!(p[0].fits(), None);
    // web-2 lacks both; 21 MB at its own 7 MB/s is 3 s; 10 MB free is too little.
    assert_eq!(p[1].bytes, 21_000_000);
    assert_eq!(p[1].seconds, Some(3.0));
    assert_eq!(p[1].fits(), Some(false));
    // web-1 has no rate of its own: the median of the others' (web-2's).
    assert_eq!(p[0].seconds, Some(0.0));

    // The registry's manifest sizes redis, for the node's platform when it is an index
    // (the snapshot's nodes do not say theirs: a single image serves them).
    use crate::registry::{Found, Manifest};
    let found = Found {
        registry: "docker.io".into(),
        digest: "sha256:11".into(),
        index: false,
        offered: vec![],
        images: vec![Manifest {
            platform: None,
            digest: "sha256:11".into(),
            bytes: 14_000_000,
        }],
    };
    let registry = HashMap::from([("docker.io/library/redis:7-alpine".to_string(), found)]);
    let p = pulls(
        &snap,
        &nodes,
        &pool.images,
        &catalog,
        &registry,
        &rates,
        &free,
    );
    assert_eq!(
        p[0].images,
        [("redis:7-alpine".to_string(), Some(14_000_000))]
    );
    assert_eq!((p[0].unknown, p[0].from_registry), (0, 1));
    // Both on web-2: 21 MB (nodes) + 14 MB (registry) = 35 MB, 5 s at 7 MB/s.
    assert_eq!(p[1].bytes, 35_000_000);
    assert_eq!(p[1].seconds, Some(5.0));
}

#[test]
fn a_hand_written_preloader_is_converted_and_a_rendered_one_keeps_its_helper() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/article/image-preloader-web.yaml"
    ))
    .unwrap();
    let live: DaemonSet = serde_yaml::from_str(&text).unwrap();
    let pool = read_preloader(&live).unwrap().unwrap().pool;
    let d = desired(Some(&live), &pool, "kube-system");
    assert_eq!(d.replaces.as_deref(), Some("image-preloader-web"));
    let rendered = d.daemonset;
    assert_eq!(
        rendered.metadata.name.as_deref(),
        Some("image-preloader-web")
    );
    let again = desired(Some(&rendered), &pool, "kube-system");
    assert_eq!(again.replaces, None, "rendered already: nothing to convert");

    let mut custom = rendered.clone();
    let spec = custom.spec.template.spec.as_mut().unwrap();
    for c in spec.init_containers.as_mut().unwrap() {
        if c.name == NOOP_CONTAINER || c.name == crate::render::CLEANUP_CONTAINER {
            c.image = Some("registry.example/busybox:1.37".into());
        }
    }
    let d = desired(Some(&custom), &pool, "kube-system");
    let init = d
        .daemonset
        .spec
        .template
        .spec
        .unwrap()
        .init_containers
        .unwrap();
    assert_eq!(
        init[0].image.as_deref(),
        Some("registry.example/busybox:1.37")
    );
}

#[test]
fn the_diff_shows_changed_lines_with_context() {
    let lines = diff("a\nb\nc\nd\ne\nf\ng\n", "a\nb\nc\nD\ne\nf\ng\n", 1);
    let text: Vec<String> = lines
        .iter()
        .map(|l| format!("{}{}", l.sign, l.text))
        .collect();
    assert_eq!(text, [" c", "-d", "+D", " e"]);
}
