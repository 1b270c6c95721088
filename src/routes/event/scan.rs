//! One strict pass over an event's JSON text (RFC 8259), without building a tree.
//!
//! The pass refuses what a strict parser refuses — bytes that are not UTF-8, any syntax
//! error, a control character inside a string, a lone surrogate escape (`"\ud800"`), a number
//! outside the double range (`1e999999`) — and also what the event contract refuses: nesting
//! deeper than the limit and a duplicate key at any level (keys compared after their escapes
//! are decoded, so `"a"` and `"\u0061"` are the same key). It keeps every string, escape and
//! number exactly as written, so the record value built from it is the sender's text with only
//! insignificant whitespace removed (see [`minify`]).
//!
//! What it returns is the outer value's kind and, for an outer object, its members: key,
//! kind, byte span, the decoded text of a string value, and whether whitespace occurs inside
//! the value. Strings below the outer object are validated, never decoded or copied.
//!
//! Iterative, with an explicit stack bounded by the depth limit: no input can overflow the
//! thread's stack.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;

mod lexeme;

/// Why a body is not acceptable JSON (400 `malformed_json`) or breaks the structural limits of
/// an event (400 `invalid_event`). Positions are byte offsets into the body; paths are
/// dotted key paths from the outer object (`payload.items[2].id`), shortened for display.
#[derive(Debug, Clone, PartialEq, Eq, derive_more::Display, derive_more::Error)]
pub enum ScanError {
    /// Not JSON: `what` is wrong at byte `at`.
    #[display("{what} at byte {at}")]
    Syntax {
        /// Byte offset of the problem.
        at: usize,
        /// What is wrong, e.g. "expected ':'".
        what: &'static str,
    },
    /// Nesting deeper than the limit; `path` is the first container too deep.
    #[display("{path}: nested deeper than {max_depth} levels")]
    TooDeep {
        /// The container's path.
        path: String,
        /// The limit (`routing.max_depth`).
        max_depth: usize,
    },
    /// A key occurs twice in one object; `path` is the key's path.
    #[display("{path}: duplicate key")]
    DuplicateKey {
        /// The key's path, e.g. `payload.priority`.
        path: String,
    },
}

impl ScanError {
    /// Whether the text is not JSON at all (as opposed to JSON the event contract refuses).
    pub fn is_syntax(&self) -> bool {
        matches!(self, ScanError::Syntax { .. })
    }
}

/// The kind of a JSON value; a string's decoded text is kept for the outer object's members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind<'a> {
    /// An object.
    Object,
    /// An array.
    Array,
    /// A string: its decoded text (borrowed from the body when it has no escapes).
    String(Cow<'a, str>),
    /// A number, text as written.
    Number,
    /// `true` or `false`.
    Bool,
    /// `null`.
    Null,
}

/// One member of the outer object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member<'a> {
    /// The key, decoded.
    pub key: Cow<'a, str>,
    /// The value's kind.
    pub kind: Kind<'a>,
    /// The value's bytes in the body.
    pub span: Range<usize>,
    /// Whether whitespace occurs inside the value (outside its strings), so that its compact
    /// text is [`minify`] of the span rather than the span itself.
    pub spaced: bool,
}

/// The result of a scan: the outer value's kind, and the members when it is an object (in
/// the body's order, no key twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned<'a> {
    /// The outer value's kind.
    pub kind: Kind<'a>,
    /// The outer object's members (empty for any other kind).
    pub members: Vec<Member<'a>>,
}

/// Longest path shown in an error, in bytes (paths are client text).
const MAX_PATH_BYTES: usize = 160;
/// Keys of one object compared pairwise before a hash set takes over.
const LINEAR_KEYS: usize = 16;

enum Frame<'a> {
    /// An object: its keys start at `keys_start` in the shared key list; `index` takes over
    /// duplicate detection once the object has many keys.
    Object {
        keys_start: usize,
        index: Option<HashSet<Cow<'a, str>>>,
    },
    /// An array and the position of its current element.
    Array { position: usize },
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    max_depth: usize,
    stack: Vec<Frame<'a>>,
    /// The keys of every open object, innermost last (each object's last key is its current
    /// member's).
    keys: Vec<Cow<'a, str>>,
    /// Runs of whitespace skipped so far (to tell whether a value holds any).
    spaces: usize,
}

/// Scans `body` with at most `max_depth` nested containers (the outer value is depth 1).
///
/// Errors: [`ScanError::Syntax`] for anything a strict JSON parser refuses (invalid UTF-8,
/// syntax, control characters in strings, lone surrogates, numbers beyond the double range,
/// trailing text); [`ScanError::TooDeep`]; [`ScanError::DuplicateKey`].
pub fn scan(body: &[u8], max_depth: usize) -> Result<Scanned<'_>, ScanError> {
    let text = std::str::from_utf8(body).map_err(|e| ScanError::Syntax {
        at: e.valid_up_to(),
        what: "invalid UTF-8",
    })?;
    let mut s = Scanner {
        text,
        bytes: body,
        at: 0,
        max_depth,
        stack: Vec::with_capacity(8),
        keys: Vec::with_capacity(32),
        spaces: 0,
    };
    let scanned = s.document()?;
    s.skip_space();
    if s.at != s.bytes.len() {
        return Err(s.syntax("trailing characters after the JSON value"));
    }
    Ok(scanned)
}

/// The compact text of valid JSON: whitespace outside strings removed, everything else kept
/// byte for byte. Meant for text [`scan`] accepted.
pub fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut kept = 0;
    for (i, b) in json.bytes().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if is_space(b) {
            out.push_str(&json[kept..i]);
            kept = i + 1;
        }
    }
    out.push_str(&json[kept..]);
    out
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Scanner<'a> {
    fn syntax(&self, what: &'static str) -> ScanError {
        ScanError::Syntax { at: self.at, what }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        let start = self.at;
        while self.peek().is_some_and(is_space) {
            self.at += 1;
        }
        if self.at != start {
            self.spaces += 1;
        }
    }

    /// The outer value; for an object, its members are recorded.
    fn document(&mut self) -> Result<Scanned<'a>, ScanError> {
        self.skip_space();
        if self.peek() != Some(b'{') {
            let kind = self.value(true)?;
            return Ok(Scanned {
                kind,
                members: Vec::new(),
            });
        }
        self.open(Frame::Object {
            keys_start: 0,
            index: None,
        })?;
        self.at += 1;
        let mut members = Vec::with_capacity(4);
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            self.stack.pop();
            return Ok(Scanned {
                kind: Kind::Object,
                members,
            });
        }
        loop {
            self.skip_space();
            let key = self.key()?;
            self.skip_space();
            let start = self.at;
            let spaces = self.spaces;
            let kind = self.value(true)?;
            members.push(Member {
                key,
                kind,
                span: start..self.at,
                spaced: self.spaces != spaces,
            });
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    self.stack.pop();
                    self.keys.clear();
                    return Ok(Scanned {
                        kind: Kind::Object,
                        members,
                    });
                }
                _ => return Err(self.syntax("expected ',' or '}'")),
            }
        }
    }

    /// One value, nested containers included (iteratively); `decode` keeps a string's text.
    fn value(&mut self, decode: bool) -> Result<Kind<'a>, ScanError> {
        let floor = self.stack.len();
        let kind = match self.peek() {
            Some(b'{') | Some(b'[') => {
                let object = self.peek() == Some(b'{');
                self.containers(floor)?;
                if object {
                    Kind::Object
                } else {
                    Kind::Array
                }
            }
            _ => self.scalar(decode)?,
        };
        Ok(kind)
    }

    /// A scalar value at the current position.
    fn scalar(&mut self, decode: bool) -> Result<Kind<'a>, ScanError> {
        match self.peek() {
            Some(b'"') => Ok(Kind::String(self.string(decode)?)),
            Some(b't') => self.literal(b"true", Kind::Bool),
            Some(b'f') => self.literal(b"false", Kind::Bool),
            Some(b'n') => self.literal(b"null", Kind::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            None => Err(self.syntax("unexpected end of input")),
            _ => Err(self.syntax("expected a JSON value")),
        }
    }

    fn literal(&mut self, word: &[u8], kind: Kind<'a>) -> Result<Kind<'a>, ScanError> {
        if self.bytes[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(kind)
        } else {
            Err(self.syntax("expected a JSON value"))
        }
    }

    fn open(&mut self, frame: Frame<'a>) -> Result<(), ScanError> {
        if self.stack.len() >= self.max_depth {
            return Err(ScanError::TooDeep {
                path: self.path(None),
                max_depth: self.max_depth,
            });
        }
        self.stack.push(frame);
        Ok(())
    }

    /// The container at the current position and everything inside it, until the stack is
    /// back to `floor` frames.
    fn containers(&mut self, floor: usize) -> Result<(), ScanError> {
        // Invariant at the loop's head: a value is expected at `self.at` (spaces skipped).
        loop {
            match self.peek() {
                Some(b'{') => {
                    self.open(Frame::Object {
                        keys_start: self.keys.len(),
                        index: None,
                    })?;
                    self.at += 1;
                    self.skip_space();
                    if self.peek() == Some(b'}') {
                        self.at += 1;
                        self.close();
                    } else {
                        self.member_key()?;
                        continue;
                    }
                }
                Some(b'[') => {
                    self.open(Frame::Array { position: 0 })?;
                    self.at += 1;
                    self.skip_space();
                    if self.peek() == Some(b']') {
                        self.at += 1;
                        self.close();
                    } else {
                        continue;
                    }
                }
                _ => {
                    self.scalar(false)?;
                }
            }
            // A value just ended: close containers or move to the next element.
            loop {
                if self.stack.len() == floor {
                    return Ok(());
                }
                self.skip_space();
                let object = matches!(self.stack.last(), Some(Frame::Object { .. }));
                match (self.peek(), object) {
                    (Some(b','), true) => {
                        self.at += 1;
                        self.skip_space();
                        self.member_key()?;
                        break;
                    }
                    (Some(b','), false) => {
                        self.at += 1;
                        if let Some(Frame::Array { position }) = self.stack.last_mut() {
                            *position += 1;
                        }
                        self.skip_space();
                        break;
                    }
                    (Some(b'}'), true) | (Some(b']'), false) => {
                        self.at += 1;
                        self.close();
                    }
                    (_, true) => return Err(self.syntax("expected ',' or '}'")),
                    (_, false) => return Err(self.syntax("expected ',' or ']'")),
                }
            }
        }
    }

    /// Pops the innermost container, forgetting its keys.
    fn close(&mut self) {
        if let Some(Frame::Object { keys_start, .. }) = self.stack.pop() {
            self.keys.truncate(keys_start);
        }
    }

    /// A member's key and its `:` inside a nested object; spaces after the colon skipped.
    fn member_key(&mut self) -> Result<(), ScanError> {
        self.key()?;
        self.skip_space();
        Ok(())
    }

    /// A key of the innermost object and the `:` after it, checked against the object's
    /// other keys. Returns the decoded key.
    fn key(&mut self) -> Result<Cow<'a, str>, ScanError> {
        if self.peek() != Some(b'"') {
            return Err(self.syntax("expected a string key"));
        }
        let key = self.string(true)?;
        let Some(Frame::Object { keys_start, index }) = self.stack.last_mut() else {
            return Err(self.syntax("expected a value"));
        };
        let keys_start = *keys_start;
        let duplicate = match index {
            Some(set) => !set.insert(key.clone()),
            None => {
                let duplicate = self.keys[keys_start..].contains(&key);
                if !duplicate && self.keys.len() - keys_start >= LINEAR_KEYS {
                    let mut set: HashSet<Cow<'a, str>> =
                        self.keys[keys_start..].iter().cloned().collect();
                    set.insert(key.clone());
                    *index = Some(set);
                }
                duplicate
            }
        };
        if duplicate {
            return Err(ScanError::DuplicateKey {
                path: self.path(Some(&key)),
            });
        }
        self.keys.push(key.clone());
        self.skip_space();
        if self.peek() != Some(b':') {
            return Err(self.syntax("expected ':'"));
        }
        self.at += 1;
        Ok(key)
    }

    /// The path of the current position: each open object's current key and each open
    /// array's position; with `last`, the innermost object's current key is `last` (a key
    /// not yet recorded). Shortened to [`MAX_PATH_BYTES`].
    fn path(&self, last: Option<&str>) -> String {
        let mut path = String::new();
        for (n, frame) in self.stack.iter().enumerate() {
            if path.len() > MAX_PATH_BYTES {
                break;
            }
            match frame {
                Frame::Object { keys_start, .. } => {
                    if last.is_some() && n + 1 == self.stack.len() {
                        break;
                    }
                    // This object's keys end where the next open object's begin.
                    let end = self.stack[n + 1..]
                        .iter()
                        .find_map(|f| match f {
                            Frame::Object { keys_start, .. } => Some(*keys_start),
                            Frame::Array { .. } => None,
                        })
                        .unwrap_or(self.keys.len());
                    if end > *keys_start {
                        push_key(&mut path, &self.keys[end - 1]);
                    }
                }
                Frame::Array { position } => path.push_str(&format!("[{position}]")),
            }
        }
        if let Some(key) = last {
            push_key(&mut path, key);
        }
        switchboard_actors::text::truncate(&path, MAX_PATH_BYTES)
    }
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syntax(text: &str) -> &'static str {
        match scan(text.as_bytes(), 64) {
            Err(ScanError::Syntax { what, .. }) => what,
            other => panic!("{text:?} → {other:?}"),
        }
    }

    #[test]
    fn what_a_strict_parser_refuses_is_refused() {
        for (text, what) in [
            ("", "unexpected end of input"),
            ("{", "expected a string key"),
            ("{\"a\"}", "expected ':'"),
            ("{\"a\":1,}", "expected a string key"),
            ("[1,]", "expected a JSON value"),
            ("[1 2]", "expected ',' or ']'"),
            ("{} {}", "trailing characters after the JSON value"),
            ("\"a\u{1}\"", "control character in a string"),
            ("\"\\x\"", "invalid escape"),
            ("\"\\u12g4\"", "invalid \\u escape"),
            ("\"\\ud800\"", "lone surrogate in a \\u escape"),
            ("\"\\ud800\\u0041\"", "lone surrogate in a \\u escape"),
            ("\"\\udc00\"", "lone surrogate in a \\u escape"),
            ("01", "trailing characters after the JSON value"),
            ("-", "invalid number"),
            ("1.", "invalid number"),
            ("1e+", "invalid number"),
            ("1e309", "number outside the range of a double"),
            ("-1e999999", "number outside the range of a double"),
            ("tru", "expected a JSON value"),
            ("\"open", "unterminated string"),
        ] {
            assert_eq!(syntax(text), what, "{text:?}");
        }
        assert!(matches!(
            scan(b"\"\xff\"", 64),
            Err(ScanError::Syntax { at: 1, .. })
        ));
    }

    #[test]
    fn what_a_strict_parser_accepts_is_accepted() {
        for text in [
            "0",
            "-0.0e-0",
            "1e-999999",
            "1.7976931348623157e308",
            &"9".repeat(300),
            "\"\\ud83d\\ude00 \\\" \\/ \\b\\f\\n\\r\\t\"",
            " [ ] ",
            "{\"\":{}}",
        ] {
            assert!(scan(text.as_bytes(), 64).is_ok(), "{text:?}");
        }
        assert_eq!(
            syntax(&"9".repeat(310)),
            "number outside the range of a double"
        );
    }

    #[test]
    fn the_outer_objects_members_come_with_decoded_strings_and_spans() {
        let text = r#"{"id":"a\u0042","n":1.0,"p":{ "x": [ 1 ] },"q":{"y":2}}"#;
        let scanned = scan(text.as_bytes(), 64).expect("valid");
        assert_eq!(scanned.kind, Kind::Object);
        let m = &scanned.members;
        assert_eq!(m[0].kind, Kind::String(Cow::Borrowed("aB")));
        assert_eq!(m[1].kind, Kind::Number);
        assert_eq!(&text[m[1].span.clone()], "1.0");
        assert_eq!(
            (&text[m[2].span.clone()], m[2].spaced),
            (r#"{ "x": [ 1 ] }"#, true)
        );
        assert_eq!(minify(&text[m[2].span.clone()]), r#"{"x":[1]}"#);
        assert_eq!(
            (&text[m[3].span.clone()], m[3].spaced),
            (r#"{"y":2}"#, false)
        );
    }

    #[test]
    fn duplicate_keys_are_found_however_they_are_escaped_and_however_many_keys_there_are() {
        let dup = |text: &str| match scan(text.as_bytes(), 64) {
            Err(ScanError::DuplicateKey { path }) => path,
            other => panic!("{text} → {other:?}"),
        };
        assert_eq!(dup(r#"{"a":1,"\u0061":2}"#), "a");
        assert_eq!(dup(r#"{"p":{"q":[0,{"k":1,"k":2}]}}"#), "p.q[1].k");
        // Sibling objects may reuse keys; only one object's keys are compared.
        assert!(scan(br#"{"p":[{"k":1},{"k":2}],"k":3}"#, 64).is_ok());
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        let object = format!("{{{}}}", many.join(","));
        assert!(scan(object.as_bytes(), 64).is_ok());
        let repeated = format!("{{{},\"k7\":0}}", many.join(","));
        assert_eq!(dup(&repeated), "k7");
    }

    #[test]
    fn nesting_is_limited_from_the_outer_value_without_recursion() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(scan(nested(64).as_bytes(), 64).is_ok());
        assert!(matches!(
            scan(nested(65).as_bytes(), 64),
            Err(ScanError::TooDeep { max_depth: 64, .. })
        ));
        // Far deeper than any thread's stack could recurse.
        let deep = nested(1_000_000);
        assert!(matches!(
            scan(deep.as_bytes(), 64),
            Err(ScanError::TooDeep { .. })
        ));
        let objects = format!("{}1{}", r#"{"o":"#.repeat(3), "}".repeat(3));
        match scan(objects.as_bytes(), 2) {
            Err(ScanError::TooDeep { path, .. }) => assert_eq!(path, "o.o"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn minify_removes_only_whitespace_outside_strings() {
        assert_eq!(
            minify("{ \"a b\" : [ 1 ,\n\t\"c \\\" d\" ] }"),
            "{\"a b\":[1,\"c \\\" d\"]}"
        );
    }
}
