//! The header matrix of a definition call (seed 002): `Content-Type`, `Accept`,
//! `X-Correlation-ID`, `X-Request-Source`, `Authorization`, plus the caller's extra headers.
//! Its size is Σ(len(name) + len(value) + 4) bytes (name, `: `, value, CRLF); the CXone
//! gateway refuses more than [`MAX_HEADER_MATRIX_BYTES`], so larger matrices are refused
//! before anything is sent.

use crate::problem::FieldProblem;

/// The gateway's limit on the header matrix, in bytes (seed 002).
pub const MAX_HEADER_MATRIX_BYTES: usize = 8192;

/// `X-Request-Source` value: `switchboard/<version>`.
pub const REQUEST_SOURCE: &str = concat!("switchboard/", env!("CARGO_PKG_VERSION"));

/// Header names the matrix sets itself; callers' extra headers may not use them.
pub const RESERVED: [&str; 5] = [
    "Content-Type",
    "Accept",
    "X-Correlation-ID",
    "X-Request-Source",
    "Authorization",
];

/// Of the [`RESERVED`] headers, those the CXone client sets on every call by itself.
const SET_BY_CLIENT: [&str; 4] = [
    "Content-Type",
    "Accept",
    "X-Correlation-ID",
    "Authorization",
];

/// The headers a definition call sends, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatrix {
    headers: Vec<(String, String)>,
}

impl HeaderMatrix {
    /// Assembles the matrix. `bearer` is the token (counted as `Authorization: Bearer …`);
    /// `extra` are the caller's headers, which may not replace the fixed ones.
    ///
    /// Errors: an extra header with an invalid name or value, or one of the fixed names.
    pub fn build(
        correlation_id: &str,
        bearer: Option<&str>,
        extra: &[(String, String)],
    ) -> Result<Self, Vec<FieldProblem>> {
        let mut headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            ("Accept".to_string(), "application/json".to_string()),
            ("X-Correlation-ID".to_string(), correlation_id.to_string()),
            ("X-Request-Source".to_string(), REQUEST_SOURCE.to_string()),
        ];
        if let Some(token) = bearer {
            headers.push(("Authorization".to_string(), format!("Bearer {token}")));
        }
        let mut problems = Vec::new();
        if !valid_value(correlation_id) {
            problems.push(FieldProblem::new(
                "X-Correlation-ID",
                "must be visible ASCII characters and spaces",
            ));
        }
        for (name, value) in extra {
            let field = format!("headers.{name}");
            if !valid_name(name) {
                problems.push(FieldProblem::new(field, "is not a valid header name"));
            } else if RESERVED.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                problems.push(FieldProblem::new(field, "may not replace a fixed header"));
            } else if !valid_value(value) {
                problems.push(FieldProblem::new(
                    field,
                    "must be visible ASCII characters and spaces",
                ));
            } else {
                headers.push((name.clone(), value.clone()));
            }
        }
        if problems.is_empty() {
            Ok(HeaderMatrix { headers })
        } else {
            Err(problems)
        }
    }

    /// Σ(len(name) + len(value) + 4), in bytes.
    pub fn size(&self) -> usize {
        self.headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum()
    }

    /// Whether the gateway accepts it (at most [`MAX_HEADER_MATRIX_BYTES`]).
    pub fn fits(&self) -> bool {
        self.size() <= MAX_HEADER_MATRIX_BYTES
    }

    /// The headers other than those the CXone client sets itself (`Content-Type`, `Accept`,
    /// `X-Correlation-ID`, `Authorization`).
    pub fn extra_for_client(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter(|(n, _)| !SET_BY_CLIENT.contains(&n.as_str()))
            .cloned()
            .collect()
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn valid_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b' ' || b == b'\t' || (0x21..0x7f).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_counts_name_value_and_four_bytes_per_header() {
        let m = HeaderMatrix::build("abc", Some("tok"), &[]).expect("valid");
        let expected = (12 + 16 + 4)
            + (6 + 16 + 4)
            + (16 + 3 + 4)
            + (16 + REQUEST_SOURCE.len() + 4)
            + (13 + 10 + 4);
        assert_eq!(m.size(), expected);
    }

    #[test]
    fn exactly_8192_bytes_fit_and_one_more_does_not() {
        let base = HeaderMatrix::build("", Some("tok"), &[])
            .expect("valid")
            .size();
        let id = "c".repeat(MAX_HEADER_MATRIX_BYTES - base);
        let m = HeaderMatrix::build(&id, Some("tok"), &[]).expect("valid");
        assert_eq!(m.size(), 8192);
        assert!(m.fits());
        let m = HeaderMatrix::build(&format!("{id}c"), Some("tok"), &[]).expect("valid");
        assert!(!m.fits());
    }

    #[test]
    fn extra_headers_are_checked_and_cannot_replace_fixed_ones() {
        let extra = vec![
            ("X-Team".to_string(), "ops".to_string()),
            ("authorization".to_string(), "x".to_string()),
            ("Bad Name".to_string(), "x".to_string()),
            ("X-Nl".to_string(), "a\nb".to_string()),
        ];
        let err = HeaderMatrix::build("id", None, &extra).expect_err("invalid");
        let fields: Vec<_> = err.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["headers.authorization", "headers.Bad Name", "headers.X-Nl"]
        );
        let ok = HeaderMatrix::build("id", None, &extra[..1]).expect("valid");
        assert_eq!(
            ok.extra_for_client(),
            vec![
                ("X-Request-Source".to_string(), REQUEST_SOURCE.to_string()),
                ("X-Team".to_string(), "ops".to_string())
            ]
        );
    }
}
