//! Lenient protobuf-JSON readers for the generated Mesos messages.
//!
//! Mesos's own JSON (stout) writes 64-bit integers as numbers and enums as
//! names; protobuf's canonical JSON writes 64-bit integers as strings and
//! non-finite doubles as `"NaN"` / `"Infinity"`. Both are accepted. `null`
//! means "absent", and a single object stands for a one-element list (stout
//! accepts that too).

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use std::fmt;

/// A JSON scalar as read, before it is narrowed to the field's type.
enum Scalar {
    Null,
    Bool(bool),
    U(u64),
    I(i64),
    F(f64),
    S(String),
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, a numeric string, a boolean or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::U(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::I(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::F(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::S(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::S(v))
    }
}

fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
    d.deserialize_any(ScalarVisitor)
}

fn float_of<E: de::Error>(s: Scalar) -> Result<Option<f64>, E> {
    Ok(match s {
        Scalar::Null => None,
        Scalar::U(v) => Some(v as f64),
        Scalar::I(v) => Some(v as f64),
        Scalar::F(v) => Some(v),
        Scalar::S(s) => Some(match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            other => other
                .parse::<f64>()
                .map_err(|_| E::custom(format!("expected a number, found the string {s:?}")))?,
        }),
        Scalar::Bool(b) => return Err(E::custom(format!("expected a number, found {b}"))),
    })
}

fn integer_of<E: de::Error>(s: Scalar) -> Result<Option<i128>, E> {
    Ok(match s {
        Scalar::Null => None,
        Scalar::U(v) => Some(v as i128),
        Scalar::I(v) => Some(v as i128),
        Scalar::F(v) if v.is_finite() && v.fract() == 0.0 => Some(v as i128),
        Scalar::F(v) => return Err(E::custom(format!("expected an integer, found {v}"))),
        Scalar::S(s) => Some(
            s.parse::<i128>()
                .map_err(|_| E::custom(format!("expected an integer, found the string {s:?}")))?,
        ),
        Scalar::Bool(b) => return Err(E::custom(format!("expected an integer, found {b}"))),
    })
}

macro_rules! int_reader {
    ($name:ident, $ty:ty) => {
        #[doc = concat!("Reads an optional `", stringify!($ty), "` from a number or a numeric string.")]
        pub fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$ty>, D::Error> {
            match integer_of::<D::Error>(scalar(d)?)? {
                None => Ok(None),
                Some(v) => <$ty>::try_from(v).map(Some).map_err(|_| {
                    de::Error::custom(format!("{v} is out of range for {}", stringify!($ty)))
                }),
            }
        }
    };
}

int_reader!(opt_u64, u64);
int_reader!(opt_u32, u32);
int_reader!(opt_i64, i64);

/// Reads an optional `f64` from a number, a numeric string, or `"NaN"` /
/// `"Infinity"` / `"-Infinity"`.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    float_of(scalar(d)?)
}

/// Reads an optional string; `null` is absent.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match scalar(d)? {
        Scalar::Null => Ok(None),
        Scalar::S(s) => Ok(Some(s)),
        _ => Err(de::Error::custom("expected a string")),
    }
}

/// The enum value names of the enums on the usage path (Value.Type,
/// ReservationInfo.Type, DiskInfo.Source.Type, Blkio.Operation). Their names are
/// distinct except `UNKNOWN`, which is 0 in each.
const ENUM_NAMES: &[(&str, i32)] = &[
    ("UNKNOWN", 0),
    ("SCALAR", 0),
    ("RANGES", 1),
    ("SET", 2),
    ("TEXT", 3),
    ("STATIC", 1),
    ("DYNAMIC", 2),
    ("PATH", 1),
    ("MOUNT", 2),
    ("BLOCK", 3),
    ("RAW", 4),
    ("TOTAL", 1),
    ("READ", 2),
    ("WRITE", 3),
    ("SYNC", 4),
    ("ASYNC", 5),
    ("DISCARD", 6),
];

/// Reads an optional enum from its value name or its number.
pub fn opt_enum<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    match scalar(d)? {
        Scalar::S(s) => match ENUM_NAMES.iter().find(|(n, _)| *n == s) {
            Some((_, v)) => Ok(Some(*v)),
            None => Err(de::Error::custom(format!("unknown enum value name {s:?}"))),
        },
        other => match integer_of::<D::Error>(other)? {
            None => Ok(None),
            Some(v) => i32::try_from(v)
                .map(Some)
                .map_err(|_| de::Error::custom(format!("enum number {v} is out of range"))),
        },
    }
}

/// Reads a repeated message field: a list, a single object (one element), or
/// `null` (empty). Element errors keep their path (`executors[3].statistics`).
pub fn vec_or_null<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    struct ListVisitor<T>(std::marker::PhantomData<T>);
    impl<'de, T: DeserializeOwned> Visitor<'de> for ListVisitor<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list, an object or null")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(item) = seq.next_element()? {
                out.push(item);
            }
            Ok(out)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
            Ok(vec![T::deserialize(
                de::value::MapAccessDeserializer::new(map),
            )?])
        }
    }
    d.deserialize_any(ListVisitor(std::marker::PhantomData))
}

/// A JSON value's kind with its article ("a number", "null"), for messages
/// that say what was found instead of what was wanted.
pub fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
