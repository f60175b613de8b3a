//! Pure JSON-Schema plumbing over the forges' API descriptions: turning an OpenAPI 3.0 / Swagger
//! 2.0 schema into JSON Schema draft 4, generating a minimal valid instance (the stand-ins' filler
//! for fields Sealift ignores), and comparing Sealift's wire types with the description.

use serde_json::{Map, Value, json};

/// Which flavour of schema language a description is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAPI 3.0 (GitHub, the GitLab transcription): `nullable`, `components/schemas`.
    OpenApi3,
    /// Swagger 2.0 (Gitea, Forgejo): `definitions`, no way to say "nullable".
    Swagger2,
}

/// Which side of an exchange a schema is checked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Strict: an object may carry only the properties the description declares.
    Request,
    /// As the forge sends it. For Swagger 2.0 every property may also be null: go-swagger cannot
    /// express nullability, and Gitea/Forgejo serialise nil pointers (`merged_at`, `milestone`,
    /// `merge_commit_sha`, …) as `null`.
    Response,
}

/// Keywords that are OpenAPI annotations, not JSON Schema draft 4 validation.
fn dropped(keyword: &str) -> bool {
    matches!(
        keyword,
        "nullable"
            | "x-nullable"
            | "example"
            | "examples"
            | "discriminator"
            | "readOnly"
            | "writeOnly"
            | "xml"
            | "externalDocs"
            | "deprecated"
    ) || keyword.starts_with("x-")
}

fn is_nullable(map: &Map<String, Value>) -> bool {
    map.get("nullable") == Some(&Value::Bool(true))
        || map.get("x-nullable") == Some(&Value::Bool(true))
}

/// Rewrites one schema (not following `$ref`s) into draft 4.
pub fn to_draft4(schema: &Value, mode: Mode, dialect: Dialect) -> Value {
    transform(schema, mode, dialect, false)
}

fn transform(schema: &Value, mode: Mode, dialect: Dialect, in_all_of: bool) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        if dropped(key) {
            continue;
        }
        let converted = match key.as_str() {
            "properties" => {
                let props = value.as_object().cloned().unwrap_or_default();
                Value::Object(
                    props
                        .iter()
                        .map(|(name, prop)| {
                            let p = transform(prop, mode, dialect, false);
                            let p = if mode == Mode::Response && dialect == Dialect::Swagger2 {
                                json!({"anyOf": [{"type": "null"}, p]})
                            } else {
                                p
                            };
                            (name.clone(), p)
                        })
                        .collect(),
                )
            }
            "items" | "not" => transform(value, mode, dialect, false),
            "additionalProperties" if value.is_object() => transform(value, mode, dialect, false),
            "allOf" => Value::Array(
                value
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|s| transform(s, mode, dialect, true))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            "anyOf" | "oneOf" => Value::Array(
                value
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|s| transform(s, mode, dialect, false))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            "required" if value.as_array().is_some_and(Vec::is_empty) => continue,
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }
    if mode == Mode::Request
        && !in_all_of
        && out.contains_key("properties")
        && !out.contains_key("additionalProperties")
    {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    if is_nullable(map) {
        json!({"anyOf": [{"type": "null"}, Value::Object(out)]})
    } else {
        Value::Object(out)
    }
}

/// Every local `$ref` inside `schema`.
pub fn refs(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            for v in map.values() {
                refs(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// Deep merge: `over`'s keys replace `base`'s, objects merge recursively.
pub fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// The JSON types a schema admits (after following `resolve`), `null` included when nullable.
pub fn types(schema: &Value, resolve: &dyn Fn(&Value) -> Value) -> Vec<String> {
    let s = resolve(schema);
    let mut out = Vec::new();
    if let Some(map) = s.as_object() {
        if is_nullable(map) {
            out.push("null".to_owned());
        }
        match map.get("type") {
            Some(Value::String(t)) => out.push(t.clone()),
            Some(Value::Array(ts)) => {
                out.extend(ts.iter().filter_map(|t| t.as_str().map(str::to_owned)))
            }
            _ => {}
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(parts) = map.get(key).and_then(Value::as_array) {
                for part in parts {
                    out.extend(types(part, resolve));
                }
            }
        }
        if out.is_empty() || out == ["null"] {
            if map.contains_key("properties") {
                out.push("object".to_owned());
            } else if map.contains_key("items") {
                out.push("array".to_owned());
            }
        }
        if let Some(values) = map.get("enum").and_then(Value::as_array)
            && values.iter().any(Value::is_null)
        {
            out.push("null".to_owned());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The properties an object schema declares, across `allOf` / `anyOf` / `oneOf`, with whether
/// each is required (in some branch).
pub fn properties(schema: &Value, resolve: &dyn Fn(&Value) -> Value) -> Vec<(String, Value, bool)> {
    let s = resolve(schema);
    let mut out: Vec<(String, Value, bool)> = Vec::new();
    let Some(map) = s.as_object() else {
        return out;
    };
    let required: Vec<&str> = map
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = map.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            out.push((
                name.clone(),
                prop.clone(),
                required.contains(&name.as_str()),
            ));
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for part in map.get(key).and_then(Value::as_array).into_iter().flatten() {
            for (name, prop, req) in properties(part, resolve) {
                match out.iter_mut().find(|(n, _, _)| *n == name) {
                    Some(existing) => existing.2 |= req,
                    None => out.push((name, prop, req)),
                }
            }
        }
    }
    out
}

/// The array item schema, if `schema` is (or may be) an array.
pub fn items(schema: &Value, resolve: &dyn Fn(&Value) -> Value) -> Option<Value> {
    let s = resolve(schema);
    let map = s.as_object()?;
    if let Some(items) = map.get("items") {
        return Some(items.clone());
    }
    ["allOf", "anyOf", "oneOf"]
        .iter()
        .flat_map(|k| map.get(*k).and_then(Value::as_array).into_iter().flatten())
        .find_map(|part| items(part, resolve))
}

/// A minimal instance of `schema`: required properties (every declared property when the
/// description states no `required`), nullable ones as null, typed placeholders.
pub fn instance(
    schema: &Value,
    resolve: &dyn Fn(&Value) -> Value,
    dialect: Dialect,
    depth: usize,
) -> Value {
    let s = resolve(schema);
    let Some(map) = s.as_object() else {
        return json!("x");
    };
    if depth > 0 && is_nullable(map) {
        return Value::Null;
    }
    if depth > 14 {
        return Value::Null;
    }
    if let Some(parts) = map.get("allOf").and_then(Value::as_array) {
        let mut out = json!({});
        for part in parts {
            let inst = instance(part, resolve, dialect, depth + 1);
            if inst.is_object() {
                merge(&mut out, inst);
            }
        }
        if let Some(own) = map.get("properties") {
            merge(
                &mut out,
                instance(
                    &json!({"properties": own, "required": map.get("required").cloned().unwrap_or(json!([]))}),
                    resolve,
                    dialect,
                    depth + 1,
                ),
            );
        }
        return out;
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(first) = map.get(key).and_then(Value::as_array).and_then(|a| {
            a.iter()
                .find(|b| resolve(b).get("type") != Some(&json!("null")))
        }) {
            return instance(first, resolve, dialect, depth + 1);
        }
    }
    if let Some(first) = map
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    let ty = map.get("type").and_then(|t| match t {
        Value::String(s) => Some(s.clone()),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .map(str::to_owned),
        _ => None,
    });
    match ty.as_deref() {
        Some("object") | None if map.contains_key("properties") || ty.is_some() => {
            let mut out = Map::new();
            let props = map
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let required: Option<Vec<&str>> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect());
            for (name, prop) in &props {
                let wanted = match &required {
                    Some(r) => r.contains(&name.as_str()),
                    None => true,
                };
                if !wanted {
                    continue;
                }
                // Swagger 2.0 nests whole objects; past the second level Gitea's pointers are
                // nil far more often than not, and null is what the real server sends then.
                let v = if dialect == Dialect::Swagger2 && depth >= 2 {
                    Value::Null
                } else {
                    instance(prop, resolve, dialect, depth + 1)
                };
                out.insert(name.clone(), v);
            }
            Value::Object(out)
        }
        Some("array") => {
            let min = map.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            if min > 0 {
                let item = map.get("items").cloned().unwrap_or(json!({}));
                json!([instance(&item, resolve, dialect, depth + 1)])
            } else {
                json!([])
            }
        }
        Some("integer") => json!(
            map.get("minimum")
                .and_then(Value::as_i64)
                .unwrap_or(1)
                .max(1)
        ),
        Some("number") => json!(1.0),
        Some("boolean") => json!(false),
        Some("string") => match map.get("format").and_then(Value::as_str) {
            Some("date-time") => json!("2024-05-01T12:00:00Z"),
            Some("date") => json!("2024-05-01"),
            Some("uri" | "url") => json!("https://forge.invalid/x"),
            Some("email") => json!("someone@forge.invalid"),
            Some("uri-template") => json!("https://forge.invalid/{x}"),
            _ => json!("x"),
        },
        _ => json!("x"),
    }
}
