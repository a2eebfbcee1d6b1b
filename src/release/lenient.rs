//! Deserializers that accept what placeholders produce: placeholders always
//! substitute text, so `"containerPort": "{{service.port}}"` arrives as "4000",
//! and `"subnets": "{{stack.PrivateSubnetIds}}"` as "subnet-a,subnet-b".

use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::Value;

fn integer_from(value: Value) -> Result<i32, String> {
    match value {
        Value::Number(number) => number
            .as_i64()
            .and_then(|number| i32::try_from(number).ok())
            .ok_or_else(|| format!("{number} is not a whole number")),
        Value::String(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("\"{text}\" is not a whole number")),
        other => Err(format!("expected a number, found {other}")),
    }
}

pub fn int<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    integer_from(Value::deserialize(deserializer)?).map_err(de::Error::custom)
}

pub fn opt_int<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i32>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(value) => integer_from(value).map(Some).map_err(de::Error::custom),
    }
}

fn bool_from(value: Value) -> Result<bool, String> {
    match value {
        Value::Bool(flag) => Ok(flag),
        Value::String(text) if text == "true" => Ok(true),
        Value::String(text) if text == "false" => Ok(false),
        other => Err(format!("expected true or false, found {other}")),
    }
}

pub fn opt_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(value) => bool_from(value).map(Some).map_err(de::Error::custom),
    }
}

/// A string; numbers and booleans are taken as their text.
pub fn opt_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(Value::Number(number)) => Ok(Some(number.to_string())),
        Some(Value::Bool(flag)) => Ok(Some(flag.to_string())),
        Some(other) => Err(de::Error::custom(format!(
            "expected a string, found {other}"
        ))),
    }
}

/// A string; numbers and booleans are taken as their text.
pub fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    opt_string(deserializer)?.ok_or_else(|| de::Error::custom("expected a string, found null"))
}

/// A list of strings, or one string of comma-separated items.
pub fn string_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect()),
        Some(Value::Array(items)) => {
            let mut list = Vec::new();
            for item in items {
                match item {
                    // An element may itself be a comma-joined output.
                    Value::String(text) => list.extend(
                        text.split(',')
                            .map(str::trim)
                            .filter(|part| !part.is_empty())
                            .map(str::to_string),
                    ),
                    other => {
                        return Err(de::Error::custom(format!(
                            "expected strings, found {other}"
                        )))
                    }
                }
            }
            Ok(list)
        }
        Some(other) => Err(de::Error::custom(format!(
            "expected a list of strings, found {other}"
        ))),
    }
}
