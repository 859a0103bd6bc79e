//! The rows of the current list (pools, a pool's nodes, a node's images), after the filter.

use super::*;

impl App {
    /// The current list's rows, after the filter.
    pub fn rows(&self) -> Vec<Row> {
        let all = self.all_rows();
        let filter = &self.view().filter;
        if filter.is_empty() {
            return all;
        }
        let m = SkimMatcherV2::default();
        all.into_iter()
            .filter(|r| m.fuzzy_match(&r.key, filter).is_some())
            .collect()
    }

    pub(super) fn all_rows(&self) -> Vec<Row> {
        match &self.view().screen {
            Screen::Pools => {
                let mut rows: Vec<Row> = self
                    .overview
                    .pools
                    .iter()
                    .map(|p| Row {
                        key: p.pool.clone(),
                        opens: Some(Screen::Pool(p.pool.clone())),
                    })
                    .collect();
                rows.extend(self.overview.unpooled.iter().map(|n| Row {
                    key: n.clone(),
                    opens: Some(Screen::Node(n.clone())),
                }));
                rows
            }
            Screen::Pool(name) => self
                .overview
                .pools
                .iter()
                .find(|p| &p.pool == name)
                .map(|p| {
                    p.nodes
                        .iter()
                        .map(|n| Row {
                            key: n.node.clone(),
                            opens: Some(Screen::Node(n.node.clone())),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Screen::Node(name) => self
                .snapshot
                .nodes
                .iter()
                .find(|n| n.metadata.name.as_deref() == Some(name))
                .and_then(|n| n.status.as_ref()?.images.clone())
                .unwrap_or_default()
                .iter()
                .map(|i| Row {
                    key: crate::core::node_detail::display_name(i),
                    opens: None,
                })
                .collect(),
            Screen::Edit => Vec::new(),
            Screen::Findings => self
                .insight
                .as_ref()
                .map(|i| {
                    i.findings
                        .iter()
                        .map(|f| Row {
                            key: format!(
                                "{} {} {}",
                                f.severity.word(),
                                f.code,
                                f.pool.as_deref().unwrap_or("-")
                            ),
                            opens: f.pool.clone().map(Screen::Pool),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Screen::Plan => match &self.cleanup {
                Some(c) if matches!(c.phase, Phase::Preview | Phase::Confirm { .. }) => c
                    .lines()
                    .iter()
                    .map(|l| Row {
                        key: c.line_key(l),
                        opens: None,
                    })
                    .collect(),
                _ => Vec::new(),
            },
        }
    }

    pub fn selected_row(&self) -> Option<Row> {
        self.rows().into_iter().nth(self.view().selected)
    }

    /// Image columns of the pool matrix.
    pub(super) fn columns(&self) -> usize {
        match &self.view().screen {
            Screen::Pool(name) => self
                .overview
                .pools
                .iter()
                .find(|p| &p.pool == name)
                .map_or(0, |p| p.images.len()),
            _ => 0,
        }
    }

    /// Positions of the filter's matched characters in `text`, for highlighting.
    pub fn matches(&self, text: &str) -> Vec<usize> {
        let filter = &self.view().filter;
        if filter.is_empty() {
            return Vec::new();
        }
        SkimMatcherV2::default()
            .fuzzy_indices(text, filter)
            .map(|(_, i)| i)
            .unwrap_or_default()
    }
}
