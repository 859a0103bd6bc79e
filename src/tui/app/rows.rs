//! The rows of the current screen's list (see each screen's `rows`), after the filter.

use super::*;

impl App {
    /// The current list's rows, after the filter.
    pub fn rows(&self) -> Vec<Row> {
        let all = self.all_rows();
        let filter = self.filter();
        if filter.keeps_all() {
            return all;
        }
        all.into_iter().filter(|r| filter.keeps(&r.key)).collect()
    }

    /// The current list's filter, for a screen that walks its own rows without building
    /// them (a 500-node pool, every frame); it keeps what [`App::rows`] keeps.
    pub(crate) fn filter(&self) -> RowFilter<'_> {
        let text = self.view().filter.as_str();
        RowFilter {
            text,
            matcher: (!text.is_empty()).then(SkimMatcherV2::default),
        }
    }

    pub(super) fn all_rows(&self) -> Vec<Row> {
        self.view().screen.component().rows(self)
    }

    pub(crate) fn selected_row(&self) -> Option<Row> {
        self.rows().into_iter().nth(self.view().selected)
    }

    /// Columns the current screen scrolls sideways through.
    pub(super) fn columns(&self) -> usize {
        self.view().screen.component().columns(self)
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

/// Which rows' keys the filter keeps (a fuzzy match; all of them with no filter).
pub(crate) struct RowFilter<'a> {
    text: &'a str,
    matcher: Option<SkimMatcherV2>,
}

impl RowFilter<'_> {
    pub(crate) fn keeps_all(&self) -> bool {
        self.matcher.is_none()
    }

    pub(crate) fn keeps(&self, key: &str) -> bool {
        match &self.matcher {
            None => true,
            Some(m) => m.fuzzy_match(key, self.text).is_some(),
        }
    }
}
