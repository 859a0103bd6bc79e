//! Where each value of a YAML document stands, so that a mistake found after parsing (a bad
//! image reference, a duplicate pool) is reported at its own line and column.
//!
//! serde_yaml locates syntax and shape errors well, but a check made inside a `Deserialize`
//! impl is reported at its parent container. So files are parsed into plain structs first,
//! checked second, and the checks name the path (`pools[0].images[1]`, serde_yaml's own
//! notation) that this index turns into a place.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Line and column (both from 1) of every value, by path, for each document of a stream.
pub fn places(text: &str) -> Vec<HashMap<String, (usize, usize)>> {
    let mut index = Index::default();
    let mut parser = Parser::new_from_str(text);
    // A syntax error is reported by serde_yaml, which reads the same text; stop quietly.
    let _ = parser.load(&mut index, true);
    index.documents
}

enum Frame {
    /// `start` is kept until the first key is seen: a block mapping's start event is marked
    /// at its first colon, and the first key is where a person sees the mapping begin.
    Map {
        path: String,
        key: Option<String>,
        start: Option<(usize, usize)>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

#[derive(Default)]
struct Index {
    documents: Vec<HashMap<String, (usize, usize)>>,
    stack: Vec<Frame>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Index {
    /// The path of the node starting now, or None when the node is a mapping key.
    fn next_path(&mut self, scalar: Option<&str>) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                Some(p)
            }
            Some(Frame::Map { path, key, .. }) => match key.take() {
                Some(k) => Some(join(path, &k)),
                None => {
                    *key = Some(scalar.unwrap_or("?").to_string());
                    None
                }
            },
        }
    }

    fn record(&mut self, path: &str, place: (usize, usize)) {
        if let Some(doc) = self.documents.last_mut() {
            doc.entry(path.to_string()).or_insert(place);
        }
    }

    /// Records the innermost mapping's own place once its first key is seen (or it ends).
    fn settle_mapping(&mut self, key_place: Option<(usize, usize)>) {
        if let Some(Frame::Map { path, start, .. }) = self.stack.last_mut()
            && let Some(start) = start.take()
        {
            let place = key_place.map_or(start, |k| k.min(start));
            let path = path.clone();
            self.record(&path, place);
        }
    }
}

impl MarkedEventReceiver for Index {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let place = (mark.line(), mark.col() + 1);
        match ev {
            Event::DocumentStart => {
                self.documents.push(HashMap::new());
                self.stack.clear();
            }
            Event::Scalar(value, ..) => {
                self.settle_mapping(Some(place));
                if let Some(path) = self.next_path(Some(&value)) {
                    self.record(&path, place);
                }
            }
            Event::Alias(_) => {
                self.settle_mapping(Some(place));
                if let Some(path) = self.next_path(Some("*")) {
                    self.record(&path, place);
                }
            }
            Event::SequenceStart(..) => {
                self.settle_mapping(Some(place));
                let path = self.next_path(None).unwrap_or_else(|| "?".into());
                self.record(&path, place);
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingStart(..) => {
                self.settle_mapping(Some(place));
                let path = self.next_path(None).unwrap_or_else(|| "?".into());
                self.stack.push(Frame::Map {
                    path,
                    key: None,
                    start: Some(place),
                });
            }
            Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::MappingEnd => {
                self.settle_mapping(None);
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_nested_values() {
        let text = "keep: 2\npools:\n  - name: web\n    images:\n      - nginx:1.25\n      - Nginx:1.26\n---\nkind: Node\n";
        let docs = places(text);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["keep"], (1, 7));
        assert_eq!(docs[0]["pools[0].name"], (3, 11));
        assert_eq!(docs[0]["pools[0].images[1]"], (6, 9));
        assert_eq!(docs[1]["kind"], (8, 7));
        assert_eq!(docs[0][""], (1, 1));
        assert_eq!(docs[0]["pools[0]"], (3, 5));
    }

    #[test]
    fn a_block_mapping_starts_at_its_first_key() {
        let docs = places(
            "a:
  - b: 1
    c: {}
  - { d: 2 }
",
        );
        assert_eq!(docs[0]["a[0]"], (2, 5));
        assert_eq!(docs[0]["a[0].c"], (3, 8));
        assert_eq!(docs[0]["a[1]"], (4, 5));
    }

    #[test]
    fn flow_style() {
        let docs = places("pools: [{name: a, images: [x, y]}]\n");
        assert_eq!(docs[0]["pools[0].images[1]"], (1, 31));
    }
}
