//! How much disk a node needs, by the article's formula:
//! (preloaded + workload images) × versions kept, plus a safety buffer, plus the OS.

use serde::Serialize;

/// What goes into the estimate. Bytes are bytes; the article counts in decimal GB.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SizingInput {
    pub preloaded_bytes: u64,
    pub workload_bytes: u64,
    /// Versions of each image on disk during updates (the article: 2 to 3).
    pub version_multiplier: f64,
    /// Safety margin as a fraction (the article: 0.2 to 0.3).
    pub buffer: f64,
    pub os_bytes: u64,
}

/// Each step of the estimate, so a view can show the working.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Sizing {
    pub images_bytes: u64,
    pub with_versions_bytes: u64,
    pub with_buffer_bytes: u64,
    pub total_bytes: u64,
}

pub const GB: u64 = 1_000_000_000;

pub(crate) fn size_disk(input: &SizingInput) -> Sizing {
    let images_bytes = input.preloaded_bytes + input.workload_bytes;
    let with_versions_bytes = scale(images_bytes, input.version_multiplier.max(1.0));
    let with_buffer_bytes = scale(with_versions_bytes, 1.0 + input.buffer.max(0.0));
    Sizing {
        images_bytes,
        with_versions_bytes,
        with_buffer_bytes,
        total_bytes: with_buffer_bytes + input.os_bytes,
    }
}

impl Sizing {
    /// The total rounded up to a whole number of `step` bytes (the article rounds 26.1 GB up
    /// to "~30GB", a step of 10 GB).
    pub(crate) fn rounded_up(&self, step: u64) -> u64 {
        self.total_bytes.div_ceil(step.max(1)) * step.max(1)
    }

    /// How much a disk of `capacity` bytes is short of the total (0 when it fits).
    pub(crate) fn shortfall(&self, capacity: u64) -> u64 {
        self.total_bytes.saturating_sub(capacity)
    }
}

fn scale(bytes: u64, factor: f64) -> u64 {
    (bytes as f64 * factor).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    #[test]
    fn the_articles_example() {
        // Preloaded: 4 × 300MB; app images: 10 × 500MB; 2× versions; 30% buffer; 10GB OS.
        let s = size_disk(&SizingInput {
            preloaded_bytes: 4 * 300 * MB,
            workload_bytes: 10 * 500 * MB,
            version_multiplier: 2.0,
            buffer: 0.3,
            os_bytes: 10 * GB,
        });
        assert_eq!(s.images_bytes, 6_200 * MB);
        assert_eq!(s.with_versions_bytes, 12_400 * MB);
        assert_eq!(s.with_buffer_bytes, 16_120 * MB);
        assert_eq!(s.total_bytes, 26_120 * MB);
        assert_eq!(format!("{:.1}", s.total_bytes as f64 / GB as f64), "26.1");
        assert_eq!(s.rounded_up(10 * GB), 30 * GB);
        assert_eq!(s.shortfall(20 * GB), 6_120 * MB);
        assert_eq!(s.shortfall(30 * GB), 0);
    }

    #[test]
    fn nonsense_factors_do_not_shrink_the_estimate() {
        let s = size_disk(&SizingInput {
            preloaded_bytes: GB,
            workload_bytes: 0,
            version_multiplier: 0.5,
            buffer: -1.0,
            os_bytes: 0,
        });
        assert_eq!(s.total_bytes, GB);
    }
}
