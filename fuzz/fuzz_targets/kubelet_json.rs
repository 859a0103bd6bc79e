//! What a kubelet says of itself: `configz` and `stats/summary`, any JSON at all. A setting
//! is read as written or not at all (never wrapped into another number); disk figures
//! never overflow into a wrong headroom.
#![no_main]

use kpreload_core::findings::{Disk, Kubelet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let k = Kubelet::from_configz(&v);
    let c = &v["kubeletconfig"];
    for (read, field) in [
        (k.image_gc_high, "imageGCHighThresholdPercent"),
        (k.image_gc_low, "imageGCLowThresholdPercent"),
        (k.max_parallel_image_pulls, "maxParallelImagePulls"),
    ] {
        if let Some(n) = read {
            assert_eq!(c[field].as_u64(), Some(u64::from(n)), "{field}");
        }
    }
    let _ = (k.gc_high(), k.gc_enabled(), k.max_age());
    if let Some(d) = Disk::from_summary(&v) {
        let p = d.percent();
        assert!(p.is_finite() && p >= 0.0, "{d:?} {p}");
        if d.used <= d.capacity {
            assert!(p <= 100.0, "{d:?} {p}");
        }
        for percent in [0, 85, 100] {
            let h = d.headroom(percent);
            if d.used > d.capacity {
                assert!(h <= 0, "{d:?} {percent} {h}");
            }
        }
    }
});
