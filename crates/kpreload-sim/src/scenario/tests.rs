use super::*;

#[test]
fn kubelet_settings_use_the_kubelets_names() {
    let text = "apiVersion: sim.kpreload.dev/v1\nkind: Simulation\nnodeDefaults:\n  kubelet: { imageGCHighThresholdPercent: 100, imageGCLowThresholdPercent: 80, serializeImagePulls: false, maxParallelImagePulls: 3, imageMaximumGCAge: 72h }\n";
    let k = parse(text, "s.yaml")
        .unwrap()
        .simulation
        .node_defaults
        .kubelet;
    assert_eq!(k.image_gc_high_threshold_percent, 100);
    assert!(!k.serialize_image_pulls);
    assert_eq!(k.max_parallel_image_pulls, Some(3));
    assert_eq!(k.image_maximum_gc_age, "72h");
}

#[test]
fn sizes() {
    assert_eq!(parse_bytes("43474862"), Some(43_474_862));
    assert_eq!(parse_bytes("100GiB"), Some(100 * 1024 * 1024 * 1024));
    assert_eq!(parse_bytes("1.5GB"), Some(1_500_000_000));
    assert_eq!(parse_bytes("30MiB"), Some(30 * 1024 * 1024));
    assert_eq!(parse_bytes("3 parsecs"), None);
}

#[test]
fn a_small_scenario() {
    let text = "apiVersion: sim.kpreload.dev/v1\nkind: Simulation\nregistry:\n  - { image: nginx:1.25, size: 10MiB }\nnodeDefaults: { bandwidth: 10MiB/s }\ngenerate:\n  - { pool: web, count: 2, labels: { workload-type: web }, images: [nginx:1.25] }\n---\napiVersion: v1\nkind: Node\nmetadata: { name: extra }\n";
    let s = parse(text, "s.yaml").unwrap();
    assert_eq!(s.simulation.node_defaults.bandwidth, 10 * 1024 * 1024);
    let all: Vec<_> = s
        .objects
        .iter()
        .cloned()
        .chain(generated(&s.simulation))
        .collect();
    let names: Vec<_> = all
        .iter()
        .map(|(_, o)| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["extra", "web-1", "web-2"]);
    assert_eq!(
        all[1].1["status"]["images"][0]["sizeBytes"],
        10 * 1024 * 1024
    );
}

#[test]
fn errors_have_places() {
    let e = parse(
        "apiVersion: v1\nkind: Widget\nmetadata: {name: a}\n",
        "s.yaml",
    )
    .unwrap_err();
    assert_eq!(e.location, Some((2, 7)));
    assert!(
        e.message
            .starts_with("Widget (v1) is not something the simulator serves")
    );
    let e = parse("apiVersion: sim.kpreload.dev/v1\nkind: Simulation\nregistry:\n  - { image: Nginx, size: 1 }\n", "s.yaml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "s.yaml:4:14: registry[0].image: the repository \"Nginx\" has uppercase letters; repository names must be lowercase"
    );
}
