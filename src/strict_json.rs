//! Strict JSON for JOSE headers and claim sets: duplicate member names are an error (RFC 7515
//! §5.2 lets a verifier refuse them, and a parser that keeps the last one is how two
//! implementations come to disagree on a claim), as is nesting deeper or wider than the limits.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Bounds on a parsed document, checked while parsing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct JsonLimits {
    /// Containers (objects and arrays) nested in one another: the top-level object is 1.
    pub(crate) max_depth: usize,
    /// Members and array elements in the whole document.
    pub(crate) max_entries: usize,
}

impl JsonLimits {
    pub(crate) const DEFAULT: Self = Self {
        max_depth: 16,
        max_entries: 1024,
    };
}

/// Why a document was refused. Never carries document content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JsonError {
    Syntax,
    NotAnObject,
    DuplicateMember,
    TooDeep,
    TooLarge,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Syntax => "not valid JSON",
            Self::NotAnObject => "not a JSON object",
            Self::DuplicateMember => "duplicate member name",
            Self::TooDeep => "nested too deeply",
            Self::TooLarge => "too many members",
        })
    }
}

/// Parses `bytes` as one JSON object under `limits`.
pub(crate) fn parse_object(
    bytes: &[u8],
    limits: JsonLimits,
) -> Result<Map<String, Value>, JsonError> {
    let state = State {
        limits,
        entries: Cell::new(0),
        failure: Cell::new(None),
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict {
        state: &state,
        depth: 1,
    }
    .deserialize(&mut de)
    .map_err(|_| state.failure.get().unwrap_or(JsonError::Syntax))?;
    de.end().map_err(|_| JsonError::Syntax)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotAnObject),
    }
}

struct State {
    limits: JsonLimits,
    entries: Cell<usize>,
    failure: Cell<Option<JsonError>>,
}

impl State {
    fn fail<E: de::Error>(&self, why: JsonError) -> E {
        self.failure.set(Some(why));
        E::custom(why)
    }

    fn count<E: de::Error>(&self) -> Result<(), E> {
        let n = self.entries.get() + 1;
        self.entries.set(n);
        if n > self.limits.max_entries {
            return Err(self.fail(JsonError::TooLarge));
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Strict<'s> {
    state: &'s State,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested::<A::Error>()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            self.state.count::<A::Error>()?;
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let inner = self.nested::<A::Error>()?;
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            self.state.count::<A::Error>()?;
            let value = access.next_value_seed(inner)?;
            if map.insert(key, value).is_some() {
                return Err(self.state.fail(JsonError::DuplicateMember));
            }
        }
        Ok(Value::Object(map))
    }
}

impl Strict<'_> {
    /// Entering a container at `self.depth`: refused past the limit; its members are one deeper.
    fn nested<E: de::Error>(self) -> Result<Self, E> {
        if self.depth > self.state.limits.max_depth {
            return Err(self.state.fail(JsonError::TooDeep));
        }
        Ok(Self {
            state: self.state,
            depth: self.depth + 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Map<String, Value>, JsonError> {
        parse_object(s.as_bytes(), JsonLimits::DEFAULT)
    }

    #[test]
    fn accepts_ordinary_objects() {
        let map = parse(r#"{"a":1,"b":[1,2,{"c":null}],"d":1.5,"e":"x"}"#).unwrap();
        assert_eq!(map.len(), 4);
        assert_eq!(map["d"], Value::from(1.5));
    }

    #[test]
    fn refuses_duplicates_at_any_depth() {
        assert_eq!(parse(r#"{"a":1,"a":2}"#), Err(JsonError::DuplicateMember));
        assert_eq!(
            parse(r#"{"x":{"a":1,"a":1}}"#),
            Err(JsonError::DuplicateMember)
        );
        // Escapes that decode to the same name are the same name.
        assert_eq!(
            parse(r#"{"a":1,"\u0061":2}"#),
            Err(JsonError::DuplicateMember)
        );
    }

    #[test]
    fn refuses_non_objects_and_trailing_data() {
        assert_eq!(parse("[1]"), Err(JsonError::NotAnObject));
        assert_eq!(parse("1"), Err(JsonError::NotAnObject));
        assert_eq!(parse("{} {}"), Err(JsonError::Syntax));
        assert_eq!(parse("{\"a\":1,}"), Err(JsonError::Syntax));
        assert_eq!(parse(""), Err(JsonError::Syntax));
    }

    #[test]
    fn depth_limit_is_exact() {
        let limits = JsonLimits {
            max_depth: 3,
            max_entries: 100,
        };
        assert!(parse_object(br#"{"a":{"b":{"c":1}}}"#, limits).is_ok());
        assert!(parse_object(br#"{"a":[[1]]}"#, limits).is_ok());
        assert_eq!(
            parse_object(br#"{"a":{"b":{"c":[]}}}"#, limits),
            Err(JsonError::TooDeep)
        );
        assert_eq!(
            parse_object(br#"{"a":[[[1]]]}"#, limits),
            Err(JsonError::TooDeep)
        );
    }

    #[test]
    fn entry_limit_is_exact() {
        let limits = JsonLimits {
            max_depth: 4,
            max_entries: 3,
        };
        assert!(parse_object(br#"{"a":1,"b":2,"c":3}"#, limits).is_ok());
        assert_eq!(
            parse_object(br#"{"a":1,"b":2,"c":3,"d":4}"#, limits),
            Err(JsonError::TooLarge)
        );
        assert_eq!(
            parse_object(br#"{"a":[1,2,3]}"#, limits),
            Err(JsonError::TooLarge)
        );
    }
}
