//! Lines of a delta file: a fast typed parse that borrows from the line and keeps `fields`
//! as raw JSON (written verbatim into the batch payload), and a duplicate-id check in
//! constant memory — a Bloom filter, then an exact second look at the few ids it flags.

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A record line as parsed on the fast path.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineRecord<'a> {
    /// Record id.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// Expected stored version.
    #[serde(default)]
    pub version: Option<u64>,
    /// The fields, as written.
    #[serde(borrow)]
    pub fields: &'a RawValue,
}

/// A record ready for a batch payload: `{"id", "version"?, "fields"}` with `fields` verbatim.
#[derive(Debug, Serialize)]
pub struct RawRecord {
    /// Record id.
    pub id: String,
    /// Expected stored version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The fields, as written.
    pub fields: Box<RawValue>,
}

/// Parses a line on the fast path: `None` when it is not a plainly valid record (the caller
/// then validates it in full to report why).
pub fn fast_parse(line: &str) -> Option<LineRecord<'_>> {
    let record: LineRecord = serde_json::from_str(line).ok()?;
    let fields = record.fields.get().trim_start();
    let non_empty_object = fields.starts_with('{') && !fields[1..].trim_start().starts_with('}');
    (non_empty_object && !record.id.trim().is_empty()).then_some(record)
}

impl LineRecord<'_> {
    /// An owned record for a payload.
    pub fn to_raw(&self) -> RawRecord {
        RawRecord {
            id: self.id.to_string(),
            version: self.version,
            fields: self.fields.to_owned(),
        }
    }
}

/// A Bloom filter over ids: `might_contain` is false only for ids never inserted.
pub struct IdFilter {
    bits: Vec<u64>,
    hashes: u32,
}

impl IdFilter {
    /// A filter of about 16 bits per expected id (at least 1 Mi bits, at most 128 Mi bits =
    /// 16 MiB), with 7 hashes: under 0.1% false positives up to the expected count.
    pub fn for_ids(expected: u64) -> Self {
        let bits = (expected.saturating_mul(16)).clamp(1 << 20, 1 << 27);
        IdFilter {
            bits: vec![0; (bits / 64) as usize],
            hashes: 7,
        }
    }

    /// The two base hashes of an id (the second odd), from which the positions derive.
    fn base_hashes(id: &str) -> (u64, u64) {
        let hash = |seed: u8| {
            let mut h = DefaultHasher::new();
            seed.hash(&mut h);
            id.hash(&mut h);
            h.finish()
        };
        (hash(1), hash(2) | 1)
    }

    /// Inserts an id; true when it might have been inserted before.
    pub fn insert(&mut self, id: &str) -> bool {
        let (h1, h2) = Self::base_hashes(id);
        let m = (self.bits.len() * 64) as u64;
        let mut seen = true;
        for i in 0..u64::from(self.hashes) {
            let p = (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize;
            let (word, bit) = (p / 64, 1u64 << (p % 64));
            seen &= self.bits[word] & bit != 0;
            self.bits[word] |= bit;
        }
        seen
    }

    /// Bytes held.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bits.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_records_parse_fast_and_doubtful_ones_do_not() {
        let r = fast_parse(r#"{"id":"a","version":2,"fields":{"x":[1,{"y":2}]}}"#).expect("fast");
        assert_eq!((r.id.as_ref(), r.version), ("a", Some(2)));
        assert_eq!(
            serde_json::to_string(&r.to_raw()).expect("json"),
            r#"{"id":"a","version":2,"fields":{"x":[1,{"y":2}]}}"#
        );
        for doubtful in [
            r#"{"id":"a","fields":{}}"#,
            r#"{"id":"a","fields":{ }}"#,
            r#"{"id":" ","fields":{"x":1}}"#,
            r#"{"id":"a","fields":[1]}"#,
            r#"{"id":"a","fields":{"x":1},"extra":1}"#,
            r#"{"id":"a","version":-1,"fields":{"x":1}}"#,
            r#"not json"#,
        ] {
            assert!(fast_parse(doubtful).is_none(), "{doubtful}");
        }
    }

    #[test]
    fn the_filter_never_misses_an_inserted_id_and_rarely_flags_a_new_one() {
        let mut f = IdFilter::for_ids(100_000);
        let mut false_positives = 0;
        for i in 0..100_000 {
            if f.insert(&format!("r{i}")) {
                false_positives += 1;
            }
        }
        assert!(false_positives < 100, "{false_positives} of 100000");
        assert!(
            (0..1000).all(|i| f.insert(&format!("r{i}"))),
            "every repeat is flagged"
        );
        assert_eq!(IdFilter::for_ids(1).bytes(), (1 << 20) / 8);
        assert_eq!(IdFilter::for_ids(u64::MAX).bytes(), (1 << 27) / 8);
    }
}
