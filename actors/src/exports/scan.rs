//! One allocation-free pass over a records page (a JSON array of objects): how many records
//! it holds, the first record's key set, and the index of the first record whose key set
//! differs from the baseline (schema drift). Values are skipped, not built; keys are compared
//! in place against the sorted baseline.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// What a page holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageScan {
    /// Records in the page.
    pub count: usize,
    /// Sorted keys of the first record, when there was no baseline.
    pub first_keys: Option<Vec<String>>,
    /// Index of the first record whose keys differ from the baseline.
    pub drift_at: Option<usize>,
}

/// Scans a page against `baseline` (sorted keys; `None`: the first record sets it).
///
/// Errors: the page is not a JSON array.
pub fn scan_page(bytes: &[u8], baseline: Option<&[String]>) -> Result<PageScan, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let scan = PageSeed { baseline }.deserialize(&mut de)?;
    de.end()?;
    Ok(scan)
}

/// Counts the records of a page (a JSON array) without building them: what a consumer
/// needs to check a chunk header's `count`.
///
/// Errors: the bytes are not a JSON array.
pub fn count_records(bytes: &[u8]) -> Result<usize, serde_json::Error> {
    struct Count;
    impl<'de> Visitor<'de> for Count {
        type Value = usize;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON array of records")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
            let mut n = 0;
            while seq.next_element::<IgnoredAny>()?.is_some() {
                n += 1;
            }
            Ok(n)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let n = serde::Deserializer::deserialize_seq(&mut de, Count)?;
    de.end()?;
    Ok(n)
}

struct PageSeed<'a> {
    baseline: Option<&'a [String]>,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = PageScan;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<PageScan, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = PageScan;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PageScan, A::Error> {
        let mut scan = PageScan {
            count: 0,
            first_keys: None,
            drift_at: None,
        };
        let mut owned: Option<Vec<String>> = None;
        // Where each key of the last record sat in the sorted baseline, by position: records
        // of one shape keep their keys in one order, so one comparison per key finds them.
        let mut hint: Vec<usize> = Vec::new();
        loop {
            let base = self.baseline.or(owned.as_deref());
            let more = match (base, scan.drift_at) {
                (_, Some(_)) => seq.next_element::<IgnoredAny>()?.is_some(),
                (None, None) => match seq.next_element_seed(KeysOf)? {
                    Some(keys) => {
                        scan.first_keys = Some(keys.clone());
                        owned = Some(keys);
                        true
                    }
                    None => false,
                },
                (Some(keys), None) => match seq.next_element_seed(SameShape {
                    keys,
                    hint: &mut hint,
                })? {
                    Some(same) => {
                        if !same {
                            scan.drift_at = Some(scan.count);
                        }
                        true
                    }
                    None => false,
                },
            };
            if !more {
                return Ok(scan);
            }
            scan.count += 1;
        }
    }
}

/// Collects a record's sorted keys (a non-object has none).
struct KeysOf;

impl<'de> DeserializeSeed<'de> for KeysOf {
    type Value = Vec<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<String>, D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! no_keys {
    ($($name:ident: $t:ty),*) => {$(
        fn $name<E>(self, _: $t) -> Result<Self::Value, E> { Ok(Self::Value::default()) }
    )*};
}

impl<'de> Visitor<'de> for KeysOf {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Vec<String>, M::Error> {
        let mut keys = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            keys.push(k);
        }
        keys.sort();
        Ok(keys)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Vec::new())
    }
    fn visit_unit<E>(self) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }
    no_keys!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
}

/// Whether a record's keys are exactly `keys` (sorted), without allocating: each key is
/// looked for first where `hint` says the last record had it, then by binary search.
struct SameShape<'a, 'h> {
    keys: &'a [String],
    hint: &'h mut Vec<usize>,
}

impl<'de> DeserializeSeed<'de> for SameShape<'_, '_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

/// Where one key sits in `keys` (sorted), trying `expect` first. Keys are read as bytes
/// (escapes resolved, no UTF-8 check: a key that is not UTF-8 matches no baseline key).
struct KeyIn<'a> {
    keys: &'a [String],
    expect: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for KeyIn<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_bytes(self)
    }
}

impl<'de> Visitor<'de> for KeyIn<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_bytes<E: serde::de::Error>(self, k: &[u8]) -> Result<Option<usize>, E> {
        if let Some(i) = self.expect {
            if self.keys.get(i).is_some_and(|x| x.as_bytes() == k) {
                return Ok(Some(i));
            }
        }
        Ok(self.keys.binary_search_by(|x| x.as_bytes().cmp(k)).ok())
    }
    fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<Option<usize>, E> {
        self.visit_bytes(k.as_bytes())
    }
}

impl<'de> Visitor<'de> for SameShape<'_, '_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<bool, M::Error> {
        let (mut n, mut same) = (0, true);
        // With up to 64 keys, a bit per key also catches a repeated key standing in for a
        // missing one; beyond that the count decides.
        let mut seen: u64 = 0;
        let tracked = self.keys.len() <= 64;
        while let Some(found) = map.next_key_seed(KeyIn {
            keys: self.keys,
            expect: self.hint.get(n).copied(),
        })? {
            map.next_value::<IgnoredAny>()?;
            match found {
                Some(i) => {
                    if tracked {
                        same &= seen & (1 << i) == 0;
                        seen |= 1 << i;
                    }
                    match self.hint.get_mut(n) {
                        Some(h) => *h = i,
                        None => self.hint.push(i),
                    }
                }
                None => same = false,
            }
            n += 1;
        }
        Ok(same && n == self.keys.len())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.keys.is_empty())
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(self.keys.is_empty())
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(self.keys.is_empty())
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(self.keys.is_empty())
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(self.keys.is_empty())
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(self.keys.is_empty())
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(self.keys.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exports::frame::key_set;
    use serde_json::json;

    fn keys(v: &[&str]) -> Vec<String> {
        let mut k: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        k.sort();
        k
    }

    #[test]
    fn a_page_of_one_shape_is_counted_and_its_first_keys_kept() {
        let page = json!([{"b": 1, "a": {"x": [1, 2]}}, {"a": 2, "b": "s"}, {"b": null, "a": 0}])
            .to_string();
        let scan = scan_page(page.as_bytes(), None).expect("scan");
        assert_eq!(
            scan,
            PageScan {
                count: 3,
                first_keys: Some(keys(&["a", "b"])),
                drift_at: None
            }
        );
        let base = keys(&["a", "b"]);
        assert_eq!(
            scan_page(page.as_bytes(), Some(&base))
                .expect("scan")
                .first_keys,
            None
        );
    }

    #[test]
    fn the_first_record_of_another_shape_is_found_and_the_rest_still_counted() {
        let page =
            json!([{"a": 1, "b": 2}, {"a": 1, "c": 2}, {"a": 1}, {"a": 1, "b": 2}]).to_string();
        let base = keys(&["a", "b"]);
        let scan = scan_page(page.as_bytes(), Some(&base)).expect("scan");
        assert_eq!((scan.count, scan.drift_at), (4, Some(1)));
        let subset = json!([{"a": 1}]).to_string();
        assert_eq!(
            scan_page(subset.as_bytes(), Some(&base))
                .expect("scan")
                .drift_at,
            Some(0)
        );
        let escaped = r#"[{"\u0061": 1, "b": 2}]"#;
        assert_eq!(
            scan_page(escaped.as_bytes(), Some(&base))
                .expect("scan")
                .drift_at,
            None,
            "escaped keys compare by value"
        );
    }

    #[test]
    fn keys_in_another_order_are_the_same_shape_and_a_repeated_key_is_not() {
        let base = keys(&["a", "b", "c"]);
        let page =
            json!([{"a": 1, "b": 2, "c": 3}, {"c": 1, "a": 2, "b": 3}, {"b": 1, "c": 2, "a": 3}])
                .to_string();
        let scan = scan_page(page.as_bytes(), Some(&base)).expect("scan");
        assert_eq!((scan.count, scan.drift_at), (3, None));
        let repeated = r#"[{"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "b": 3}]"#;
        assert_eq!(
            scan_page(repeated.as_bytes(), Some(&base))
                .expect("scan")
                .drift_at,
            Some(1),
            "`b` twice stands in for the missing `c`"
        );
    }

    #[test]
    fn records_are_counted_without_being_built() {
        let page = json!([{"a": [1, {"b": 2}]}, 3, "x", null, {"c": "]"}]).to_string();
        assert_eq!(count_records(page.as_bytes()).expect("count"), 5);
        assert_eq!(count_records(b"[]").expect("count"), 0);
        assert!(count_records(b"{\"a\":1}").is_err());
        assert!(count_records(b"[1] 2").is_err());
    }

    #[test]
    fn the_scan_agrees_with_key_set_and_refuses_what_is_not_an_array() {
        let rec = json!({"z": 1, "y": [1], "x": {"k": 1}});
        let page = json!([rec.clone()]).to_string();
        assert_eq!(
            scan_page(page.as_bytes(), None).expect("scan").first_keys,
            Some(key_set(&rec))
        );
        assert_eq!(scan_page(b"[]", None).expect("scan").count, 0);
        assert!(scan_page(b"{\"a\":1}", None).is_err());
        assert!(scan_page(b"[1,", None).is_err());
    }
}
