//! The pools file's `cleanup:` section: the scheduled cleanup, read and checked.

use serde::Deserialize;

use super::{Fault, Pool, check_image, fault};

/// The file's `cleanup:` section: a CronJob running `kpreload cleanup --yes` on a schedule.
/// What it keeps and protects is the file's own `keep` and `protect` (and each pool's),
/// the same rules `kpreload plan` previews: the section has no rules of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cleanup {
    /// Cron's five fields, or a macro (`@daily`).
    pub schedule: String,
    /// The image holding the kpreload binary.
    pub image: String,
    /// Only this pool's nodes (else every pool's).
    pub pool: Option<String>,
}

/// The schedule when neither the file nor `--schedule` gives one: 3 AM daily.
pub const DEFAULT_CLEANUP_SCHEDULE: &str = "0 3 * * *";

/// Why `schedule` is not one cron takes: five fields (minute hour day-of-month month
/// day-of-week) or a single macro. Said before anything is applied, rather than by the API
/// server halfway.
pub fn cron_problem(schedule: &str) -> Option<String> {
    let s = schedule.trim();
    let fields = s.split_whitespace().count();
    let ok = if let Some(every) = s.strip_prefix("@every ") {
        // cron's `@every 1h30m`: one Go duration.
        let every = every.trim();
        fields == 2
            && every.starts_with(|c: char| c.is_ascii_digit())
            && every
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || "hms".contains(c))
    } else if s.starts_with('@') {
        [
            "@yearly",
            "@annually",
            "@monthly",
            "@weekly",
            "@daily",
            "@midnight",
            "@hourly",
        ]
        .contains(&s)
    } else {
        fields == 5
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || " */,-?".contains(c))
    };
    (!ok).then(|| format!(
        "{schedule:?} is not a cron schedule: give five fields, minute hour day-of-month month day-of-week (\"0 3 * * *\" is 3 AM daily), or @daily, @hourly, @weekly"
    ))
}

pub(super) const EMPTY_CLEANUP: &str = "the cleanup: section is empty; give its image: (the image holding the kpreload binary), or remove the line";

/// A field that is there, even as null, is Some.
pub(super) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawCleanup {
    schedule: Option<String>,
    image: Option<String>,
    pool: Option<String>,
    // Not the section's: said in words rather than as an unknown field.
    keep: Option<serde_yaml::Value>,
    protect: Option<serde_yaml::Value>,
}

impl RawCleanup {
    pub(super) fn check(self, pools: &[Pool]) -> Result<Cleanup, Fault> {
        for (field, given) in [
            ("keep", self.keep.is_some()),
            ("protect", self.protect.is_some()),
        ] {
            if given {
                return Err(fault(
                    format!("cleanup.{field}"),
                    format!(
                        "{field} is not set here: the scheduled cleanup keeps and protects what the file says at its top and for each pool, as `kpreload plan` shows; set {field} there"
                    ),
                ));
            }
        }
        let schedule = self
            .schedule
            .unwrap_or_else(|| DEFAULT_CLEANUP_SCHEDULE.to_string());
        if let Some(p) = cron_problem(&schedule) {
            return Err(fault("cleanup.schedule", p));
        }
        let Some(image) = self.image else {
            return Err(fault(
                "cleanup",
                "the scheduled cleanup needs `image:`, the image holding the kpreload binary (the Containerfile builds it)",
            ));
        };
        check_image(&image, "cleanup.image")?;
        if let Some(p) = &self.pool
            && !pools.iter().any(|x| &x.name == p)
        {
            let known: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
            return Err(fault(
                "cleanup.pool",
                format!(
                    "the file has no pool named \"{p}\"; its pools are {}",
                    known.join(", ")
                ),
            ));
        }
        // The CronJob's name (kpreload-cleanup-POOL) leaves 11 characters for its Jobs'.
        if let Some(p) = &self.pool
            && "kpreload-cleanup-".len() + p.len() > 52
        {
            return Err(fault(
                "cleanup.pool",
                format!(
                    "the CronJob for the pool \"{p}\" would be named kpreload-cleanup-{p}, longer than Kubernetes allows (52); leave pool out to clean every pool"
                ),
            ));
        }
        Ok(Cleanup {
            schedule: schedule.trim().to_string(),
            image: image.trim().to_string(),
            pool: self.pool,
        })
    }
}
