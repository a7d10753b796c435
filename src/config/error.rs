//! Config errors, and turning byte spans into `line:column` and a dotted key path.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};

use super::schema::Invalid;

/// Why a config could not be loaded. Nothing is applied when any error is returned.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be opened or read (including text that is not UTF-8).
    #[error("{}: cannot read: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// The file is over [`super::MAX_CONFIG_BYTES`].
    #[error("{}: larger than {limit} bytes", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    /// TOML syntax, an unknown key, a value of the wrong type or out of range, a bad rule or vhost
    /// name. `line` and `column` count from 1 (column in characters) and are 0 when unknown;
    /// `key` is the dotted path (`vhost."cam.example.com".play.queue_length`, `...rules[2]`) and
    /// empty when the error is not inside a key. Displays as `origin:line:column: key: message`.
    #[error("{}", ParseDisplay { origin, line: *line, column: *column, key, message })]
    Parse {
        origin: String,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
}

struct ParseDisplay<'a> {
    origin: &'a str,
    line: usize,
    column: usize,
    key: &'a str,
    message: &'a str,
}

impl fmt::Display for ParseDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.origin)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        f.write_str(": ")?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(self.message)
    }
}

impl ConfigError {
    /// An error at byte `span` of `text`.
    pub(super) fn at(
        text: &str,
        origin: &str,
        span: Range<usize>,
        key: String,
        message: String,
    ) -> ConfigError {
        let (line, column) = line_column(text, span.start);
        ConfigError::Parse {
            origin: origin.to_owned(),
            line,
            column,
            key,
            message,
        }
    }

    /// A toml syntax error: its span gives the place, and the key at that place is looked up in
    /// the document's syntax tree (toml does not report key paths).
    pub(super) fn from_toml(err: &toml::de::Error, text: &str, origin: &str) -> ConfigError {
        ConfigError::found(err.span(), err.message(), text, origin)
    }

    /// A value or key refused while reading the parsed document, found the same way.
    pub(super) fn from_invalid(err: Invalid, text: &str, origin: &str) -> ConfigError {
        ConfigError::found(Some(err.span), &err.message, text, origin)
    }

    fn found(span: Option<Range<usize>>, message: &str, text: &str, origin: &str) -> ConfigError {
        let message = message.trim_end().replace('\n', "; ");
        match span {
            Some(span) => {
                let key = key_at(text, span.start);
                ConfigError::at(text, origin, span, key, message)
            }
            None => ConfigError::Parse {
                origin: origin.to_owned(),
                line: 0,
                column: 0,
                key: String::new(),
                message,
            },
        }
    }
}

/// 1-based line and column (in characters) of byte `offset`; past the end means the end.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    let before = &bytes[..offset.min(bytes.len())];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |nl| nl + 1);
    // Count UTF-8 lead bytes, so that an offset inside a character cannot panic.
    let column = 1 + before[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count();
    (line, column)
}

/// Appends `key` to a dotted path, quoting it as TOML would when it is not a bare key.
pub(super) fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        path.push_str(key);
    } else {
        path.push_str(&format!("{key:?}"));
    }
}

/// The dotted path of the narrowest key or value whose span holds `offset`, or "" if none does.
fn key_at(text: &str, offset: usize) -> String {
    // The recoverable parse still yields a tree for text with syntax errors.
    let (document, _) = DeTable::parse_recoverable(text);
    let mut best = None;
    let mut path = String::new();
    search_table(document.get_ref(), offset, &mut path, 0, &mut best);
    best.map(|found| found.path).unwrap_or_default()
}

struct Found {
    width: usize,
    depth: usize,
    path: String,
}

fn consider(span: Range<usize>, offset: usize, path: &str, depth: usize, best: &mut Option<Found>) {
    let holds = span.contains(&offset) || (span.is_empty() && span.start == offset);
    if !holds {
        return;
    }
    let width = span.len();
    let better = match best {
        None => true,
        Some(found) => width < found.width || (width == found.width && depth > found.depth),
    };
    if better {
        *best = Some(Found {
            width,
            depth,
            path: path.to_owned(),
        });
    }
}

fn search_table(
    table: &DeTable<'_>,
    offset: usize,
    path: &mut String,
    depth: usize,
    best: &mut Option<Found>,
) {
    for (key, value) in table.iter() {
        let saved = path.len();
        push_key(path, key.get_ref());
        consider(key.span(), offset, path, depth, best);
        search_value(value.get_ref(), value.span(), offset, path, depth, best);
        path.truncate(saved);
    }
}

fn search_value(
    value: &DeValue<'_>,
    span: Range<usize>,
    offset: usize,
    path: &mut String,
    depth: usize,
    best: &mut Option<Found>,
) {
    consider(span, offset, path, depth, best);
    match value {
        DeValue::Table(table) => search_table(table, offset, path, depth + 1, best),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let saved = path.len();
                path.push_str(&format!("[{i}]"));
                search_value(item.get_ref(), item.span(), offset, path, depth + 1, best);
                path.truncate(saved);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one_in_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_column(text, 9), (2, 3));
        assert_eq!(line_column(text, 10), (2, 4));
        // Inside 'é', and past the end: no panic.
        assert_eq!(line_column(text, 8), (2, 3));
        assert_eq!(line_column(text, 1000), (3, 1));
        assert_eq!(line_column("", 5), (1, 1));
    }

    #[test]
    fn keys_are_quoted_when_not_bare() {
        let mut path = String::new();
        push_key(&mut path, "vhost");
        push_key(&mut path, "cam.example.com");
        push_key(&mut path, "__defaultVhost__");
        push_key(&mut path, "");
        assert_eq!(path, r#"vhost."cam.example.com".__defaultVhost__."""#);
    }

    #[test]
    fn display_omits_unknown_parts() {
        let err = ConfigError::Parse {
            origin: "t.toml".into(),
            line: 0,
            column: 0,
            key: String::new(),
            message: "m".into(),
        };
        assert_eq!(err.to_string(), "t.toml: m");
        let err = ConfigError::Parse {
            origin: "t.toml".into(),
            line: 3,
            column: 7,
            key: "log.level".into(),
            message: "m".into(),
        };
        assert_eq!(err.to_string(), "t.toml:3:7: log.level: m");
    }
}
