//! Reading containerd's `ctr`: its tables (Go's tabwriter, left-aligned, the header's words
//! at the columns' starts) and its log lines on stderr (`level=warning msg="…"`).
//!
//! The formats were taken from containerd 1.6 and are checked against a real containerd in
//! `tests/node/main.rs`.

use std::collections::BTreeMap;

use super::{ActivePull, NameResult, Output, RuntimeContainer, RuntimeImage};

/// A tabwriter table as rows of named cells, cut at the header's column starts.
fn table(text: &str, want: &[&str]) -> Result<Vec<BTreeMap<String, String>>, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return Err("printed nothing, not even its table's header".into());
    };
    if header.contains('\t') {
        return tab_table(header, lines, want);
    }
    let mut starts: Vec<(usize, String)> = Vec::new();
    let mut at = 0;
    for word in header.split_whitespace() {
        let start = header[at..].find(word).map_or(at, |i| at + i);
        starts.push((start, word.to_string()));
        at = start + word.len();
    }
    for w in want {
        if !starts.iter().any(|(_, h)| h == w) {
            let seen: Vec<&str> = starts.iter().map(|(_, h)| h.as_str()).collect();
            return Err(format!(
                "printed a table without a {w} column (columns: {})",
                seen.join(" ")
            ));
        }
    }
    let mut rows = Vec::new();
    for line in lines {
        let mut row = BTreeMap::new();
        for (i, (start, name)) in starts.iter().enumerate() {
            let end = starts.get(i + 1).map_or(line.len(), |(s, _)| *s);
            let cell = line
                .get(*start..end.min(line.len()))
                .or_else(|| line.get(*start..))
                .unwrap_or("")
                .trim();
            row.insert(name.clone(), cell.to_string());
        }
        rows.push(row);
    }
    Ok(rows)
}

/// A table padded with tabs (`ctr content active`): cells are what lies between them.
fn tab_table<'a>(
    header: &str,
    lines: impl Iterator<Item = &'a str>,
    want: &[&str],
) -> Result<Vec<BTreeMap<String, String>>, String> {
    let cells = |l: &'a str| -> Vec<&'a str> {
        l.split('\t')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect()
    };
    let names: Vec<String> = header
        .split('\t')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    for w in want {
        if !names.iter().any(|h| h == w) {
            return Err(format!(
                "printed a table without a {w} column (columns: {})",
                names.join(" ")
            ));
        }
    }
    let mut rows = Vec::new();
    for line in lines {
        let row = cells(line);
        if row.len() != names.len() {
            return Err(format!(
                "printed a row of {} cells under {} columns: {line:?}",
                row.len(),
                names.len()
            ));
        }
        rows.push(
            names
                .iter()
                .cloned()
                .zip(row.into_iter().map(str::to_string))
                .collect(),
        );
    }
    Ok(rows)
}

/// containerd's `progress.Bytes` (`4.8 MiB`, `163 B`) or go-units' `HumanSize` (`12.35MB`).
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: f64 = match unit.trim() {
        "B" | "" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024f64.powi(2),
        "GiB" => 1024f64.powi(3),
        "TiB" => 1024f64.powi(4),
        "PiB" => 1024f64.powi(5),
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "PB" => 1e15,
        _ => return None,
    };
    Some((number * factor).round() as u64)
}

/// go-units' `HumanDuration`, back to seconds (the lower bound of what it rounds).
pub(crate) fn parse_age(text: &str) -> Option<u64> {
    let text = text.trim();
    match text {
        "Less than a second" => return Some(0),
        "About a minute" => return Some(60),
        "About an hour" => return Some(3600),
        _ => {}
    }
    let (n, unit) = text.split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    let per = match unit.trim_end_matches('s') {
        "second" => 1,
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        "week" => 7 * 86_400,
        "month" => 30 * 86_400,
        "year" => 365 * 86_400,
        _ => return None,
    };
    Some(n * per)
}

fn is_id(name: &str) -> bool {
    name.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `ctr -n k8s.io images ls`: one row per name; the names that resolve to one target
/// (DIGEST) are one image, and the `sha256:<id>` name among them is its ID.
pub fn parse_images(text: &str) -> Result<Vec<RuntimeImage>, String> {
    let rows = table(text, &["REF", "DIGEST", "SIZE", "LABELS"])
        .map_err(|e| format!("`ctr images ls` {e}"))?;
    let mut by_target: BTreeMap<String, RuntimeImage> = BTreeMap::new();
    for row in rows {
        let name = row["REF"].clone();
        let target = row["DIGEST"].clone();
        if name.is_empty() || target.is_empty() {
            continue;
        }
        let size = parse_size(&row["SIZE"]).ok_or_else(|| {
            format!(
                "`ctr images ls` printed a size that could not be read: {:?}",
                row["SIZE"]
            )
        })?;
        let pinned = row["LABELS"]
            .split(',')
            .any(|l| l.trim() == "io.cri-containerd.pinned=pinned");
        let image = by_target
            .entry(target.clone())
            .or_insert_with(|| RuntimeImage {
                id: None,
                target,
                refs: Vec::new(),
                size,
                size_exact: false,
                pinned: false,
            });
        image.pinned |= pinned;
        image.size = image.size.max(size);
        if is_id(&name) {
            image.id = Some(name);
        } else {
            image.refs.push(name);
        }
    }
    let mut images: Vec<RuntimeImage> = by_target.into_values().collect();
    for i in &mut images {
        i.refs.sort();
    }
    Ok(images)
}

/// `ctr -n k8s.io containers ls`: CONTAINER IMAGE RUNTIME.
pub fn parse_containers(text: &str) -> Result<Vec<RuntimeContainer>, String> {
    let rows =
        table(text, &["CONTAINER", "IMAGE"]).map_err(|e| format!("`ctr containers ls` {e}"))?;
    Ok(rows
        .into_iter()
        .filter(|r| !r["CONTAINER"].is_empty())
        .map(|r| RuntimeContainer {
            id: r["CONTAINER"].clone(),
            image: r["IMAGE"].clone(),
            image_ref: None,
            running: None,
        })
        .collect())
}

/// `ctr -n k8s.io content active`: REF SIZE AGE, SIZE being the bytes received so far.
pub fn parse_active(text: &str) -> Result<Vec<ActivePull>, String> {
    let rows = table(text, &["REF", "SIZE"]).map_err(|e| format!("`ctr content active` {e}"))?;
    rows.into_iter()
        .filter(|r| !r["REF"].is_empty())
        .map(|r| {
            let offset = parse_size(&r["SIZE"]).ok_or_else(|| {
                format!(
                    "`ctr content active` printed a size that could not be read: {:?}",
                    r["SIZE"]
                )
            })?;
            Ok(ActivePull {
                reference: r["REF"].clone(),
                offset,
                age_seconds: r.get("AGE").and_then(|a| parse_age(a)),
            })
        })
        .collect()
}

/// The `key="value"` and `key=value` fields of a logrus line.
fn log_fields(line: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = line.trim();
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().to_string();
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut end = None;
            let mut escaped = false;
            for (i, c) in quoted.char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => {
                        end = Some(i);
                        break;
                    }
                    _ => escaped = false,
                }
            }
            let end = end.unwrap_or(quoted.len());
            (
                quoted[..end].replace("\\\"", "\"").replace("\\\\", "\\"),
                quoted.get(end + 1..).unwrap_or(""),
            )
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        out.insert(key, value);
        rest = next.trim_start();
    }
    out
}

/// `ctr images rm NAME…`: each removed name on stdout; a missing one is a warning
/// (`NAME: image not found`, exit 0); any other failure an error (`unable to delete NAME`)
/// and exit 1. A name the output does not mention is refused with what stderr said.
pub fn parse_remove(names: &[String], out: &Output) -> Vec<(String, NameResult)> {
    let removed: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    let mut results = Vec::new();
    let logs: Vec<BTreeMap<String, String>> = out.stderr.lines().map(log_fields).collect();
    for name in names {
        if removed.contains(&name.as_str()) {
            results.push((name.clone(), NameResult::Removed));
            continue;
        }
        let said = logs.iter().find(|f| {
            f.get("msg").is_some_and(|m| {
                m == &format!("{name}: image not found") || m == &format!("unable to delete {name}")
            })
        });
        let result = match said {
            Some(f) if f.get("msg").is_some_and(|m| m.ends_with("image not found")) => {
                NameResult::AlreadyGone
            }
            Some(f) => NameResult::Refused(
                f.get("error")
                    .cloned()
                    .unwrap_or_else(|| f.get("msg").cloned().unwrap_or_default()),
            ),
            None => NameResult::Refused(
                out.stderr
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .map_or_else(
                        || format!("ctr did not report it (exit status {})", out.code),
                        str::to_string,
                    ),
            ),
        };
        results.push((name.clone(), result));
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    // Printed by containerd 1.6.20 for two images pulled through the CRI, one pinned by hand.
    const IMAGES: &str = "\
REF                                                                                             TYPE                                    DIGEST                                                                  SIZE    PLATFORMS   LABELS                                                          
127.0.0.1:46103/the-app:1.0                                                                     application/vnd.oci.image.index.v1+json sha256:a37d23d7999a26b991bc8cf362197750db6dbf05340679c26bc0435bb10bfe54 2.9 MiB linux/amd64 io.cri-containerd.image=managed                                 
127.0.0.1:46103/the-app:1.10                                                                    application/vnd.oci.image.index.v1+json sha256:1cf814a79462f0d54128756afe9dc953a2ee0ffe9dc6317d7667837d9b109dd9 4.8 MiB linux/amd64 io.cri-containerd.image=managed,io.cri-containerd.pinned=pinned 
127.0.0.1:46103/the-app@sha256:1cf814a79462f0d54128756afe9dc953a2ee0ffe9dc6317d7667837d9b109dd9 application/vnd.oci.image.index.v1+json sha256:1cf814a79462f0d54128756afe9dc953a2ee0ffe9dc6317d7667837d9b109dd9 4.8 MiB linux/amd64 io.cri-containerd.image=managed                                 
127.0.0.1:46103/the-app@sha256:a37d23d7999a26b991bc8cf362197750db6dbf05340679c26bc0435bb10bfe54 application/vnd.oci.image.index.v1+json sha256:a37d23d7999a26b991bc8cf362197750db6dbf05340679c26bc0435bb10bfe54 2.9 MiB linux/amd64 io.cri-containerd.image=managed                                 
sha256:2fe5b3161d75f6dda9fdcb636e90f8b6c6a9f5008c5bb672c747fe9e5644edb1                         application/vnd.oci.image.index.v1+json sha256:a37d23d7999a26b991bc8cf362197750db6dbf05340679c26bc0435bb10bfe54 2.9 MiB linux/amd64 io.cri-containerd.image=managed                                 
sha256:a8f12306ed004c8aa3b18c3a65f936e88617280f5fc29c952936d9e91679cf39                         application/vnd.oci.image.index.v1+json sha256:1cf814a79462f0d54128756afe9dc953a2ee0ffe9dc6317d7667837d9b109dd9 4.8 MiB linux/amd64 io.cri-containerd.image=managed                                 
";

    #[test]
    fn three_names_are_one_image_and_a_pin_on_any_name_pins_it() {
        let images = parse_images(IMAGES).unwrap();
        assert_eq!(images.len(), 2);
        let old = images
            .iter()
            .find(|i| i.refs.contains(&"127.0.0.1:46103/the-app:1.0".to_string()))
            .unwrap();
        assert_eq!(
            old.id.as_deref(),
            Some("sha256:2fe5b3161d75f6dda9fdcb636e90f8b6c6a9f5008c5bb672c747fe9e5644edb1")
        );
        assert_eq!(
            old.refs,
            [
                "127.0.0.1:46103/the-app:1.0",
                "127.0.0.1:46103/the-app@sha256:a37d23d7999a26b991bc8cf362197750db6dbf05340679c26bc0435bb10bfe54"
            ]
        );
        assert_eq!(old.names().len(), 3);
        assert!(!old.pinned);
        // 2.9 MiB, to a tenth of a MiB.
        assert_eq!(old.size, (2.9 * 1024.0 * 1024.0f64).round() as u64);
        let new = images.iter().find(|i| i.id != old.id).unwrap();
        assert!(new.pinned, "the pin is on the tag's record only");
    }

    #[test]
    fn an_image_whose_id_record_is_gone_is_still_one_image() {
        let text: String = IMAGES
            .lines()
            .filter(|l| !l.starts_with("sha256:2fe5"))
            .map(|l| format!("{l}\n"))
            .collect();
        let images = parse_images(&text).unwrap();
        assert_eq!(images.len(), 2);
        assert!(images.iter().any(|i| i.id.is_none() && i.refs.len() == 2));
    }

    #[test]
    fn an_empty_store_and_a_changed_format() {
        assert_eq!(
            parse_images("REF TYPE DIGEST SIZE PLATFORMS LABELS \n").unwrap(),
            []
        );
        let err = parse_images("NAME DIGEST\nx y\n").unwrap_err();
        assert!(err.contains("without a REF column"), "{err}");
        assert!(parse_images("").is_err());
    }

    #[test]
    fn containers_and_active_pulls() {
        let c = parse_containers(
            "CONTAINER    IMAGE                          RUNTIME                  \n\
             c1           127.0.0.1:46103/the-app:1.0    io.containerd.runc.v2    \n",
        )
        .unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].id, "c1");
        assert_eq!(c[0].image, "127.0.0.1:46103/the-app:1.0");

        // Padded with tabs, as containerd 1.6.20 prints it.
        let a = parse_active(
            "REF\t\t\t\t\t\t\t\t\t\tSIZE\tAGE\t\t\t\n\
             layer-sha256:6ab6ddb1fbb0d2c1a2ba0b2bcbca1ed6b2d9c26ecf0a8f1f8f1e3bde3a4d7f1e\t12.35MB\tAbout a minute\t\n\
             layer-sha256:8fb4dd0d2a1c3b0f7d6e5c4b3a29f8e7d6c5b4a39281706f5e4d3c2b1a098f7e\t876kB\t3 seconds\t\n",
        )
        .unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].offset, 12_350_000);
        assert_eq!(a[0].age_seconds, Some(60));
        assert_eq!(a[1].offset, 876_000);
        assert_eq!(a[1].age_seconds, Some(3));
        assert_eq!(parse_active("REF\tSIZE\tAGE\t\n").unwrap(), []);
        assert!(parse_active("REF\tSIZE\tAGE\t\nx\t1B\n").is_err());
    }

    #[test]
    fn sizes_in_both_of_ctrs_styles() {
        assert_eq!(parse_size("163 B"), Some(163));
        assert_eq!(parse_size("1.5 KiB"), Some(1536));
        assert_eq!(parse_size("1.0 GiB"), Some(1 << 30));
        assert_eq!(parse_size("999.9kB"), Some(999_900));
        assert_eq!(parse_size("2.5GB"), Some(2_500_000_000));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("3 parsecs"), None);
    }

    #[test]
    fn removal_results_per_name() {
        let names: Vec<String> = ["a:1", "nope:1", "b:1", "c:1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let out = Output {
            stdout: "a:1\n".into(),
            stderr: "time=\"2026-11-28T09:59:15Z\" level=warning msg=\"nope:1: image not found\"\n\
                     time=\"2026-11-28T09:59:15Z\" level=error msg=\"unable to delete b:1\" error=\"failed to delete image: \\\"b:1\\\" locked\"\n"
                .into(),
            code: 1,
        };
        let r = parse_remove(&names, &out);
        assert_eq!(r[0].1, NameResult::Removed);
        assert_eq!(r[1].1, NameResult::AlreadyGone);
        assert_eq!(
            r[2].1,
            NameResult::Refused("failed to delete image: \"b:1\" locked".into())
        );
        // Not mentioned at all: refused with the first thing stderr said.
        assert!(matches!(&r[3].1, NameResult::Refused(why) if why.contains("nope:1")));
    }
}
