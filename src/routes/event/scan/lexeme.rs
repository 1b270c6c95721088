//! The lexical part of the scan: strings (plain runs found eight bytes at a time, escapes,
//! surrogate pairs) and numbers (RFC 8259's grammar, finite as a double).

use std::borrow::Cow;

use super::{Kind, ScanError, Scanner};

impl<'a> Scanner<'a> {
    /// A string at the current position (its opening quote); the decoded text when `decode`
    /// (borrowed when it has no escapes), else an empty placeholder.
    pub(super) fn string(&mut self, decode: bool) -> Result<Cow<'a, str>, ScanError> {
        self.at += 1;
        let start = self.at;
        // The common case: no escape before the closing quote.
        self.skip_plain();
        match self.peek() {
            Some(b'"') => {
                let text = &self.text[start..self.at];
                self.at += 1;
                return Ok(if decode {
                    Cow::Borrowed(text)
                } else {
                    Cow::Borrowed("")
                });
            }
            Some(b'\\') => {}
            Some(_) => return Err(self.syntax("control character in a string")),
            None => return Err(self.syntax("unterminated string")),
        }
        let mut decoded = String::new();
        if decode {
            decoded.push_str(&self.text[start..self.at]);
        }
        let mut run = self.at;
        loop {
            self.skip_plain();
            match self.peek() {
                Some(b'"') => {
                    if decode {
                        decoded.push_str(&self.text[run..self.at]);
                    }
                    self.at += 1;
                    return Ok(Cow::Owned(decoded));
                }
                Some(b'\\') => {
                    if decode {
                        decoded.push_str(&self.text[run..self.at]);
                    }
                    let c = self.escape()?;
                    if decode {
                        decoded.push(c);
                    }
                    run = self.at;
                }
                Some(_) => return Err(self.syntax("control character in a string")),
                None => return Err(self.syntax("unterminated string")),
            }
        }
    }

    /// Moves to the next byte inside a string that ends a plain run: a quote, a backslash or
    /// a control character (or to the end of the body). See [`special_at`].
    fn skip_plain(&mut self) {
        self.at += special_at(&self.bytes[self.at..]);
    }

    /// An escape at the current position (its backslash): the character it stands for.
    fn escape(&mut self) -> Result<char, ScanError> {
        self.at += 1;
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let escape_at = self.at - 1;
                self.at += 1;
                let high = self.hex4()?;
                let code = match high {
                    0xD800..=0xDBFF => {
                        if !self.bytes[self.at..].starts_with(b"\\u") {
                            return Err(ScanError::Syntax {
                                at: escape_at,
                                what: "lone surrogate in a \\u escape",
                            });
                        }
                        self.at += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(ScanError::Syntax {
                                at: escape_at,
                                what: "lone surrogate in a \\u escape",
                            });
                        }
                        0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xDC00..=0xDFFF => {
                        return Err(ScanError::Syntax {
                            at: escape_at,
                            what: "lone surrogate in a \\u escape",
                        })
                    }
                    code => code,
                };
                return char::from_u32(code).ok_or(ScanError::Syntax {
                    at: escape_at,
                    what: "invalid \\u escape",
                });
            }
            _ => return Err(self.syntax("invalid escape")),
        };
        self.at += 1;
        Ok(c)
    }

    fn hex4(&mut self) -> Result<u32, ScanError> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .ok_or_else(|| self.syntax("invalid \\u escape"))?;
        let mut code = 0;
        for &d in digits {
            let v = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.syntax("invalid \\u escape"))?;
            code = code * 16 + v;
        }
        self.at += 4;
        Ok(code)
    }

    /// A number at the current position: RFC 8259's grammar, and finite as a double.
    pub(super) fn number(&mut self) -> Result<Kind<'a>, ScanError> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.syntax("invalid number")),
        }
        let mut exact_integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return Err(self.syntax("invalid number"));
            }
            self.digits();
            exact_integer = false;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return Err(self.syntax("invalid number"));
            }
            self.digits();
            exact_integer = false;
        }
        // Integers of up to 300 digits are below f64::MAX (about 1.8e308) and need no check.
        let text = &self.text[start..self.at];
        let in_range =
            (exact_integer && text.len() <= 300) || text.parse::<f64>().is_ok_and(f64::is_finite);
        if !in_range {
            return Err(ScanError::Syntax {
                at: start,
                what: "number outside the range of a double",
            });
        }
        Ok(Kind::Number)
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }
}

/// The position of the first quote, backslash or control character (below 0x20) in `bytes`,
/// or its length when there is none. Eight bytes at a time: in each 8-byte word, a byte equal
/// to `c` is a zero byte of `word ^ c…c`, and `(x - 0x01…01) & !x & 0x80…80` flags zero bytes
/// (`0x20…20` in place of `0x01…01`: bytes below 0x20). A borrow can only flag bytes above a
/// flagged one, so the lowest flag, the first byte in little-endian order, is exact.
fn special_at(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGHS;
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk).map(u64::from_le_bytes) else {
            break;
        };
        let found = below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1)
            | below(word, 0x20);
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + bytes[i..]
        .iter()
        .position(|&b| matches!(b, b'"' | b'\\' | 0..=0x1f))
        .unwrap_or(bytes.len() - i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_at_a_time_search_finds_the_first_special_byte() {
        let naive = |b: &[u8]| {
            b.iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .unwrap_or(b.len())
        };
        let mut bytes: Vec<u8> = (0x20..=0xff).filter(|&b| b != b'"' && b != b'\\').collect();
        assert_eq!(special_at(&bytes), bytes.len());
        for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
            for at in 0..40 {
                let mut b = bytes[..48].to_vec();
                b[at] = special;
                // A later special byte, and high bytes around, must not hide the first.
                b[at + 3] = b'"';
                assert_eq!(special_at(&b), naive(&b), "{special:#x} at {at}");
                assert_eq!(
                    special_at(&b[1..]),
                    naive(&b[1..]),
                    "{special:#x} at {at} - 1"
                );
            }
        }
        bytes.clear();
        assert_eq!(special_at(&bytes), 0);
    }
}
