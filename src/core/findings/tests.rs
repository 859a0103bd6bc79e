use serde_json::json;

use super::*;

const GIB: u64 = 1 << 30;

fn kubelet(high: u32, serialize: bool, max_age: &str) -> Kubelet {
    Kubelet::from_configz(&json!({"kubeletconfig": {
        "imageGCHighThresholdPercent": high, "imageGCLowThresholdPercent": 80,
        "imageMaximumGCAge": max_age, "serializeImagePulls": serialize}}))
}

fn node(name: &str, k: Kubelet, used: u64, capacity: u64) -> NodeFacts {
    NodeFacts {
        node: name.into(),
        pool: Some("ml".into()),
        kubelet: Some(k),
        disk: Some(Disk {
            capacity,
            used,
            available: capacity - used,
        }),
        ..Default::default()
    }
}

fn ml(bytes: u64) -> PoolFacts {
    PoolFacts {
        pool: "ml".into(),
        images: vec![
            ("pytorch:2".into(), Some(bytes)),
            ("jupyter:1".into(), None),
        ],
    }
}

fn codes(f: &[Finding]) -> Vec<(&'static str, Severity)> {
    f.iter().map(|f| (f.code, f.severity)).collect()
}

#[test]
fn gc_at_85_with_little_headroom_is_a_warning_with_the_distance_and_the_remedy() {
    // 100 GiB disk at 70 %: 15 GiB before GC starts; the pool preloads 20 GiB.
    let nodes = [node("ml-1", kubelet(85, false, "0s"), 70 * GIB, 100 * GIB)];
    let f = findings(&[ml(20 * GIB)], &nodes);
    assert_eq!(
        codes(&f),
        [
            ("image-gc", Severity::Warning),
            ("gc-headroom", Severity::Warning)
        ]
    );
    assert!(f[0].message.contains("starts at 85 %"), "{}", f[0].message);
    assert!(
        f[0].message.contains("ml-1, is at 70 %, 15 points from it"),
        "{}",
        f[0].message
    );
    assert!(f[0].remedy.contains("imageGCHighThresholdPercent to 100"));
    assert!(
        f[1].message
            .contains("(16.11 GB at least) than the pool preloads (21.47 GB)"),
        "{}",
        f[1].message
    );
}

#[test]
fn past_the_threshold_already_is_critical() {
    let nodes = [node("ml-1", kubelet(85, false, ""), 90 * GIB, 100 * GIB)];
    let f = findings(&[ml(GIB)], &nodes);
    assert_eq!(f[0].code, "gc-headroom");
    assert_eq!(f[0].severity, Severity::Critical);
    assert!(f[0].message.contains("(none at least)"), "{}", f[0].message);
}

#[test]
fn gc_at_100_and_parallel_pulls_find_nothing() {
    let nodes = [node("ml-1", kubelet(100, false, "0s"), 99 * GIB, 100 * GIB)];
    assert!(findings(&[ml(20 * GIB)], &nodes).is_empty());
}

#[test]
fn max_age_serial_pulls_pressure_cap_and_eviction_each_say_so() {
    let mut n = node("ml-1", kubelet(100, true, "168h"), GIB, 100 * GIB);
    n.disk_pressure = true;
    n.images_capped = true;
    n.missing = vec!["pytorch:2".into()];
    let f = findings(&[ml(GIB)], &[n]);
    assert_eq!(
        codes(&f),
        [
            ("disk-pressure", Severity::Critical),
            ("max-gc-age", Severity::Warning),
            ("evicted", Severity::Warning),
            ("serial-pulls", Severity::Info),
            ("images-capped", Severity::Info),
        ]
    );
    assert!(f[1].message.contains("imageMaximumGCAge is 168h"));
    assert!(
        f[2].message.contains("pytorch:2 (evicted since)"),
        "{}",
        f[2].message
    );
}

#[test]
fn a_zero_max_age_is_off_and_an_unread_kubelet_is_said() {
    assert_eq!(kubelet(100, false, "0s").max_age(), None);
    assert_eq!(kubelet(100, false, "0h0m0s").max_age(), None);
    assert_eq!(kubelet(100, false, "10m0s").max_age(), Some("10m0s"));
    let n = NodeFacts {
        node: "ml-1".into(),
        pool: Some("ml".into()),
        unread: Some("not allowed to read nodes/proxy".into()),
        ..Default::default()
    };
    let f = findings(&[ml(GIB)], &[n]);
    assert_eq!(codes(&f), [("unread", Severity::Info)]);
}

#[test]
fn disk_figures_come_from_the_image_file_system() {
    let v = json!({"node": {"fs": {"capacityBytes": 10, "availableBytes": 4, "usedBytes": 6},
        "runtime": {"imageFs": {"capacityBytes": 100, "availableBytes": 30, "usedBytes": 70}}}});
    let d = Disk::from_summary(&v).unwrap();
    assert_eq!((d.capacity, d.used, d.available), (100, 70, 30));
    assert_eq!(d.headroom(85), 15);
}
