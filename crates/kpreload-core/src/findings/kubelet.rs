//! What a kubelet says of itself: its settings (`configz`) and its image file system
//! (`stats/summary`).

use serde::Serialize;

use super::DEFAULT_IMAGE_GC_HIGH;

/// The kubelet settings that matter here, as `configz` reports them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Kubelet {
    pub image_gc_high: Option<u32>,
    pub image_gc_low: Option<u32>,
    /// As written (`0s` or empty: off).
    pub image_maximum_gc_age: Option<String>,
    pub serialize_image_pulls: Option<bool>,
    pub max_parallel_image_pulls: Option<u32>,
}

impl Kubelet {
    /// Reads `configz`'s answer (`{"kubeletconfig": {...}}`).
    pub fn from_configz(v: &serde_json::Value) -> Kubelet {
        let c = &v["kubeletconfig"];
        // A figure that does not fit is not read at all (never wrapped into another).
        let num = |k: &str| c[k].as_u64().and_then(|n| u32::try_from(n).ok());
        Kubelet {
            image_gc_high: num("imageGCHighThresholdPercent"),
            image_gc_low: num("imageGCLowThresholdPercent"),
            image_maximum_gc_age: c["imageMaximumGCAge"].as_str().map(str::to_string),
            serialize_image_pulls: c["serializeImagePulls"].as_bool(),
            max_parallel_image_pulls: num("maxParallelImagePulls"),
        }
    }

    /// The image disk use (%) at which the kubelet's image GC starts: as configured, else
    /// the kubelet's default.
    pub fn gc_high(&self) -> u32 {
        self.image_gc_high.unwrap_or(DEFAULT_IMAGE_GC_HIGH)
    }

    /// Whether the image GC can run before the disk is full.
    pub fn gc_enabled(&self) -> bool {
        self.gc_high() < 100
    }

    pub fn max_age(&self) -> Option<&str> {
        self.image_maximum_gc_age.as_deref().filter(|a| {
            !a.is_empty()
                && !a
                    .chars()
                    .all(|c| c == '0' || c == 's' || c == 'm' || c == 'h')
        })
    }
}

/// One file system's figures, from `stats/summary`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Disk {
    pub capacity: u64,
    pub used: u64,
    pub available: u64,
}

impl Disk {
    /// The image file system from `stats/summary` (`node.runtime.imageFs`, else `node.fs`).
    pub fn from_summary(v: &serde_json::Value) -> Option<Disk> {
        let node = &v["node"];
        let fs = if node["runtime"]["imageFs"].is_object() {
            &node["runtime"]["imageFs"]
        } else {
            &node["fs"]
        };
        let capacity = fs["capacityBytes"].as_u64()?;
        let available = fs["availableBytes"].as_u64().unwrap_or(0);
        let used = fs["usedBytes"]
            .as_u64()
            .unwrap_or(capacity.saturating_sub(available));
        Some(Disk {
            capacity,
            used,
            available,
        })
    }

    /// Used, in percent of the capacity: never over 100 while used is not over capacity
    /// (a ratio of two rounded figures is at most 1 when the first is not the larger; `used
    /// × 100 / capacity` could round past 100 on a full petabyte disk).
    pub fn percent(&self) -> f64 {
        if self.capacity == 0 {
            0.0
        } else {
            self.used as f64 / self.capacity as f64 * 100.0
        }
    }

    /// Bytes that may still be added before usage reaches `percent`.
    pub fn headroom(&self, percent: u32) -> i64 {
        // In i128: a kubelet's figures are any u64 it prints, and no subtraction of two of
        // them may overflow.
        let limit = (self.capacity as f64 * percent as f64 / 100.0) as i128;
        (limit - i128::from(self.used)).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }
}
