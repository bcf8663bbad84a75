//! Regex search over the project's files with ripgrep's crates (`grep-regex`,
//! `grep-searcher`), walking with [`Sandbox::walk`].

use std::{collections::BTreeMap, fs, path::Path};

use grep_regex::RegexMatcherBuilder;
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkMatch};
use serde::{Deserialize, Serialize};

use super::{
    FileError, Sandbox, display_rel,
    io::open_regular,
    walk::{Item, MAX_SKIPPED, Skipped, WalkSpec},
};

/// Most context lines before and after a match.
pub const MAX_CONTEXT_LINES: usize = 20;
/// Longer lines are cut here (characters), ending with `…`.
pub const MAX_LINE_CHARS: usize = 500;

/// Options of [`Sandbox::search`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchOptions {
    /// A directory to search recursively, or one file (default the root).
    pub path: String,
    /// Only files matching one of these globs (see [`ListOptions::globs`](super::ListOptions::globs)).
    pub globs: Vec<String>,
    /// No files matching these globs, nothing below directories matching them.
    pub exclude: Vec<String>,
    pub case_insensitive: bool,
    /// The pattern is a literal string, not a regex.
    pub fixed_strings: bool,
    /// Lines before and after each match (at most 20).
    pub context_lines: usize,
    /// Most matches returned; capped by the limits.
    pub max_matches: Option<usize>,
    /// Larger files are skipped; capped by the limits.
    pub max_file_bytes: Option<u64>,
    /// Levels below `path`; capped by the limits.
    pub max_depth: Option<usize>,
    /// Search dot files and directories too.
    pub include_hidden: bool,
    /// Honour `.gitignore` and `.ignore` (default true).
    pub respect_gitignore: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            path: ".".into(),
            globs: Vec::new(),
            exclude: Vec::new(),
            case_insensitive: false,
            fixed_strings: false,
            context_lines: 0,
            max_matches: None,
            max_file_bytes: None,
            max_depth: None,
            include_hidden: false,
            respect_gitignore: true,
        }
    }
}

/// One matching line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchMatch {
    /// Relative to the root.
    pub path: String,
    /// 1-based.
    pub line_number: u64,
    /// The line without its terminator (cut at 500 characters).
    pub line: String,
    /// Up to `context_lines` lines before, nearest last.
    pub before: Vec<String>,
    /// Up to `context_lines` lines after.
    pub after: Vec<String>,
}

/// What [`Sandbox::search`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResult {
    pub pattern: String,
    /// In path order, then line order.
    pub matches: Vec<SearchMatch>,
    /// Text files searched.
    pub files_searched: usize,
    /// Files with at least one match.
    pub files_matched: usize,
    /// Files skipped because they contain binary data (a NUL byte).
    pub binary_files_skipped: usize,
    /// Whether the search stopped at `max_matches`.
    pub truncated: bool,
    /// Symlinks leading out of the root, special files, files too large, unreadable
    /// paths (at most 100).
    pub skipped: Vec<Skipped>,
}

impl Sandbox {
    /// Searches files for a regex (or a literal string).
    pub fn search(&self, pattern: &str, opts: &SearchOptions) -> Result<SearchResult, FileError> {
        let matcher = RegexMatcherBuilder::new()
            .case_insensitive(opts.case_insensitive)
            .fixed_strings(opts.fixed_strings)
            .line_terminator(Some(b'\n'))
            .build(pattern)
            .map_err(|e| FileError::BadRegex {
                pattern: pattern.into(),
                reason: e.to_string(),
            })?;
        let context = opts.context_lines.min(MAX_CONTEXT_LINES);
        let mut searcher = SearcherBuilder::new()
            .line_number(true)
            .binary_detection(BinaryDetection::quit(0))
            .before_context(context)
            .after_context(context)
            .build();
        let max_matches = opts
            .max_matches
            .unwrap_or(self.limits.max_matches)
            .min(self.limits.max_matches);
        let max_file_bytes = opts
            .max_file_bytes
            .unwrap_or(self.limits.max_search_file_bytes)
            .min(self.limits.max_search_file_bytes);
        let mut out = SearchResult {
            pattern: pattern.into(),
            matches: Vec::new(),
            files_searched: 0,
            files_matched: 0,
            binary_files_skipped: 0,
            truncated: false,
            skipped: Vec::new(),
        };

        let r = self.resolve(if opts.path.is_empty() {
            "."
        } else {
            &opts.path
        })?;
        if !r.exists {
            return Err(FileError::NotFound {
                path: r.shown(),
                hint: "; search \".\" for the whole project".into(),
            });
        }
        let mut run = Run {
            searcher: &mut searcher,
            matcher: &matcher,
            context: context as u64,
            max_matches,
            max_file_bytes,
            out: &mut out,
        };
        if fs::metadata(&r.real).is_ok_and(|m| !m.is_dir()) {
            // One file: searched as given (globs do not apply), problems are errors.
            if self.in_backup_dir(&r.real) {
                return Err(FileError::InBackupDir { path: r.shown() });
            }
            run.file(&r.real, &r.rel)?;
            return Ok(out);
        }
        let r = self.resolve_dir(&r.shown())?;
        let spec = WalkSpec {
            globs: &opts.globs,
            exclude: &opts.exclude,
            max_depth: opts.max_depth.unwrap_or(self.limits.max_depth),
            include_hidden: opts.include_hidden,
            respect_gitignore: opts.respect_gitignore,
        };
        self.walk(&r, &spec, |item| {
            let skipped = match item {
                Item::File { entry, rel } => match run.file(entry.path(), rel) {
                    Ok(()) => None,
                    Err(e) => Some(Skipped {
                        path: display_rel(rel),
                        reason: e.to_string(),
                    }),
                },
                Item::Skipped(skipped) => Some(skipped),
                // Symlinks inside the root: their targets are searched where they are.
                Item::Dir { .. } | Item::Symlink { .. } => None,
            };
            if let Some(skipped) = skipped
                && run.out.skipped.len() < MAX_SKIPPED
            {
                run.out.skipped.push(skipped);
            }
            // With the budget used up, the walk goes on until one more match shows
            // that the results are truncated.
            !run.out.truncated
        })?;
        Ok(out)
    }
}

/// One search in progress.
struct Run<'a> {
    searcher: &'a mut Searcher,
    matcher: &'a grep_regex::RegexMatcher,
    context: u64,
    max_matches: usize,
    max_file_bytes: u64,
    out: &'a mut SearchResult,
}

impl Run<'_> {
    /// Searches one regular file; a binary file is counted, not searched.
    fn file(&mut self, path: &Path, rel: &Path) -> Result<(), FileError> {
        let shown = display_rel(rel);
        let (file, meta) = open_regular(path, &shown)?;
        if meta.len() > self.max_file_bytes {
            return Err(FileError::TooLarge {
                path: shown,
                detail: format!(
                    "{} bytes, more than the search limit of {} bytes per file; read it in ranges instead",
                    meta.len(),
                    self.max_file_bytes
                ),
            });
        }
        let budget = self.max_matches.saturating_sub(self.out.matches.len());
        let mut sink = Collect::new(self.context, budget);
        self.searcher
            .search_file(self.matcher, &file, &mut sink)
            .map_err(|e| FileError::io("search", shown.clone(), e))?;
        if sink.binary {
            self.out.binary_files_skipped += 1;
            return Ok(());
        }
        self.out.files_searched += 1;
        self.out.truncated |= sink.overflow;
        if !sink.matched.is_empty() {
            self.out.files_matched += 1;
        }
        self.out.matches.extend(sink.into_matches(&shown));
        Ok(())
    }
}

/// Collects one file's matches and the lines around them.
struct Collect {
    context: u64,
    /// Every line reported, match or context, by number.
    lines: BTreeMap<u64, String>,
    matched: Vec<u64>,
    budget: usize,
    /// A match beyond the budget was seen.
    overflow: bool,
    binary: bool,
}

impl Collect {
    fn new(context: u64, budget: usize) -> Collect {
        Collect {
            context,
            lines: BTreeMap::new(),
            matched: Vec::new(),
            budget,
            overflow: false,
            binary: false,
        }
    }

    /// Whether line `n` is still after-context of the last recorded match.
    fn in_tail(&self, n: u64) -> bool {
        self.matched
            .last()
            .is_some_and(|&last| n <= last.saturating_add(self.context))
    }

    fn into_matches(self, path: &str) -> Vec<SearchMatch> {
        let lines = |range: std::ops::RangeInclusive<u64>| -> Vec<String> {
            range.filter_map(|n| self.lines.get(&n).cloned()).collect()
        };
        self.matched
            .iter()
            .map(|&n| SearchMatch {
                path: path.into(),
                line_number: n,
                line: self.lines.get(&n).cloned().unwrap_or_default(),
                before: if self.context == 0 || n <= 1 {
                    Vec::new()
                } else {
                    lines(n.saturating_sub(self.context).max(1)..=n - 1)
                },
                after: if self.context == 0 {
                    Vec::new()
                } else {
                    lines(n + 1..=n.saturating_add(self.context))
                },
            })
            .collect()
    }
}

impl Sink for Collect {
    type Error = std::io::Error;

    fn matched(&mut self, _: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, Self::Error> {
        for (n, line) in (mat.line_number().unwrap_or(0)..).zip(mat.lines()) {
            if self.matched.len() >= self.budget {
                self.overflow = true;
                if !self.in_tail(n) {
                    return Ok(false);
                }
            } else {
                self.matched.push(n);
            }
            self.lines.insert(n, text(line));
        }
        Ok(true)
    }

    fn context(&mut self, _: &Searcher, ctx: &SinkContext<'_>) -> Result<bool, Self::Error> {
        let n = ctx.line_number().unwrap_or(0);
        if self.overflow && !self.in_tail(n) {
            return Ok(false);
        }
        self.lines.insert(n, text(ctx.bytes()));
        Ok(true)
    }

    fn binary_data(&mut self, _: &Searcher, _: u64) -> Result<bool, Self::Error> {
        self.binary = true;
        Ok(false)
    }
}

/// A line without its terminator, lossily decoded, cut at [`MAX_LINE_CHARS`].
fn text(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = String::from_utf8_lossy(line);
    match line.char_indices().nth(MAX_LINE_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.into_owned(),
    }
}
