//! Edits to a pools file, made in its text so that comments, order and style survive a
//! round trip (a GitOps diff shows only what changed). Every rewrite is read back and
//! compared with the intended file; anything else is refused rather than written.

use std::io::Write;
use std::path::Path;

use super::pools::{Pool, PoolsFile};
use super::reference::ImageRef;
use super::selector::{Operator, TolerationOperator};
use super::yaml_places::places;

/// The text with one pool's images replaced by `images`, in that order.
pub fn set_images(
    text: &str,
    file: &str,
    pool: &str,
    images: &[ImageRef],
) -> Result<String, String> {
    let old = PoolsFile::parse(text, file).map_err(|e| e.to_string())?;
    let Some(i) = old.pools.iter().position(|p| p.name == pool) else {
        return Err(format!("{file} has no pool named {pool:?}"));
    };
    if images.is_empty() {
        return Err("a pool needs at least one image".into());
    }
    let n = old.pools[i].images.len();
    let doc = places(text).into_iter().next().unwrap_or_default();
    let (Some(&(l0, c0)), Some(&(ln, cn))) = (
        doc.get(&format!("pools[{i}].images[0]")),
        doc.get(&format!("pools[{i}].images[{}]", n - 1)),
    ) else {
        return Err(format!("cannot find the images of pool {pool:?} in {file}"));
    };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let nl = newline(text);
    let first = lines[l0 - 1];
    let before_value = &first[..byte_at(first, c0)];
    let new_text = if before_value.trim_end().ends_with('-') {
        // A block list: one `- image` line each; an unchanged image keeps its own line,
        // with its comment and the comment lines above it.
        let prefix = before_value;
        let mut items: Vec<(String, &str)> = Vec::new(); // (leading lines, item line)
        let mut leading = String::new();
        for l in &lines[l0 - 1..ln] {
            let t = l.trim();
            if t.is_empty() || t.starts_with('#') {
                leading.push_str(l);
            } else {
                items.push((std::mem::take(&mut leading), l));
            }
        }
        let mut used = vec![false; items.len()];
        let mut out: String = lines[..l0 - 1].concat();
        for image in images {
            let reused = items.iter().enumerate().find(|(k, (_, l))| {
                let value = l.trim_start().trim_start_matches('-').trim_start();
                let value = value.split(" #").next().unwrap_or("").trim();
                !used[*k] && unquote(value) == image.written()
            });
            match reused {
                Some((k, (lead, l))) => {
                    used[k] = true;
                    out.push_str(lead);
                    out.push_str(l);
                    if !l.ends_with('\n') {
                        out.push_str(nl);
                    }
                }
                None => {
                    out.push_str(prefix);
                    out.push_str(&scalar(image.written()));
                    out.push_str(nl);
                }
            }
        }
        out.push_str(&lines[ln..].concat());
        out
    } else if l0 == ln {
        // A flow list on one line: `images: [a, b]`.
        let line = first;
        let open = line[..byte_at(line, c0)].rfind('[');
        let close = line[byte_at(line, cn)..]
            .find(']')
            .map(|k| k + byte_at(line, cn));
        let (Some(open), Some(close)) = (open, close) else {
            return Err(format!(
                "cannot rewrite the images of pool {pool:?} in {file}; write them as a list of `- image` lines"
            ));
        };
        let list: Vec<String> = images.iter().map(|i| scalar(i.written())).collect();
        let mut out: String = lines[..l0 - 1].concat();
        out.push_str(&line[..=open]);
        out.push_str(&list.join(", "));
        out.push_str(&line[close..]);
        out.push_str(&lines[ln..].concat());
        out
    } else {
        return Err(format!(
            "the images of pool {pool:?} in {file} are a flow list over several lines; write them as `- image` lines to edit them here"
        ));
    };
    let mut expected = old.clone();
    expected.pools[i].images = images.to_vec();
    verify(&new_text, file, &expected)?;
    Ok(new_text)
}

/// The text with `pool` added at the end of the pools list.
pub fn add_pool(text: &str, file: &str, pool: &Pool) -> Result<String, String> {
    let old = PoolsFile::parse(text, file).map_err(|e| e.to_string())?;
    if old.pools.iter().any(|p| p.name == pool.name) {
        return Err(format!("{file} already has a pool named {:?}", pool.name));
    }
    let doc = places(text).into_iter().next().unwrap_or_default();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(&(l, c)) = doc.get("pools[0]") else {
        return Err(format!("cannot find the pools list in {file}"));
    };
    let line = lines[l - 1];
    let dash = line[..byte_at(line, c)].rfind('-');
    let Some(dash) = dash.filter(|d| line[..*d].trim().is_empty()) else {
        return Err(format!(
            "the pools of {file} are not a list of `- name:` blocks; add the pool by hand"
        ));
    };
    let pool = &sorted_labels(pool);
    let nl = newline(text);
    let block = pool_block(&" ".repeat(dash), pool).replace('\n', nl);
    // After the last pool's last line: the end of the list is where a line is indented no
    // deeper than its dashes (or the file ends).
    let last = old.pools.len() - 1;
    let start = doc.get(&format!("pools[{last}]")).map(|p| p.0).unwrap_or(l);
    let mut end = lines.len();
    for (k, line) in lines.iter().enumerate().skip(start) {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if line.len() - t.len() <= dash && !t.starts_with('-') {
            end = k;
            break;
        }
    }
    // Blank lines and comments right before the next key belong to it.
    while end > start && {
        let t = lines[end - 1].trim();
        t.is_empty() || (t.starts_with('#') && end < lines.len())
    } {
        end -= 1;
    }
    let mut out: String = lines[..end].concat();
    if !out.ends_with('\n') {
        out.push_str(nl);
    }
    out.push_str(nl);
    out.push_str(&block);
    out.push_str(&lines[end..].concat());
    let mut expected = old.clone();
    expected.pools.push(pool.clone());
    verify(&out, file, &expected)?;
    Ok(out)
}

/// The text without `pool`'s block.
pub fn remove_pool(text: &str, file: &str, pool: &str) -> Result<String, String> {
    let old = PoolsFile::parse(text, file).map_err(|e| e.to_string())?;
    let Some(i) = old.pools.iter().position(|p| p.name == pool) else {
        return Err(format!("{file} has no pool named {pool:?}"));
    };
    if old.pools.len() == 1 {
        return Err(format!(
            "{pool:?} is the only pool of {file}; a pools file needs one — delete the file instead"
        ));
    }
    let doc = places(text).into_iter().next().unwrap_or_default();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(&(l, c)) = doc.get(&format!("pools[{i}]")) else {
        return Err(format!("cannot find pool {pool:?} in {file}"));
    };
    let dash = lines[l - 1][..byte_at(lines[l - 1], c)]
        .rfind('-')
        .unwrap_or(0);
    let start = l - 1;
    let mut end = lines.len();
    for (k, line) in lines.iter().enumerate().skip(start + 1) {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if line.len() - t.len() <= dash {
            end = k;
            break;
        }
    }
    // Keep the blank lines and comments that lead into what follows.
    while end > start + 1 && {
        let t = lines[end - 1].trim();
        t.is_empty() || t.starts_with('#')
    } {
        end -= 1;
    }
    // And drop one blank line before the block, so pools stay one blank line apart.
    let mut from = start;
    if from > 0 && lines[from - 1].trim().is_empty() && end < lines.len() {
        from -= 1;
    }
    let out = format!("{}{}", lines[..from].concat(), lines[end..].concat());
    let mut expected = old.clone();
    expected.pools.remove(i);
    verify(&out, file, &expected)?;
    Ok(out)
}

/// The line ending the file uses.
fn newline(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

/// A pool whose labels are written as `matchLabels` lists them by key, as they read back.
fn sorted_labels(pool: &Pool) -> Pool {
    let mut pool = pool.clone();
    if let [term] = pool.selector.terms.as_mut_slice()
        && term
            .iter()
            .all(|r| r.operator == Operator::In && r.values.len() == 1)
    {
        term.sort_by(|a, b| a.key.cmp(&b.key));
    }
    pool
}

fn verify(text: &str, file: &str, expected: &PoolsFile) -> Result<(), String> {
    match PoolsFile::parse(text, file) {
        Ok(new) if &new == expected => Ok(()),
        _ => Err(format!(
            "could not rewrite {file} without changing something else; edit it by hand"
        )),
    }
}

/// Byte offset of 1-based column `col` (counted in characters) in `line`.
fn byte_at(line: &str, col: usize) -> usize {
    line.char_indices()
        .nth(col.saturating_sub(1))
        .map_or(line.len(), |(b, _)| b)
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value)
}

/// A string as a YAML scalar: plain when YAML reads it back as that same string.
fn scalar(value: &str) -> String {
    let plain_ok = serde_yaml::from_str::<serde_yaml::Value>(value)
        .ok()
        .and_then(|v| v.as_str().map(|s| s == value))
        .unwrap_or(false)
        && !value.contains(" #")
        && !value.contains(": ");
    if plain_ok {
        value.to_string()
    } else {
        serde_json::to_string(value).expect("a string serialises")
    }
}

/// A pool as a `- name:` block, each line starting with `indent`.
pub(crate) fn pool_block(indent: &str, pool: &Pool) -> String {
    let mut out = format!("{indent}- name: {}\n", scalar(&pool.name));
    let inner = format!("{indent}  ");
    match pool.selector.terms.as_slice() {
        [] => {}
        [term]
            if term
                .iter()
                .all(|r| r.operator == Operator::In && r.values.len() == 1) =>
        {
            out.push_str(&format!("{inner}nodeSelector:\n{inner}  matchLabels:\n"));
            for r in term {
                out.push_str(&format!(
                    "{inner}    {}: {}\n",
                    scalar(&r.key),
                    scalar(&r.values[0])
                ));
            }
        }
        [term] => {
            out.push_str(&format!(
                "{inner}nodeSelector:\n{inner}  matchExpressions:\n"
            ));
            for r in term {
                let values: Vec<String> = r.values.iter().map(|v| scalar(v)).collect();
                out.push_str(&format!(
                    "{inner}    - {{ key: {}, operator: {}, values: [{}] }}\n",
                    scalar(&r.key),
                    r.operator,
                    values.join(", ")
                ));
            }
        }
        _ => {
            // Several terms (ORed) have no pools-file form but a list of them.
            out.push_str(&format!("{inner}nodeSelector:\n{inner}  terms:\n"));
        }
    }
    if !pool.tolerations.is_empty() {
        out.push_str(&format!("{inner}tolerations:\n"));
        for t in &pool.tolerations {
            let mut fields = Vec::new();
            if !t.key.is_empty() {
                fields.push(format!("key: {}", scalar(&t.key)));
            }
            fields.push(format!(
                "operator: {}",
                match t.operator {
                    TolerationOperator::Equal => "Equal",
                    TolerationOperator::Exists => "Exists",
                }
            ));
            if t.operator == TolerationOperator::Equal {
                fields.push(format!("value: {}", scalar(&t.value)));
            }
            if let Some(e) = t.effect {
                fields.push(format!("effect: {}", e.as_str()));
            }
            if let Some(s) = t.toleration_seconds {
                fields.push(format!("tolerationSeconds: {s}"));
            }
            out.push_str(&format!("{inner}  - {{ {} }}\n", fields.join(", ")));
        }
    }
    out.push_str(&format!("{inner}images:\n"));
    for image in &pool.images {
        out.push_str(&format!("{inner}  - {}\n", scalar(image.written())));
    }
    if let Some(keep) = pool.keep {
        out.push_str(&format!("{inner}keep: {keep}\n"));
    }
    if let Some(protect) = &pool.protect {
        let list: Vec<String> = protect.iter().map(|p| scalar(p)).collect();
        out.push_str(&format!("{inner}protect: [{}]\n", list.join(", ")));
    }
    out
}

/// Replaces `path` with `text` atomically: a temporary file beside it, flushed, then renamed
/// over it (keeping the old file's permissions).
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    // A link is followed: the file it points to is the one replaced.
    let resolved;
    let path = if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        resolved = std::fs::canonicalize(path)?;
        resolved.as_path()
    } else {
        path
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "pools.yaml".into());
    let tmp = dir.join(format!(".{name}.kpreload-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests;
