//! Diagnostics for problems in user-written files, rendered like rustc/hurl:
//!
//! ```text
//! error: unknown key `repaet` in step "burst"
//!   --> test-cases/2.1-unique-password/lockout-http.toml:14:1
//!    |
//! 14 | repaet = 5
//!    | ^^^^^^
//!    = expected one of: op, port, auth, credentials, repeat, …
//!    = hint: did you mean `repeat`?
//! ```
//!
//! Every diagnostic carries the file, a 1-based line and column, what was expected and a hint,
//! so a lab technician can fix a case file without reading Rust.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in one user file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct Diagnostic {
    /// The file as the loader was given it (relative paths stay relative).
    pub file: PathBuf,
    /// 1-based. Whole-file problems (unreadable file) point at 1:1.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// Byte range in the file, when the problem has a location.
    pub span: Option<Range<usize>>,
    /// One line: what is wrong.
    pub message: String,
    /// What would have been accepted (`one of: a, b, c`, `an integer`…).
    pub expected: Option<String>,
    /// How to fix it.
    pub hint: Option<String>,
    /// Further context (`first defined at …`).
    pub notes: Vec<String>,
    /// The source line quoted under the location, with the highlight.
    pub snippet: Option<Snippet>,
}

/// The quoted source line and which characters of it to underline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub line_text: String,
    /// 1-based character column where the underline starts.
    pub start_column: usize,
    /// Number of characters underlined (at least 1).
    pub width: usize,
}

impl Diagnostic {
    /// A problem with the file as a whole (cannot be read, wrong name): located at 1:1.
    pub fn whole_file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.into(),
            line: 1,
            column: 1,
            span: None,
            message: message.into(),
            expected: None,
            hint: None,
            notes: Vec::new(),
            snippet: None,
        }
    }

    pub fn with_expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_optional_hint(mut self, hint: Option<String>) -> Self {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// `path:line:col`, as editors and terminals understand it.
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file.display(), self.line, self.column)
    }

    /// The rustc-style multi-line rendering (no trailing newline).
    pub fn render(&self) -> String {
        let gutter_width = self.line.to_string().len();
        let pad = " ".repeat(gutter_width);
        let mut out = String::new();
        out.push_str("error: ");
        out.push_str(&self.message);
        out.push('\n');
        out.push_str(&format!("{pad}--> {}\n", self.location()));
        if let Some(snippet) = &self.snippet {
            out.push_str(&format!("{pad} |\n"));
            out.push_str(&format!("{} | {}\n", self.line, snippet.line_text));
            out.push_str(&format!(
                "{pad} | {}{}\n",
                " ".repeat(snippet.start_column.saturating_sub(1)),
                "^".repeat(snippet.width.max(1))
            ));
        }
        if let Some(expected) = &self.expected {
            out.push_str(&format!("{pad} = expected {expected}\n"));
        }
        for note in &self.notes {
            out.push_str(&format!("{pad} = note: {note}\n"));
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("{pad} = hint: {hint}\n"));
        }
        while out.ends_with('\n') {
            out.pop();
        }
        out
    }
}

/// Renders a list of diagnostics separated by blank lines.
pub fn render_diagnostics(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(Diagnostic::render)
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Same as [`render_diagnostics`].
pub fn render_all(diagnostics: &[Diagnostic]) -> String {
    render_diagnostics(diagnostics)
}

/// A list of diagnostics as one error value, for callers that want `?` and `Display`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render_diagnostics(&self.diagnostics))]
pub struct CaseError {
    pub diagnostics: Vec<Diagnostic>,
}

impl From<Vec<Diagnostic>> for CaseError {
    fn from(diagnostics: Vec<Diagnostic>) -> Self {
        CaseError { diagnostics }
    }
}

/// A user file's text, able to turn byte spans into located diagnostics.
#[derive(Clone, Copy)]
pub struct SourceFile<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl fmt::Debug for SourceFile<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<'a> SourceFile<'a> {
    pub fn new(path: &'a Path, text: &'a str) -> Self {
        SourceFile { path, text }
    }

    /// A diagnostic located at `span` (byte offsets into the text; clamped if out of range).
    pub fn error_at(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        let start = floor_char_boundary(self.text, span.start);
        let end = floor_char_boundary(self.text, span.end.max(start));
        let (line, column, line_start, line_end) = self.position(start);
        let line_text = &self.text[line_start..line_end];
        // The underline stops at the end of the first line of a multi-line span.
        let underline_end = end.min(line_end).max(start);
        let width = self.text[start..underline_end].chars().count().max(1);
        Diagnostic {
            file: self.path.to_path_buf(),
            line,
            column,
            span: Some(start..end),
            message: message.into(),
            expected: None,
            hint: None,
            notes: Vec::new(),
            snippet: Some(Snippet {
                // Tabs would shift the underline; one space keeps columns aligned.
                line_text: line_text.replace('\t', " ").trim_end_matches('\r').to_string(),
                start_column: column,
                width,
            }),
        }
    }

    /// 1-based line and character column of a byte offset, plus the byte range of its line.
    pub fn position(&self, offset: usize) -> (usize, usize, usize, usize) {
        let offset = floor_char_boundary(self.text, offset);
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
        let line_end = self.text[offset..].find('\n').map_or(self.text.len(), |nl| offset + nl);
        let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
        let column = self.text[line_start..offset].chars().count() + 1;
        (line, column, line_start, line_end)
    }

    /// `path:line:col` of a byte offset, for notes that point at a second place.
    pub fn location_of(&self, offset: usize) -> String {
        let (line, column, _, _) = self.position(offset);
        format!("{}:{}:{}", self.path.display(), line, column)
    }
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Edit distance counting an insertion, deletion, substitution or swap of two adjacent
/// characters as one edit (optimal string alignment), for "did you mean" hints: swapped
/// letters (`wiat`) are the commonest typo. Inputs are short identifiers.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut table = vec![0usize; (a.len() + 1) * width];
    for (i, cell) in table.iter_mut().step_by(width).enumerate() {
        *cell = i;
    }
    for (j, cell) in table.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[(i - 1) * width + j] + 1)
                .min(table[i * width + j - 1] + 1)
                .min(table[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[(i - 2) * width + j - 2] + 1);
            }
            table[i * width + j] = best;
        }
    }
    table[a.len() * width + b.len()]
}

/// The closest candidate, if it is close enough to be a plausible typo.
pub fn did_you_mean<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let lowered = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    let candidates: Vec<&'c str> = candidates.into_iter().collect();
    let closest = candidates
        .iter()
        .map(|candidate| (edit_distance(&lowered, &candidate.to_ascii_lowercase()), *candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate);
    // A shortened name (`qcvn135` for `qcvn135-2024`) is far by edit distance but obvious.
    closest.or_else(|| {
        let mut extended = candidates
            .iter()
            .filter(|candidate| lowered.len() >= 3 && candidate.to_ascii_lowercase().starts_with(&lowered));
        match (extended.next(), extended.next()) {
            (Some(only), None) => Some(*only),
            _ => None,
        }
    })
}

pub(crate) fn did_you_mean_hint<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<String> {
    did_you_mean(word, candidates).map(|candidate| format!("did you mean `{candidate}`?"))
}

/// `a, b, c` for an "expected one of" line.
pub(crate) fn one_of<'c>(candidates: impl IntoIterator<Item = &'c str>) -> String {
    let list: Vec<&str> = candidates.into_iter().collect();
    match list.as_slice() {
        [] => "nothing here".to_string(),
        [single] => format!("`{single}`"),
        _ => format!("one of: {}", list.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits_and_swaps() {
        assert_eq!(edit_distance("repeat", "repeat"), 0);
        assert_eq!(edit_distance("repaet", "repeat"), 1);
        assert_eq!(edit_distance("wiat", "wait"), 1);
        assert_eq!(edit_distance("atempts", "attempts"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn did_you_mean_picks_closest_and_rejects_far() {
        assert_eq!(
            did_you_mean("secnods", ["seconds", "second_hand", "op"]),
            Some("seconds")
        );
        assert_eq!(did_you_mean("zzz", ["seconds", "op"]), None);
        assert_eq!(
            did_you_mean("qcvn135", ["qcvn135-2024", "qcvn11-2026"]),
            Some("qcvn135-2024")
        );
        assert_eq!(did_you_mean("lock", ["lockout-a", "lockout-b"]), None);
    }

    #[test]
    fn position_is_one_based_in_chars() {
        let text = "a = 1\nbé = \"x\"\n";
        let file = SourceFile::new(Path::new("f.toml"), text);
        // The second `=` is after a two-byte `é`: byte offset 10, character column 4.
        let offset = text.rfind('=').unwrap_or_default();
        assert_eq!(offset, 10);
        let (line, column, _, _) = file.position(offset);
        assert_eq!((line, column), (2, 4));
    }

    #[test]
    fn render_has_location_snippet_and_notes() {
        let text = "[x]\nrepaet = 5\n";
        let file = SourceFile::new(Path::new("case.toml"), text);
        let diagnostic = file
            .error_at(4..10, "unknown key `repaet`")
            .with_expected("one of: repeat, op")
            .with_hint("did you mean `repeat`?");
        let rendered = diagnostic.render();
        let expected = "error: unknown key `repaet`\n --> case.toml:2:1\n  |\n2 | repaet = 5\n  | ^^^^^^\n  = expected one of: repeat, op\n  = hint: did you mean `repeat`?";
        assert_eq!(rendered, expected);
    }
}
