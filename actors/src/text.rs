//! Client-supplied text, shortened before it reaches a log line, an error text or an audit
//! record: a `dataActionId` (and the URL built from it) can be as long as the event allows,
//! and neither a log nor the audit log is a place for 64 KB of it.

/// Bytes of an id kept in a log line (see [`for_log`]).
pub const LOG_ID_BYTES: usize = 64;

/// Bytes of an error text kept in a log line; with an id of [`LOG_ID_BYTES`] a line carries
/// at most about 200 bytes of text that came from outside.
pub const LOG_ERROR_BYTES: usize = 128;

/// `text` cut to at most `max` bytes on a char boundary, with `…` appended when cut (so the
/// result has at most `max + 3` bytes); unchanged when it fits.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// An id for a log line: at most [`LOG_ID_BYTES`] bytes (plus `…` when cut).
pub fn for_log(id: &str) -> String {
    truncate(id, LOG_ID_BYTES)
}

/// An error text for a log line: at most [`LOG_ERROR_BYTES`] bytes (plus `…` when cut).
pub fn error_for_log(error: &impl std::fmt::Display) -> String {
    truncate(&error.to_string(), LOG_ERROR_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_char_boundary_with_an_ellipsis() {
        let s = "é".repeat(10);
        let t = truncate(&s, 5);
        assert_eq!(t, "éé…");
        assert!(t.len() <= 5 + '…'.len_utf8());
        assert_eq!(truncate("short", 5), "short");
        assert_eq!(truncate("", 0), "");
        assert_eq!(truncate("abc", 0), "…");
    }

    #[test]
    fn ids_and_errors_for_logs_are_bounded() {
        let id = "x".repeat(70_000);
        assert_eq!(for_log(&id).len(), LOG_ID_BYTES + '…'.len_utf8());
        assert_eq!(for_log("da-1"), "da-1");
        let error = format!("invalid uri {id}");
        assert_eq!(
            error_for_log(&error).len(),
            LOG_ERROR_BYTES + '…'.len_utf8()
        );
    }
}
