//! Strict JSON for request bodies (/ingest and /alertmanager): a repeated key or a trailing second
//! value is an error, not a silent choice, type errors name their path, and an object of a million
//! keys is refused while it is parsed. A leaf: the decoders and the Alertmanager receiver share it.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::error::ApiError;

/// Keys one object may have: more than any model's features, few enough that a hostile body of a
/// million keys is refused while parsing instead of being built up in memory first.
pub(crate) const MAX_OBJECT_KEYS: usize = 10_000;

/// A JSON object kept in order that rejects a repeated key instead of silently keeping the last one
/// (`{"x": [1], "x": [2]}` is ambiguous data, not a batch), and one of more than [`MAX_OBJECT_KEYS`].
#[derive(Debug)]
pub(crate) struct UniqueMap<V>(pub Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UniqueVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for UniqueVisitor<V> {
            type Value = UniqueMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut seen = HashSet::new();
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key.clone()) {
                        return Err(de::Error::custom(format!("duplicate key {key:?}")));
                    }
                    if entries.len() == MAX_OBJECT_KEYS {
                        return Err(de::Error::custom(format!("object has more than {MAX_OBJECT_KEYS} keys")));
                    }
                    entries.push((key, map.next_value()?));
                }
                Ok(UniqueMap(entries))
            }
        }
        deserializer.deserialize_map(UniqueVisitor(PhantomData))
    }
}

/// The 400 for a JSON syntax or shape error; duplicate keys get their own reason.
pub(crate) fn json_error(e: &serde_json::Error, field: Option<&str>, message: String) -> ApiError {
    let reason = if e.to_string().starts_with("duplicate key") {
        "duplicate_key"
    } else if e.is_data() {
        "invalid_type"
    } else {
        "invalid_json"
    };
    ApiError::bad_request(reason, field, message)
}

/// Parses a whole JSON document into `T`: type errors name their path (`features.age[3]`, via
/// serde_path_to_error), and anything after the value (`{..} xyz`, a second object) is an error, as
/// it makes the body ambiguous. `what` starts the message ("invalid JSON body").
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let parsed = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        // A syntax error outside any value names the whole body.
        let field = if path == "." { "body" } else { path.as_str() };
        let inner = e.into_inner();
        json_error(&inner, Some(field), format!("{what}: {inner}"))
    })?;
    de.end().map_err(|e| json_error(&e, Some("body"), format!("{what}: {e}")))?;
    Ok(parsed)
}
