//! A TODO.md read into structure: its headings as sections, the checkboxes of each as a
//! tree, and done/total counts per section and overall. Pure: no I/O.
//!
//! - Checkboxes: a list marker (`-`, `*`, `+`, or a number with `.` or `)`) followed by
//!   `[ ]` (pending), `[x]`/`[X]` (done) or `[-]` (in progress, as Roo Code writes it).
//!   Other list items and text are not counted.
//! - Nesting follows indentation (spaces; a tab is to the next multiple of 4): an item is
//!   a child of the closest checkbox above it that is less indented. Nesting deeper than
//!   [`MAX_DEPTH`] is kept at that depth.
//! - Every ATX heading (`#` to `######`) starts a section, even one without checkboxes;
//!   checkboxes before the first heading go into a section whose heading is `None`.
//!   Lines inside fenced code blocks (```` ``` ```` or `~~~`) are ignored.
//! - Counts (`done`, `total`, `in_progress`) include items at every depth.

use serde::Serialize;

/// The deepest nesting kept (0 is a top-level item).
pub const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Pending,
    InProgress,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TodoItem {
    pub text: String,
    pub done: bool,
    pub state: ItemState,
    /// 0 for a top-level item.
    pub depth: usize,
    /// 1-based line number.
    pub line: usize,
    pub children: Vec<TodoItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TodoSection {
    /// `None` for the checkboxes before the first heading.
    pub heading: Option<String>,
    /// The heading's level (1 to 6); 0 without a heading.
    pub level: u8,
    /// The heading's line.
    pub line: Option<usize>,
    pub done: usize,
    pub in_progress: usize,
    pub total: usize,
    pub items: Vec<TodoItem>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TodoStatus {
    pub sections: Vec<TodoSection>,
    pub done: usize,
    pub in_progress: usize,
    pub total: usize,
}

/// Reads `text` (see the module documentation).
pub fn parse(text: &str) -> TodoStatus {
    let mut status = TodoStatus::default();
    let mut builder = SectionBuilder::new(None, 0, None);
    let mut fence: Option<char> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_start();
        if let Some(marker) = fence {
            if trimmed.starts_with(&format!("{marker}{marker}{marker}")) {
                fence = None;
            }
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = trimmed.chars().next();
            continue;
        }
        if let Some((level, heading)) = heading(line) {
            builder.finish(&mut status);
            builder = SectionBuilder::new(Some(heading), level, Some(number));
            continue;
        }
        if let Some((indent, state, text)) = checkbox(line) {
            builder.push(indent, state, text, number);
        }
    }
    builder.finish(&mut status);
    status
}

/// A section being read: its finished top-level items and the chain of open ones.
struct SectionBuilder {
    section: TodoSection,
    /// The items that can still get children, outermost first, with their indentation.
    open: Vec<(usize, TodoItem)>,
}

impl SectionBuilder {
    fn new(heading: Option<String>, level: u8, line: Option<usize>) -> Self {
        SectionBuilder {
            section: TodoSection {
                heading,
                level,
                line,
                done: 0,
                in_progress: 0,
                total: 0,
                items: Vec::new(),
            },
            open: Vec::new(),
        }
    }

    fn push(&mut self, indent: usize, state: ItemState, text: String, line: usize) {
        while self.open.last().is_some_and(|(open, _)| *open >= indent) {
            self.close();
        }
        if self.open.len() > MAX_DEPTH {
            self.close();
        }
        self.section.total += 1;
        match state {
            ItemState::Done => self.section.done += 1,
            ItemState::InProgress => self.section.in_progress += 1,
            ItemState::Pending => {}
        }
        let item = TodoItem {
            text,
            done: state == ItemState::Done,
            state,
            depth: self.open.len(),
            line,
            children: Vec::new(),
        };
        self.open.push((indent, item));
    }

    /// Closes the innermost open item: it becomes its parent's last child.
    fn close(&mut self) {
        if let Some((_, item)) = self.open.pop() {
            match self.open.last_mut() {
                Some((_, parent)) => parent.children.push(item),
                None => self.section.items.push(item),
            }
        }
    }

    fn finish(mut self, status: &mut TodoStatus) {
        while !self.open.is_empty() {
            self.close();
        }
        // Checkboxes before the first heading make a section; nothing before it does not.
        if self.section.heading.is_none() && self.section.total == 0 {
            return;
        }
        status.done += self.section.done;
        status.in_progress += self.section.in_progress;
        status.total += self.section.total;
        status.sections.push(self.section);
    }
}

/// An ATX heading's level and text.
fn heading(line: &str) -> Option<(u8, String)> {
    let leading = line.len() - line.trim_start_matches(' ').len();
    if leading > 3 {
        return None;
    }
    let rest = &line[leading..];
    let level = rest.len() - rest.trim_start_matches('#').len();
    if !(1..=6).contains(&level) {
        return None;
    }
    let text = &rest[level..];
    if !text.is_empty() && !text.starts_with([' ', '\t']) {
        return None;
    }
    let text = text.trim();
    // A closing sequence of #s (after a space) is not part of the text.
    let stripped = text.trim_end_matches('#');
    let text = if stripped.is_empty() || stripped.ends_with([' ', '\t']) {
        stripped.trim_end()
    } else {
        text
    };
    Some((level as u8, text.to_owned()))
}

/// A checkbox line's indentation, state and text.
fn checkbox(line: &str) -> Option<(usize, ItemState, String)> {
    let body = line.trim_start_matches([' ', '\t']);
    let indent = line[..line.len() - body.len()].chars().fold(0, |width, c| {
        if c == '\t' {
            (width / 4 + 1) * 4
        } else {
            width + 1
        }
    });
    let after_marker = list_marker(body)?;
    let rest = after_marker.trim_start_matches([' ', '\t']);
    if rest.len() == after_marker.len() {
        return None;
    }
    let mut chars = rest.chars();
    if chars.next() != Some('[') {
        return None;
    }
    let state = match chars.next()? {
        ' ' => ItemState::Pending,
        'x' | 'X' => ItemState::Done,
        '-' => ItemState::InProgress,
        _ => return None,
    };
    if chars.next() != Some(']') {
        return None;
    }
    let text = chars.as_str();
    if !text.is_empty() && !text.starts_with([' ', '\t']) {
        return None;
    }
    Some((indent, state, text.trim().to_owned()))
}

/// What follows a list marker (`-`, `*`, `+`, `1.`, `1)`).
fn list_marker(body: &str) -> Option<&str> {
    if let Some(rest) = body.strip_prefix(['-', '*', '+']) {
        return Some(rest);
    }
    let digits = body.len() - body.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if !(1..=9).contains(&digits) {
        return None;
    }
    body[digits..].strip_prefix(['.', ')'])
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/roo/TODO.md"
    ));

    fn texts(items: &[TodoItem]) -> Vec<(&str, bool, usize)> {
        items
            .iter()
            .map(|item| (item.text.as_str(), item.done, item.depth))
            .collect()
    }

    #[test]
    fn the_fixture() {
        let status = parse(FIXTURE);
        assert_eq!((status.done, status.total, status.in_progress), (3, 7, 0));
        assert_eq!(status.sections.len(), 2);
        let title = &status.sections[0];
        assert_eq!(title.heading.as_deref(), Some("TODO"));
        assert_eq!((title.level, title.line, title.total), (1, Some(1), 0));
        let current = &status.sections[1];
        assert_eq!(current.heading.as_deref(), Some("Current priorities"));
        assert_eq!(current.level, 2);
        assert_eq!((current.done, current.total), (3, 7));
        assert_eq!(
            texts(&current.items),
            vec![
                ("Schedule-driven hierarchy implementation", true, 0),
                ("Dual-priority time tracking system", true, 0),
                ("MCP server development", false, 0),
                ("Enhanced monitoring", false, 0),
                ("Performance benchmarking", false, 0),
            ]
        );
        let mcp = &current.items[2];
        assert_eq!(mcp.line, 6);
        assert_eq!(
            texts(&mcp.children),
            vec![
                ("Streamable HTTP transport", false, 1),
                ("stdio transport", true, 1)
            ]
        );
        assert!(current.items[3].children.is_empty());
    }

    #[test]
    fn markers_states_tabs_and_items_before_any_heading() {
        let text = "- [ ] loose\n\
            * [X] star\n\
            \t1. [x] numbered child (tab)\n\
            \t\t2) [-] grandchild in progress\n\
            + [ ]\n\
            - [y] not a checkbox\n\
            - plain item\n\
            -[ ] no space\n\
            - [ ]x glued\n\
            # Next\n\
            10. [ ] ten\n";
        let status = parse(text);
        assert_eq!(status.sections.len(), 2);
        let first = &status.sections[0];
        assert_eq!(
            (first.heading.as_deref(), first.level, first.line),
            (None, 0, None)
        );
        assert_eq!((first.done, first.in_progress, first.total), (2, 1, 5));
        assert_eq!(
            texts(&first.items),
            vec![("loose", false, 0), ("star", true, 0), ("", false, 0)]
        );
        let child = &first.items[1].children[0];
        assert_eq!(
            (child.text.as_str(), child.depth),
            ("numbered child (tab)", 1)
        );
        let grandchild = &child.children[0];
        assert_eq!(grandchild.state, ItemState::InProgress);
        assert_eq!((grandchild.depth, grandchild.done), (2, false));
        assert_eq!(status.sections[1].total, 1);
        assert_eq!((status.done, status.total, status.in_progress), (2, 6, 1));
    }

    #[test]
    fn dedenting_closes_items_and_blank_lines_do_not() {
        let text = "## A ##\n\
            - [ ] a\n    - [ ] a1\n\n        - [x] a1x\n  - [ ] a2\n- [x] b\n   - [ ] b1\n";
        let status = parse(text);
        let section = &status.sections[0];
        assert_eq!(section.heading.as_deref(), Some("A"));
        assert_eq!(texts(&section.items), vec![("a", false, 0), ("b", true, 0)]);
        let a = &section.items[0];
        assert_eq!(texts(&a.children), vec![("a1", false, 1), ("a2", false, 1)]);
        assert_eq!(texts(&a.children[0].children), vec![("a1x", true, 2)]);
        assert_eq!(texts(&section.items[1].children), vec![("b1", false, 1)]);
        assert_eq!((section.done, section.total), (2, 6));
    }

    #[test]
    fn fences_headings_and_odd_input() {
        let text = "```md\n- [ ] inside a fence\n# not a heading\n```\n\
            #not a heading\n####### seven\n    # indented code\n# \n- [x] under an empty heading\n";
        let status = parse(text);
        assert_eq!(status.sections.len(), 1);
        assert_eq!(status.sections[0].heading.as_deref(), Some(""));
        assert_eq!((status.done, status.total), (1, 1));
        assert_eq!(parse(""), TodoStatus::default());
        assert_eq!(parse("just text\r\n").sections.len(), 0);
        let crlf = parse("# T\r\n- [x] done\r\n");
        assert_eq!(crlf.sections[0].items[0].text, "done");
        // Nesting deeper than MAX_DEPTH is kept at MAX_DEPTH.
        let deep: String = (0..40)
            .map(|depth| format!("{}- [ ] level {depth}\n", " ".repeat(depth)))
            .collect();
        let status = parse(&deep);
        assert_eq!(status.total, 40);
        let mut item = &status.sections[0].items[0];
        let mut max = 0;
        while let Some(child) = item.children.last() {
            item = child;
            max = max.max(item.depth);
        }
        assert_eq!(max, MAX_DEPTH);
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["total"], 40);
        assert_eq!(json["sections"][0]["items"][0]["state"], "pending");
    }
}
