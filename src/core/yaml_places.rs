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
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
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
            Some(Frame::Map { path, key }) => match key.take() {
                Some(k) => Some(join(path, &k)),
                None => {
                    *key = Some(scalar.unwrap_or("?").to_string());
                    None
                }
            },
        }
    }

    fn record(&mut self, path: &str, mark: Marker) {
        if let Some(doc) = self.documents.last_mut() {
            doc.entry(path.to_string())
                .or_insert((mark.line(), mark.col() + 1));
        }
    }
}

impl MarkedEventReceiver for Index {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::DocumentStart => {
                self.documents.push(HashMap::new());
                self.stack.clear();
            }
            Event::Scalar(value, ..) => {
                if let Some(path) = self.next_path(Some(&value)) {
                    self.record(&path, mark);
                }
            }
            Event::Alias(_) => {
                if let Some(path) = self.next_path(Some("*")) {
                    self.record(&path, mark);
                }
            }
            Event::SequenceStart(..) => {
                let path = self.next_path(None).unwrap_or_else(|| "?".into());
                self.record(&path, mark);
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingStart(..) => {
                let path = self.next_path(None).unwrap_or_else(|| "?".into());
                self.record(&path, mark);
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceEnd | Event::MappingEnd => {
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
    }

    #[test]
    fn flow_style() {
        let docs = places("pools: [{name: a, images: [x, y]}]\n");
        assert_eq!(docs[0]["pools[0].images[1]"], (1, 31));
    }
}
