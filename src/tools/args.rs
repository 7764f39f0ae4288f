//! Argument helpers: lenient number and boolean parsing, and plain JSON schemas for picky clients.

use rmcp::model::JsonObject;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Some clients send numbers and booleans as strings ("10", "true"); accept both forms.
#[derive(Deserialize)]
#[serde(untagged)]
enum Lenient<T> {
    Value(T),
    Text(String),
}

fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
{
    match Option::<Lenient<T>>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Lenient::Value(value)) => Ok(Some(value)),
        Some(Lenient::Text(text)) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected a number, got \"{text}\""))),
    }
}

pub fn opt_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    lenient(deserializer)
}

pub fn opt_f32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f32>, D::Error> {
    lenient(deserializer)
}

pub fn opt_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    match Option::<Lenient<bool>>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Lenient::Value(value)) => Ok(Some(value)),
        Some(Lenient::Text(text)) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Some(true)),
            "false" | "0" | "no" => Ok(Some(false)),
            _ => Err(serde::de::Error::custom(format!(
                "expected true or false, got \"{text}\""
            ))),
        },
    }
}

/// Rewrites a generated schema so every client accepts it: `"type": ["string", "null"]`
/// becomes `"type": "string"`, and `anyOf: [X, {"type": "null"}]` becomes `X`
/// (optional fields are simply not required).
/// `$schema` and number `format`s are dropped too: they cost catalogue bytes and no client
/// needs them.
pub fn plain_schema(mut schema: JsonObject) -> JsonObject {
    strip_nulls(&mut schema);
    schema.remove("$schema");
    strip_key(&mut schema, "format");
    schema
}

/// Removes `key` from every schema object in the tree (not from `properties` maps, whose keys
/// are field names).
pub fn strip_key(object: &mut JsonObject, key: &str) {
    object.remove(key);
    for (name, value) in object.iter_mut() {
        match value {
            Value::Object(child) if name == "properties" || name == "$defs" => {
                for schema in child.values_mut() {
                    if let Value::Object(schema) = schema {
                        strip_key(schema, key);
                    }
                }
            }
            Value::Object(child) => strip_key(child, key),
            Value::Array(items) => items.iter_mut().for_each(|item| {
                if let Value::Object(child) = item {
                    strip_key(child, key);
                }
            }),
            _ => {}
        }
    }
}

fn strip_nulls(object: &mut JsonObject) {
    if let Some(Value::Array(types)) = object.get("type") {
        let kept: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        let replacement = match kept.len() {
            1 => kept[0].clone(),
            _ => Value::Array(kept),
        };
        object.insert("type".into(), replacement);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(variants)) = object.get(key) {
            let kept: Vec<Value> = variants
                .iter()
                .filter(|v| v.get("type").and_then(Value::as_str) != Some("null"))
                .cloned()
                .collect();
            if kept.len() == 1
                && let Value::Object(only) = &kept[0]
            {
                let only = only.clone();
                object.remove(key);
                for (k, v) in only {
                    object.entry(k).or_insert(v);
                }
            } else if kept.len() != variants.len() {
                object.insert(key.into(), Value::Array(kept));
            }
        }
    }
    if let Some(Value::Array(values)) = object.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    if object.get("default").is_some_and(Value::is_null) {
        object.remove("default");
    }
    for value in object.values_mut() {
        match value {
            Value::Object(child) => strip_nulls(child),
            Value::Array(items) => items.iter_mut().for_each(|item| {
                if let Value::Object(child) = item {
                    strip_nulls(child);
                }
            }),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Sample {
        #[serde(default, deserialize_with = "opt_u32")]
        n: Option<u32>,
        #[serde(default, deserialize_with = "opt_bool")]
        flag: Option<bool>,
        #[serde(default, deserialize_with = "opt_f32")]
        t: Option<f32>,
    }

    #[test]
    fn numbers_and_booleans_may_be_strings() {
        let s: Sample =
            serde_json::from_value(json!({"n": "10", "flag": "true", "t": "0.5"})).unwrap();
        assert_eq!((s.n, s.flag, s.t), (Some(10), Some(true), Some(0.5)));
        let s: Sample = serde_json::from_value(json!({"n": 3, "flag": false})).unwrap();
        assert_eq!((s.n, s.flag, s.t), (Some(3), Some(false), None));
        assert!(serde_json::from_value::<Sample>(json!({"n": "ten"})).is_err());
        assert!(serde_json::from_value::<Sample>(json!({"n": -1})).is_err());
    }

    #[test]
    fn nullable_unions_are_removed() {
        let schema = json!({
            "type": "object",
            "properties": {
                "a": {"type": ["string", "null"]},
                "b": {"anyOf": [{"$ref": "#/$defs/X"}, {"type": "null"}], "default": null},
                "c": {"type": ["integer", "null"], "format": "uint32"}
            }
        });
        let Value::Object(schema) = schema else {
            unreachable!()
        };
        let plain = Value::Object(plain_schema(schema));
        assert_eq!(plain["properties"]["a"], json!({"type": "string"}));
        assert_eq!(plain["properties"]["b"], json!({"$ref": "#/$defs/X"}));
        assert_eq!(plain["properties"]["c"]["type"], json!("integer"));
        assert!(!plain.to_string().contains("null"));
    }
}
