//! A pipeline file's text with byte offset → line:column mapping.

use super::error::Origin;

/// The text of a pipeline file and its name.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    /// File name for messages.
    pub file: &'a str,
    /// The text.
    pub text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    /// Indexes `text`'s lines.
    pub fn new(file: &'a str, text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source {
            file,
            text,
            line_starts,
        }
    }

    /// The origin of byte offset `offset`.
    pub fn origin(&self, offset: usize) -> Origin {
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let column = self.text[start..offset.min(self.text.len())]
            .chars()
            .count()
            + 1;
        Origin::File {
            file: self.file.to_owned(),
            line: line + 1,
            column,
        }
    }

    /// The text of a span, trimmed, for quoting a bad value.
    pub fn snippet(&self, span: std::ops::Range<usize>) -> String {
        let end = span.end.min(self.text.len());
        let start = span.start.min(end);
        let s = self.text[start..end].trim();
        if s.chars().count() > 60 {
            let cut: String = s.chars().take(57).collect();
            format!("{cut}...")
        } else {
            s.to_owned()
        }
    }
}
