//! batch/v1's CronJob, checked as the API server checks it.

use serde_json::Value;

use super::pod_spec;

/// batch/v1's checks of a CronJob (ValidateCronJobCreate): its name leaves room for the
/// Jobs' suffix, its schedule is five cron fields (or a `@` macro), its policy one of three,
/// its limits not negative, and its Jobs' pods restart OnFailure or Never.
pub(super) fn check(obj: &Value, causes: &mut Vec<(String, String)>) {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    if name.len() > 52 {
        causes.push((
            "metadata.name".into(),
            format!("Invalid value: \"{name}\": must be no more than 52 characters"),
        ));
    }
    let spec = &obj["spec"];
    match spec["schedule"].as_str().map(str::trim) {
        None | Some("") => causes.push(("spec.schedule".into(), "Required value".into())),
        Some(schedule) => {
            if let Some(why) = cron_problem(schedule) {
                causes.push((
                    "spec.schedule".into(),
                    format!("Invalid value: \"{schedule}\": {why}"),
                ));
            }
        }
    }
    if let Some(policy) = spec["concurrencyPolicy"].as_str()
        && !["Allow", "Forbid", "Replace"].contains(&policy)
    {
        causes.push((
            "spec.concurrencyPolicy".into(),
            format!(
                "Unsupported value: \"{policy}\": supported values: \"Allow\", \"Forbid\", \"Replace\""
            ),
        ));
    }
    for field in [
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
    ] {
        if let Some(n) = spec[field].as_i64()
            && n < 0
        {
            causes.push((
                format!("spec.{field}"),
                format!("Invalid value: {n}: must be greater than or equal to 0"),
            ));
        }
    }
    let job = &spec["jobTemplate"]["spec"];
    for field in ["activeDeadlineSeconds", "backoffLimit"] {
        if let Some(n) = job[field].as_i64()
            && n < 0
        {
            causes.push((
                format!("spec.jobTemplate.spec.{field}"),
                format!("Invalid value: {n}: must be greater than or equal to 0"),
            ));
        }
    }
    let at = "spec.jobTemplate.spec.template.spec";
    match job["template"]["spec"]["restartPolicy"].as_str() {
        Some("OnFailure" | "Never") => {}
        None | Some("") => causes.push((
            format!("{at}.restartPolicy"),
            "Required value: valid values: \"OnFailure\", \"Never\"".into(),
        )),
        Some(other) => causes.push((
            format!("{at}.restartPolicy"),
            format!("Unsupported value: \"{other}\": supported values: \"OnFailure\", \"Never\""),
        )),
    }
    pod_spec(&job["template"]["spec"], at, causes);
}

/// Why a schedule is not one the CronJob controller's parser (robfig/cron's standard
/// parser) takes: five fields of numbers, names, `*`, ranges, lists and steps, or a macro.
fn cron_problem(schedule: &str) -> Option<String> {
    if schedule.starts_with('@') {
        let known = [
            "@yearly",
            "@annually",
            "@monthly",
            "@weekly",
            "@daily",
            "@midnight",
            "@hourly",
        ];
        return (!known.contains(&schedule))
            .then(|| format!("unrecognized descriptor: {schedule}"));
    }
    if schedule.contains("TZ=") || schedule.contains("CRON_TZ=") {
        return Some("cannot use TZ or CRON_TZ in schedule, use timeZone field instead".into());
    }
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    if fields.len() != 5 {
        return Some(format!(
            "expected exactly 5 fields, found {}: {schedule}",
            fields.len()
        ));
    }
    let bounds = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
    for (field, (low, high)) in fields.iter().zip(bounds) {
        for part in field.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (part, None),
            };
            if let Some(step) = step
                && step.parse::<u32>().map_or(true, |n| n == 0)
            {
                return Some(format!("failed to parse int from {step}"));
            }
            if range == "*" || range == "?" {
                continue;
            }
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let value = |v: &str| -> Option<u32> {
                v.parse().ok().or_else(|| {
                    let names = [
                        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                        "nov", "dec",
                    ];
                    let days = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
                    let v = v.to_ascii_lowercase();
                    if high == 12 {
                        names.iter().position(|n| *n == v).map(|i| i as u32 + 1)
                    } else if high == 7 {
                        days.iter().position(|n| *n == v).map(|i| i as u32)
                    } else {
                        None
                    }
                })
            };
            let (Some(a), Some(b)) = (value(a), value(b)) else {
                return Some(format!("failed to parse int from {range}"));
            };
            if a < low || b > high || a > b {
                return Some(format!("end of range ({b}) above maximum ({high}): {part}"));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{apply_defaults, validate};
    use crate::resources::find;

    #[test]
    fn a_cronjob_is_checked_as_batch_v1_checks_it() {
        let cj = find("batch", "v1", "cronjobs").unwrap();
        let job = |schedule: &str, policy: &str, restart: &str| {
            json!({"metadata": {"name": "c"}, "spec": {
                "schedule": schedule, "concurrencyPolicy": policy,
                "jobTemplate": {"spec": {"template": {"spec": {
                    "restartPolicy": restart,
                    "containers": [{"name": "a", "image": "i"}]}}}}}})
        };
        assert!(validate(cj, &job("0 3 * * *", "Forbid", "Never")).is_ok());
        assert!(validate(cj, &job("*/15 1-5 * jan mon-fri", "Allow", "OnFailure")).is_ok());
        assert!(validate(cj, &job("@daily", "Replace", "Never")).is_ok());
        let e = validate(cj, &job("0 3 * *", "Sometimes", "Always")).unwrap_err();
        assert_eq!(e.code, 422);
        for said in [
            "spec.schedule: Invalid value: \"0 3 * *\": expected exactly 5 fields, found 4",
            "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"",
            "spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"",
        ] {
            assert!(e.message.contains(said), "{said}\n{}", e.message);
        }
        let e = validate(cj, &job("61 3 * * *", "Forbid", "Never")).unwrap_err();
        assert!(
            e.message
                .contains("spec.schedule: Invalid value: \"61 3 * * *\""),
            "{}",
            e.message
        );
        let e = validate(cj, &job("TZ=UTC 0 3 * * *", "Forbid", "Never")).unwrap_err();
        assert!(
            e.message.contains("use timeZone field instead"),
            "{}",
            e.message
        );
        // The API server's defaults, as kubectl reads them back.
        let mut bare = json!({"spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}});
        apply_defaults(cj, &mut bare);
        assert_eq!(bare["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(bare["spec"]["successfulJobsHistoryLimit"], 3);
        assert_eq!(bare["spec"]["failedJobsHistoryLimit"], 1);
    }
}
