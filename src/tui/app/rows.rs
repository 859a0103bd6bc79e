//! The rows of the current screen's list (see each screen's `rows`), after the filter.

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
