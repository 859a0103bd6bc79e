//! Label selector requirements, as the API server reads `labelSelector` and as node affinity's
//! `matchExpressions` are evaluated (Kubernetes' "Labels and Selectors" and "Assigning Pods
//! to Nodes" pages):
//! - equality: `key=value`, `key==value`, `key!=value` (true when the key is absent too);
//! - sets: `key in (a,b)`, `key notin (a,b)` (true when the key is absent), `key`, `!key`;
//! - node affinity's `Gt` and `Lt`: the label's value and the bound read as integers,
//!   false when either does not.

use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

impl Op {
    /// The operator as node affinity spells it.
    pub fn from_affinity(text: &str) -> Option<Op> {
        Some(match text {
            "In" => Op::In,
            "NotIn" => Op::NotIn,
            "Exists" => Op::Exists,
            "DoesNotExist" => Op::DoesNotExist,
            "Gt" => Op::Gt,
            "Lt" => Op::Lt,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
    pub values: Vec<String>,
}

impl Requirement {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.op {
            Op::In => value.is_some_and(|v| self.values.iter().any(|w| w == v)),
            Op::NotIn => value.is_none_or(|v| !self.values.iter().any(|w| w == v)),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
            Op::Gt | Op::Lt => {
                let (Some(v), [bound]) = (value, self.values.as_slice()) else {
                    return false;
                };
                match (v.parse::<i64>(), bound.parse::<i64>()) {
                    (Ok(v), Ok(b)) if self.op == Op::Gt => v > b,
                    (Ok(v), Ok(b)) => v < b,
                    _ => false,
                }
            }
        }
    }
}

/// Parses a `labelSelector` query: `a=b,c!=d,e in (x,y),f notin (z),g,!h`.
pub fn parse(text: &str) -> Result<Vec<Requirement>, String> {
    let mut out = Vec::new();
    for part in split_top_level(text) {
        let part = part.trim();
        if !part.is_empty() {
            out.push(parse_requirement(part)?);
        }
    }
    Ok(out)
}

/// An object's `metadata.labels`.
pub fn of(object: &serde_json::Value) -> BTreeMap<String, String> {
    object["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Every requirement holds (an empty selector selects everything).
pub fn matches_all(requirements: &[Requirement], labels: &BTreeMap<String, String>) -> bool {
    requirements.iter().all(|r| r.matches(labels))
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    let bad = || format!("unable to parse requirement: {part}");
    if let Some(key) = part.strip_prefix('!') {
        return requirement(key.trim(), Op::DoesNotExist, vec![]).ok_or_else(bad);
    }
    for (word, op) in [(" notin ", Op::NotIn), (" in ", Op::In)] {
        if let Some(at) = part.find(word) {
            let key = part[..at].trim();
            let inner = part[at + word.len()..]
                .trim()
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(bad)?;
            let values = inner
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            return requirement(key, op, values).ok_or_else(bad);
        }
    }
    for (sym, op) in [
        ("!=", Op::NotIn),
        ("==", Op::In),
        ("=", Op::In),
        (">", Op::Gt),
        ("<", Op::Lt),
    ] {
        if let Some((key, value)) = part.split_once(sym) {
            return requirement(key.trim(), op, vec![value.trim().to_string()]).ok_or_else(bad);
        }
    }
    requirement(part, Op::Exists, vec![]).ok_or_else(bad)
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of up to 63
/// characters; anything else is not a key.
fn requirement(key: &str, op: Op, values: Vec<String>) -> Option<Requirement> {
    let valid = !key.is_empty()
        && key.len() <= 317
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    valid.then(|| Requirement {
        key: key.to_string(),
        op,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selector_syntax_of_the_labels_page() {
        let labels: BTreeMap<String, String> = [("app", "x"), ("tier", "web"), ("n", "5")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (selector, want) in [
            ("app=x", true),
            ("app==x", true),
            ("app!=x", false),
            ("missing!=x", true),
            ("tier in (web, db)", true),
            ("tier notin (web)", false),
            ("missing notin (web)", true),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("app=x,tier in (db)", false),
            ("n>3", true),
            ("n<3", false),
            ("tier>3", false),
            ("", true),
        ] {
            let r = parse(selector).unwrap();
            assert_eq!(matches_all(&r, &labels), want, "{selector}");
        }
        assert!(parse("a in x").is_err());
        assert!(parse("a b").is_err());
    }
}
