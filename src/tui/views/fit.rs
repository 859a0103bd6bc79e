//! Text in the room it has: image references cut in the middle (the tag kept), plain text
//! cut at its end, and paragraphs wrapped at words. Widths count characters: references are
//! ASCII by their grammar, and the rest is ours.

/// Where a reference's tag or digest starts: the `@` of a digest, else the last `:` after
/// the last `/` (a registry's port, `registry.local:5000/app`, is not a tag).
fn suffix_start(image: &str) -> usize {
    if let Some(at) = image.find('@') {
        return at;
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    image[last_slash..]
        .rfind(':')
        .map_or(image.len(), |i| last_slash + i)
}

/// The first `width` characters of `text`, the last of them `…` when it was cut.
pub(crate) fn end(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// `text` in `width` characters, cut in the middle when it must: its start and its end
/// (the end a little longer: provider node names differ at their ends,
/// `gke-eu-1-ml-a…5f2a9c1e-x7kq`).
pub(crate) fn middle(text: &str, width: usize) -> String {
    let len = text.chars().count();
    if len <= width {
        return text.to_string();
    }
    if width < 3 {
        return end(text, width);
    }
    let tail = (width - 1).div_ceil(2);
    let head = width - 1 - tail;
    let start: String = text.chars().take(head).collect();
    let finish: String = text.chars().skip(len - tail).collect();
    format!("{start}…{finish}")
}

/// A repository name in `width`: whole; else its start, `…` and its last path segment
/// (`regis…/the-app`); else `…` and the last segment (`…pytorch`); else the last segment's
/// start (`tensor…`). A cut always shows its `…`: `pytorch/pytorch` is never drawn
/// `pytorch`, which is another image.
fn name_in(name: &str, width: usize) -> String {
    let len = name.chars().count();
    if len <= width {
        return name.to_string();
    }
    let Some(slash) = name.rfind('/') else {
        return end(name, width);
    };
    let last = &name[slash..];
    let last_len = last.chars().count();
    if last_len + 2 <= width {
        let head: String = name.chars().take(width - 1 - last_len).collect();
        return format!("{head}…{last}");
    }
    let segment = &last[1..];
    if last_len <= width {
        return format!("…{segment}");
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = segment.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// An image reference in `width` characters: whole when it fits; else cut in the middle,
/// the tag (or digest) kept whole when the name keeps a few characters beside it
/// (`registry.local:5000/the-app:v1.3` → `regis…/the-app:v1.3`), both cut at their ends
/// when not (`py…/pytorch:2.1.0-cuda12.1-…`).
pub(crate) fn image(image: &str, width: usize) -> String {
    let len = image.chars().count();
    if len <= width {
        return image.to_string();
    }
    let (name, suffix) = image.split_at(suffix_start(image));
    let name_len = name.chars().count();
    let suffix_len = suffix.chars().count();
    if suffix_len == 0 || name_len == 0 {
        return name_in(image, width);
    }
    // The name keeps two fifths of the room (six characters at least) or all of itself.
    let least = name_len.min((width * 2 / 5).max(6));
    if suffix_len + least <= width {
        return format!("{}{suffix}", name_in(name, width - suffix_len));
    }
    if width <= least + 1 {
        // No room for the tag: the name, marked cut (a bare name would read as `latest`).
        return if name_len <= width {
            end(image, width)
        } else {
            name_in(name, width)
        };
    }
    format!("{}{}", name_in(name, least), end(suffix, width - least))
}

/// `text` wrapped at spaces into lines of at most `width` characters; a word longer than a
/// line is broken. Always one line at least.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut line_len = 0;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let gap = usize::from(line_len > 0);
            if line_len + gap + word.len() <= width {
                if gap == 1 {
                    line.push(' ');
                }
                line.extend(word.iter());
                line_len += gap + word.len();
                break;
            }
            if line_len > 0 {
                lines.push(std::mem::take(&mut line));
                line_len = 0;
                continue;
            }
            // A word longer than a whole line: as much as fits, the rest on the next.
            let rest = word.split_off(width);
            lines.push(word.iter().collect());
            word = rest;
        }
    }
    if line_len > 0 || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// `lines` in `n`: the first and the last `n - 1` (a kubelet's message says why at its
/// end), the line after the cut starting its text with `…`; the first alone, cut, when
/// `n` is 1.
pub(crate) fn clip_keeping_end<'a>(
    mut lines: Vec<ratatui::text::Line<'a>>,
    n: usize,
) -> Vec<ratatui::text::Line<'a>> {
    if lines.len() <= n || n < 2 {
        return clip(lines, n);
    }
    let tail = lines.split_off(lines.len() - (n - 1));
    lines.truncate(1);
    for (k, mut line) in tail.into_iter().enumerate() {
        if k == 0
            && let Some(span) = line.spans.last_mut()
        {
            span.content = format!("…{}", span.content).into();
        }
        lines.push(line);
    }
    lines
}

/// The first `n` of `lines`; when some are left out, the last one kept ends in `…`.
pub(crate) fn clip<'a>(
    mut lines: Vec<ratatui::text::Line<'a>>,
    n: usize,
) -> Vec<ratatui::text::Line<'a>> {
    if lines.len() <= n {
        return lines;
    }
    lines.truncate(n);
    if let Some(span) = lines.last_mut().and_then(|l| l.spans.last_mut()) {
        let mut text: String = span.content.to_string();
        text.pop();
        text.push('…');
        span.content = text.into();
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_reference_that_fits_is_whole() {
        assert_eq!(image("nginx:1.25-alpine", 17), "nginx:1.25-alpine");
        assert_eq!(image("nginx:1.25-alpine", 40), "nginx:1.25-alpine");
    }

    #[test]
    fn the_tag_is_kept_and_the_name_cut_in_its_middle() {
        assert_eq!(
            image("registry.local:5000/the-app:v1.3", 19),
            "regis…/the-app:v1.3"
        );
        // The registry's port is not the tag.
        assert_eq!(image("registry.local:5000/the-app", 14), "regis…/the-app");
        assert_eq!(image("ghcr.io/acme/api:2.4.1", 16), "ghcr.…/api:2.4.1");
    }

    #[test]
    fn a_long_tag_and_name_are_both_cut_at_their_ends() {
        let torch = "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime";
        let cut = image(torch, 28);
        assert_eq!(cut, "py…/pytorch:2.1.0-cuda12.1-…");
        assert_eq!(cut.chars().count(), 28);
    }

    #[test]
    fn a_cut_name_always_shows_its_cut() {
        // `pytorch` alone would name Docker Hub's library image, not this one.
        let torch = "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime";
        assert_eq!(image(torch, 22), "…pytorch:2.1.0-cuda12…");
        assert_eq!(
            image("tensorflow/tensorflow:2.15.0-gpu", 18),
            "tensor…:2.15.0-gpu"
        );
        // A last segment exactly as wide as the room is cut too.
        assert_eq!(image("acme/abcdef:v1", 9), "abcde…:v1");
        // No room for the tag: the name is marked cut (bare, it would read as `latest`).
        assert_eq!(image("abcdef:v1", 7), "abcdef…");
        assert_eq!(image("aa@sha256:00", 2), "a…");
    }

    #[test]
    fn a_digest_keeps_its_start() {
        let pinned = format!("nginx@sha256:{}", "ab".repeat(32));
        assert_eq!(image(&pinned, 24), "nginx@sha256:ababababab…");
    }

    #[test]
    fn a_name_without_room_for_its_path_keeps_its_last_segment_start() {
        assert_eq!(
            image("registry.local:5000/the-application:v1", 9),
            "the-a…:v1"
        );
    }

    #[test]
    fn a_node_name_keeps_its_start_and_its_end() {
        assert_eq!(
            middle("gke-eu-1-ml-a100-pool-5f2a9c1e-x7kq", 26),
            "gke-eu-1-ml-…5f2a9c1e-x7kq"
        );
        assert_eq!(middle("web-1", 26), "web-1");
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_splits_long_words() {
        assert_eq!(wrap("one two three", 7), ["one two", "three"]);
        assert_eq!(wrap("abcdefghij x", 4), ["abcd", "efgh", "ij x"]);
        assert_eq!(wrap("", 5), [""]);
    }

    #[test]
    fn a_message_cut_short_keeps_its_start_and_its_end() {
        use ratatui::text::Line;
        let lines: Vec<Line> = ["Failed to pull", "image \"x\":", "429 Too Many Requests"]
            .into_iter()
            .map(Line::from)
            .collect();
        let two = clip_keeping_end(lines.clone(), 2);
        assert_eq!(
            two,
            [
                Line::from("Failed to pull"),
                Line::from("…429 Too Many Requests")
            ]
        );
        assert_eq!(
            clip_keeping_end(lines.clone(), 1),
            [Line::from("Failed to pul…")]
        );
        assert_eq!(clip_keeping_end(lines.clone(), 3), lines);
    }

    proptest! {
        #[test]
        fn a_cut_reference_never_exceeds_its_room(s in "[a-z0-9./:@-]{0,80}", w in 0usize..90) {
            let out = image(&s, w);
            prop_assert!(out.chars().count() <= w, "{s:?} in {w}: {out:?}");
            if s.chars().count() <= w {
                prop_assert_eq!(out, s);
            } else if w > 0 {
                prop_assert!(out.contains('…'), "a cut shows itself: {s:?} in {w}: {out:?}");
            }
        }

        #[test]
        fn a_middle_cut_never_exceeds_its_room(s in "[a-z0-9-]{0,80}", w in 0usize..90) {
            let out = middle(&s, w);
            prop_assert!(out.chars().count() <= w);
            if s.chars().count() <= w {
                prop_assert_eq!(out, s);
            }
        }

        #[test]
        fn wrapped_lines_fit_and_keep_every_word(s in "[a-z ]{0,120}", w in 1usize..30) {
            let lines = wrap(&s, w);
            prop_assert!(lines.iter().all(|l| l.chars().count() <= w));
            let words: String = s.split_whitespace().collect();
            let back: String = lines.iter().flat_map(|l| l.split_whitespace()).collect();
            prop_assert_eq!(back, words);
        }
    }
}
