//! The forges' API descriptions, and checks against them. Everything is read from inside the
//! repository or from the rig cache; nothing outside either.
//!
//! * GitHub: `@octokit/openapi` (GitHub's official OpenAPI, pinned) from the rig cache, installed
//!   by `scripts/install-rig.sh`.
//! * Gitea 1.27 and Forgejo 16: no registry ships their description, so this crate carries
//!   Sealift's own contract for each (`specs/gitea-1.27.contract.json`,
//!   `specs/forgejo-16.contract.json`): the operations Sealift calls and the types they reach,
//!   derived from the upstream Swagger 2.0 document named (title, version, sha256) in the file's
//!   header. [`swagger_from_contract`] turns one back into the Swagger 2.0 shape the checks read.
//! * GitLab: no official description is obtainable from the reachable registries; a transcription
//!   of GitLab's documented fields lives in this crate (`specs/gitlab-documented.json`).
//!
//! A missing file is an error with an install hint, never a skip.

use super::lock;
use super::schema::{self, Dialect, Mode};
use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// The pinned `@octokit/openapi` release `scripts/install-rig.sh` installs.
pub const OCTOKIT_OPENAPI_VERSION: &str = "23.0.2";

/// The format tag every contract file's header carries.
pub const CONTRACT_FORMAT: &str = "sealift-forge-contract/1";
/// Sealift's contract for Gitea 1.27, under this crate's `specs/`.
pub const GITEA_CONTRACT: &str = "gitea-1.27.contract.json";
/// Sealift's contract for Forgejo 16, under this crate's `specs/`.
pub const FORGEJO_CONTRACT: &str = "forgejo-16.contract.json";

fn rig_cache() -> PathBuf {
    std::env::var_os("SEALIFT_RIG_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/sealift-rig"))
}

/// Where `@octokit/openapi` is installed (`$SEALIFT_RIG_CACHE/octokit-openapi-<version>`).
pub fn octokit_dir() -> PathBuf {
    rig_cache().join(format!("octokit-openapi-{OCTOKIT_OPENAPI_VERSION}"))
}

/// This crate's `specs/` directory (part of the repository).
pub fn specs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("specs")
}

fn load_json(path: PathBuf, hint: &str) -> Result<Value> {
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("API description missing: {}. {hint}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("API description {} is not JSON", path.display()))
}

/// A contract file from `specs/` as written (see [`swagger_from_contract`] for its shape).
pub fn contract(file: &str) -> Result<Value> {
    load_json(specs_dir().join(file), IN_REPOSITORY)
}

const OCTOKIT_HINT: &str = "Install the test rig: `scripts/install-rig.sh` (it installs \
    @octokit/openapi@23.0.2 from npm into $SEALIFT_RIG_CACHE/octokit-openapi-23.0.2).";
const IN_REPOSITORY: &str = "It is part of the repository.";

/// A description document used as it is.
fn as_is(doc: Value) -> Result<Value> {
    Ok(doc)
}

/// A contract file, rebuilt as the Swagger 2.0 document the checks read.
fn from_contract(contract: Value) -> Result<Value> {
    swagger_from_contract(&contract)
}

macro_rules! cached_spec {
    ($(#[$doc:meta])* $name:ident, $label:expr, $path:expr, $hint:expr, $build:expr) => {
        $(#[$doc])*
        /// Parsed once per process; a missing file is an error with an install hint.
        pub fn $name() -> Result<Arc<Spec>> {
            static SPEC: OnceLock<Arc<Spec>> = OnceLock::new();
            if let Some(spec) = SPEC.get() {
                return Ok(spec.clone());
            }
            let path: PathBuf = $path;
            let doc = $build(load_json(path.clone(), $hint)?)
                .with_context(|| format!("{}: {}", $label, path.display()))?;
            Ok(SPEC.get_or_init(|| Arc::new(Spec::new($label, doc))).clone())
        }
    };
}

cached_spec!(
    /// GitHub's official OpenAPI for api.github.com (`@octokit/openapi`).
    github_octokit,
    "GitHub (@octokit/openapi api.github.com)",
    octokit_dir().join("generated/api.github.com.json"),
    OCTOKIT_HINT,
    as_is
);
cached_spec!(
    /// GitHub Enterprise Server 3.19's official OpenAPI (`@octokit/openapi`).
    github_enterprise,
    "GitHub Enterprise Server 3.19 (@octokit/openapi)",
    octokit_dir().join("generated/ghes-3.19.json"),
    OCTOKIT_HINT,
    as_is
);
cached_spec!(
    /// Gitea 1.27: Sealift's contract (`specs/gitea-1.27.contract.json`).
    gitea,
    "Gitea 1.27 (Sealift's contract)",
    specs_dir().join(GITEA_CONTRACT),
    IN_REPOSITORY,
    from_contract
);
cached_spec!(
    /// Forgejo 16: Sealift's contract (`specs/forgejo-16.contract.json`).
    forgejo,
    "Forgejo 16 (Sealift's contract)",
    specs_dir().join(FORGEJO_CONTRACT),
    IN_REPOSITORY,
    from_contract
);
cached_spec!(
    /// GitLab's documented fields, transcribed (no official description is obtainable).
    gitlab_documented,
    "GitLab (documented fields, transcribed)",
    specs_dir().join("gitlab-documented.json"),
    IN_REPOSITORY,
    as_is
);

/// Turns one of Sealift's contract files into the Swagger 2.0 document [`Spec`] checks against.
///
/// A contract is `{"contract": header, "operations": {id: op}, "types": {name: type}}`:
///
/// * header: `format` ([`CONTRACT_FORMAT`]), `product`, `version`, `dialect` (`swagger-2.0`),
///   `base_path`, and `upstream` (`file`, `title`, `version`, `sha256` of the document the
///   contract was derived from);
/// * op: `method`, `path` (template), `parameters` (`name`, `in`, `type`, `required`, and
///   `format` / `enum` / `minimum` / `items` / `collectionFormat` where the upstream gives them),
///   `body` (`null`, or `type` and `required`), `responses` (status → type, `null` when the
///   upstream gives no body schema);
/// * type: `{"ref": name}`, `{"type": "any"}`, or `type` with `format` / `enum` / `minimum`,
///   `items` (arrays), `values` (maps) or `fields` + `required` (objects); every field carries
///   `nullable` (the upstream's `x-nullable`).
///
/// An empty `required` list is left out of the document: the upstream states none, and the
/// filler reads "no `required`" as "every field".
pub fn swagger_from_contract(contract: &Value) -> Result<Value> {
    let header = &contract["contract"];
    if header["format"] != CONTRACT_FORMAT {
        bail!("`format` is {}, not {CONTRACT_FORMAT}", header["format"]);
    }
    if header["dialect"] != "swagger-2.0" {
        bail!("unsupported dialect {}", header["dialect"]);
    }
    let mut paths = Map::new();
    let operations = contract["operations"]
        .as_object()
        .context("`operations` is not an object")?;
    for (id, op) in operations {
        let text = |key: &str| {
            op[key]
                .as_str()
                .with_context(|| format!("{id}: `{key}` is not a string"))
        };
        let method = text("method")?.to_lowercase();
        let template = text("path")?;
        let mut parameters = Vec::new();
        for p in op["parameters"]
            .as_array()
            .with_context(|| format!("{id}: `parameters` is not a list"))?
        {
            let mut out = Map::new();
            for (key, value) in p
                .as_object()
                .with_context(|| format!("{id}: a parameter is not an object"))?
            {
                let value = match key.as_str() {
                    "items" => type_schema(value)?,
                    "name" | "in" | "type" | "required" | "format" | "enum" | "minimum"
                    | "collectionFormat" => value.clone(),
                    other => bail!("{id}: unknown parameter key `{other}`"),
                };
                out.insert(key.clone(), value);
            }
            parameters.push(Value::Object(out));
        }
        let body = &op["body"];
        if !body.is_null() {
            parameters.push(json!({
                "name": "body",
                "in": "body",
                "required": body["required"] == true,
                "schema": type_schema(&body["type"]).with_context(|| format!("{id} body"))?,
            }));
        }
        let mut responses = Map::new();
        for (status, ty) in op["responses"]
            .as_object()
            .with_context(|| format!("{id}: `responses` is not an object"))?
        {
            let response = if ty.is_null() {
                json!({})
            } else {
                json!({"schema": type_schema(ty).with_context(|| format!("{id} {status}"))?})
            };
            responses.insert(status.clone(), response);
        }
        let item = paths
            .entry(template.to_owned())
            .or_insert_with(|| json!({}));
        if item.get(&method).is_some() {
            bail!("{id}: {method} {template} is described twice");
        }
        item[method] = json!({
            "operationId": id,
            "parameters": parameters,
            "responses": responses,
        });
    }
    let mut definitions = Map::new();
    for (name, ty) in contract["types"]
        .as_object()
        .context("`types` is not an object")?
    {
        definitions.insert(
            name.clone(),
            type_schema(ty).with_context(|| format!("type {name}"))?,
        );
    }
    let doc = json!({
        "swagger": "2.0",
        "info": {
            "title": header["upstream"]["title"],
            "version": header["upstream"]["version"],
        },
        "basePath": header["base_path"],
        "paths": paths,
        "definitions": definitions,
    });
    let mut refs = Vec::new();
    schema::refs(&doc, &mut refs);
    if let Some(r) = refs.iter().find(|r| {
        r.strip_prefix("#/definitions/")
            .is_none_or(|name| doc["definitions"].get(name).is_none())
    }) {
        bail!("{r} names no type in the contract");
    }
    Ok(doc)
}

/// A contract type expression as a Swagger 2.0 schema.
fn type_schema(ty: &Value) -> Result<Value> {
    let map = ty.as_object().context("a type is not an object")?;
    let mut out = Map::new();
    for (key, value) in map {
        match key.as_str() {
            "ref" => {
                let name = value.as_str().context("`ref` is not a string")?;
                out.insert("$ref".into(), json!(format!("#/definitions/{name}")));
            }
            "type" if value == "any" => {}
            "type" | "format" | "enum" | "minimum" => {
                out.insert(key.clone(), value.clone());
            }
            "items" => {
                out.insert("items".into(), type_schema(value)?);
            }
            "values" => {
                out.insert("additionalProperties".into(), type_schema(value)?);
            }
            "fields" => {
                let mut properties = Map::new();
                for (name, field) in value.as_object().context("`fields` is not an object")? {
                    properties.insert(
                        name.clone(),
                        type_schema(field).with_context(|| format!("field {name}"))?,
                    );
                }
                out.insert("properties".into(), Value::Object(properties));
            }
            "required" => {
                let names = value.as_array().context("`required` is not a list")?;
                if !names.is_empty() {
                    out.insert("required".into(), value.clone());
                }
            }
            "nullable" => {
                if value == true {
                    out.insert("x-nullable".into(), Value::Bool(true));
                }
            }
            other => bail!("unknown type key `{other}`"),
        }
    }
    Ok(Value::Object(out))
}

/// An operation in a description.
#[derive(Clone, Debug)]
pub struct Op {
    /// `operationId`.
    pub id: String,
    /// Upper-case HTTP method.
    pub method: String,
    /// The path template, e.g. `/repos/{owner}/{repo}/pulls`.
    pub template: String,
}

/// A parsed API description with compiled validators.
pub struct Spec {
    /// How violations name this description.
    pub label: &'static str,
    /// The document.
    pub doc: Value,
    /// OpenAPI 3 or Swagger 2.
    pub dialect: Dialect,
    /// An extract of some operations: requests for others are not checked against it.
    pub partial: bool,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec").field("label", &self.label).finish()
    }
}

impl Spec {
    /// Wraps a description document.
    pub fn new(label: &'static str, doc: Value) -> Self {
        let dialect = if doc.get("swagger").is_some() {
            Dialect::Swagger2
        } else {
            Dialect::OpenApi3
        };
        Self {
            label,
            doc,
            dialect,
            partial: false,
            validators: Mutex::new(HashMap::new()),
        }
    }

    /// Follows local `$ref`s to the schema they point at (`null` for a dangling one).
    pub fn resolve(&self, value: &Value) -> Value {
        let mut current = value.clone();
        for _ in 0..32 {
            let Some(r) = current.get("$ref").and_then(Value::as_str) else {
                return current;
            };
            let pointer = r.trim_start_matches('#');
            match self.doc.pointer(pointer) {
                Some(target) => current = target.clone(),
                None => return Value::Null,
            }
        }
        current
    }

    fn operations(&self) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for (template, item) in self.doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                if matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                    out.push((template.clone(), method.to_uppercase(), op.clone()));
                }
            }
        }
        out
    }

    fn op_value(&self, op: &Op) -> Value {
        self.doc["paths"][&op.template][op.method.to_lowercase()].clone()
    }

    /// The operation with `operationId` `id`.
    pub fn op_by_id(&self, id: &str) -> Option<Op> {
        self.operations()
            .into_iter()
            .find(|(_, _, op)| op["operationId"] == id)
            .map(|(template, method, _)| Op {
                id: id.to_owned(),
                method,
                template,
            })
    }

    /// The operation a request hits: `path` is relative to the API base, raw (still
    /// percent-encoded) so a GitLab project path stays one segment.
    pub fn find(&self, method: &str, path: &str) -> Option<Op> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut best: Option<(bool, Op)> = None;
        for (template, m, op) in self.operations() {
            if m != method {
                continue;
            }
            let Some(vars) = match_template(&template, &segments) else {
                continue;
            };
            let candidate = Op {
                id: op["operationId"].as_str().unwrap_or_default().to_owned(),
                method: m.clone(),
                template: template.clone(),
            };
            // Integer path parameters disambiguate `/pulls/{index}/merge` from a head branch.
            let params = self.params(&candidate);
            let typed_ok = vars.iter().all(|(name, value)| {
                params
                    .iter()
                    .find(|p| p.0 == *name && p.1 == "path")
                    .is_none_or(|p| scalar_ok(value, &p.2).is_ok())
            });
            if !typed_ok {
                continue;
            }
            let exact = template.trim_start_matches('/').split('/').count() == segments.len();
            if best
                .as_ref()
                .is_none_or(|(was_exact, _)| exact && !was_exact)
            {
                best = Some((exact, candidate));
            }
        }
        best.map(|(_, op)| op)
    }

    /// (name, location, schema, required) of every parameter, path-level ones included.
    fn params(&self, op: &Op) -> Vec<(String, String, Value, bool)> {
        let item = &self.doc["paths"][&op.template];
        let mut raw: Vec<Value> = item["parameters"].as_array().cloned().unwrap_or_default();
        raw.extend(
            self.op_value(op)["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        raw.iter()
            .map(|p| self.resolve(p))
            .map(|p| {
                let schema = match self.dialect {
                    Dialect::OpenApi3 => self.resolve(&p["schema"]),
                    Dialect::Swagger2 if p["in"] == "body" => self.resolve(&p["schema"]),
                    Dialect::Swagger2 => p.clone(),
                };
                (
                    p["name"].as_str().unwrap_or_default().to_owned(),
                    p["in"].as_str().unwrap_or_default().to_owned(),
                    schema,
                    p["required"] == true,
                )
            })
            .collect()
    }

    /// The request body schema.
    pub fn request_schema(&self, op: &Op) -> Option<Value> {
        match self.dialect {
            Dialect::OpenApi3 => {
                let body = self.resolve(&self.op_value(op)["requestBody"]);
                body.pointer("/content/application~1json/schema").cloned()
            }
            Dialect::Swagger2 => self
                .params(op)
                .into_iter()
                .find(|p| p.1 == "body")
                .map(|p| p.2),
        }
    }

    /// The response body schema for `status`, if the description gives one.
    pub fn response_schema(&self, op: &Op, status: u16) -> Option<Value> {
        let responses = &self.op_value(op)["responses"];
        let response = self.resolve(responses.get(status.to_string())?);
        match self.dialect {
            Dialect::OpenApi3 => response
                .pointer("/content/application~1json/schema")
                .cloned(),
            Dialect::Swagger2 => response.get("schema").cloned(),
        }
    }

    /// Whether the operation documents `status` at all.
    pub fn declares_status(&self, op: &Op, status: u16) -> bool {
        self.op_value(op)["responses"]
            .get(status.to_string())
            .is_some()
    }

    /// A draft-4 validator for `schema`, with every component it references.
    fn validator(
        &self,
        key: String,
        schema: &Value,
        mode: Mode,
    ) -> Result<Arc<jsonschema::Validator>, String> {
        if let Some(v) = lock(&self.validators).get(&key) {
            return Ok(v.clone());
        }
        let (container, prefix) = match self.dialect {
            Dialect::OpenApi3 => ("/components/schemas", "#/components/schemas/"),
            Dialect::Swagger2 => ("/definitions", "#/definitions/"),
        };
        let mut needed = Vec::new();
        let mut queue = Vec::new();
        schema::refs(schema, &mut queue);
        while let Some(r) = queue.pop() {
            let Some(name) = r.strip_prefix(prefix) else {
                return Err(format!("{}: unexpected $ref {r} in a schema", self.label));
            };
            if needed.iter().any(|n| n == name) {
                continue;
            }
            needed.push(name.to_owned());
            let target = self
                .doc
                .pointer(&format!("{container}/{name}"))
                .cloned()
                .unwrap_or(Value::Null);
            schema::refs(&target, &mut queue);
        }
        let mut components = serde_json::Map::new();
        for name in needed {
            let target = &self
                .doc
                .pointer(&format!("{container}/{name}"))
                .cloned()
                .unwrap_or(Value::Null);
            components.insert(name, schema::to_draft4(target, mode, self.dialect));
        }
        let mut root = json!({"allOf": [schema::to_draft4(schema, mode, self.dialect)]});
        match self.dialect {
            Dialect::OpenApi3 => root["components"] = json!({"schemas": components}),
            Dialect::Swagger2 => root["definitions"] = Value::Object(components),
        }
        let validator = Arc::new(
            jsonschema::draft4::options()
                .should_validate_formats(true)
                .build(&root)
                .map_err(|e| format!("{}: cannot compile the schema for {key}: {e}", self.label))?,
        );
        lock(&self.validators).insert(key, validator.clone());
        Ok(validator)
    }

    fn validate(&self, key: String, schema: &Value, mode: Mode, instance: &Value) -> Vec<String> {
        let validator = match self.validator(key.clone(), schema, mode) {
            Ok(v) => v,
            Err(e) => return vec![e],
        };
        validator
            .iter_errors(instance)
            .map(|e| format!("{}: {key}: {} at {}", self.label, e, e.instance_path()))
            .collect()
    }

    /// Everything wrong with a request Sealift sent: undeclared or mistyped query and path
    /// parameters, a body the request schema rejects (strictly: no undeclared fields).
    pub fn check_request(
        &self,
        op: &Op,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        match self.find(&op.method, path) {
            Some(found) if found.id == op.id => {}
            other => out.push(format!(
                "{}: {} {path} is not operation {} (matched {:?})",
                self.label,
                op.method,
                op.id,
                other.map(|o| o.id)
            )),
        }
        let params = self.params(op);
        for (name, value) in query {
            match params.iter().find(|p| p.0 == *name && p.1 == "query") {
                None => out.push(format!(
                    "{}: {}: query parameter `{name}` is not declared",
                    self.label, op.id
                )),
                Some(p) => {
                    if let Err(e) = scalar_ok(value, &p.2) {
                        out.push(format!(
                            "{}: {}: query `{name}={value}`: {e}",
                            self.label, op.id
                        ));
                    }
                }
            }
        }
        for p in params.iter().filter(|p| p.1 == "query" && p.3) {
            if !query.iter().any(|(n, _)| *n == p.0) {
                out.push(format!(
                    "{}: {}: required query parameter `{}` missing",
                    self.label, op.id, p.0
                ));
            }
        }
        match (self.request_schema(op), body) {
            (Some(schema), Some(body)) => {
                out.extend(self.validate(
                    format!("{} request", op.id),
                    &schema,
                    Mode::Request,
                    body,
                ));
            }
            (None, Some(_)) => out.push(format!("{}: {} takes no request body", self.label, op.id)),
            (Some(_), None) if self.request_body_required(op) => {
                out.push(format!("{}: {} requires a body", self.label, op.id));
            }
            _ => {}
        }
        out
    }

    fn request_body_required(&self, op: &Op) -> bool {
        match self.dialect {
            Dialect::OpenApi3 => {
                self.resolve(&self.op_value(op)["requestBody"])["required"] == true
            }
            Dialect::Swagger2 => self.params(op).iter().any(|p| p.1 == "body" && p.3),
        }
    }

    /// Everything wrong with a response: an undeclared status, or a body its schema rejects.
    pub fn check_response(&self, op: &Op, status: u16, body: Option<&Value>) -> Vec<String> {
        if !self.declares_status(op, status) {
            // Descriptions never list every error (GitHub documents no 401 or 429 for most
            // operations); only successful answers must be declared.
            return if (200..300).contains(&status) {
                vec![format!(
                    "{}: {} does not declare status {status}",
                    self.label, op.id
                )]
            } else {
                Vec::new()
            };
        }
        match (self.response_schema(op, status), body) {
            (Some(schema), Some(body)) => {
                self.validate(format!("{} {status}", op.id), &schema, Mode::Response, body)
            }
            (Some(_), None) => vec![format!(
                "{}: {} {status} must have a body",
                self.label, op.id
            )],
            _ => Vec::new(),
        }
    }

    /// A minimal valid response body, for the fields Sealift ignores.
    pub fn filler(&self, op_id: &str, status: u16) -> Result<Value, String> {
        let op = self
            .op_by_id(op_id)
            .ok_or_else(|| format!("{}: no operation {op_id}", self.label))?;
        let schema = self
            .response_schema(&op, status)
            .ok_or_else(|| format!("{}: {op_id} {status} has no schema", self.label))?;
        Ok(schema::instance(
            &schema,
            &|v| self.resolve(v),
            self.dialect,
            0,
        ))
    }

    /// A minimal valid instance of a named component / definition.
    pub fn filler_of(&self, component: &str) -> Result<Value, String> {
        self.filler_at(component, &[])
    }

    /// A minimal valid instance of the schema at `path` inside a component: property names, and
    /// `items` for an array's items (`filler_at("pull-request", &["requested_teams", "items"])`).
    pub fn filler_at(&self, component: &str, path: &[&str]) -> Result<Value, String> {
        let pointer = match self.dialect {
            Dialect::OpenApi3 => format!("#/components/schemas/{component}"),
            Dialect::Swagger2 => format!("#/definitions/{component}"),
        };
        let resolve = |v: &Value| self.resolve(v);
        let mut current = json!({"$ref": pointer});
        for key in path {
            current = if *key == "items" {
                schema::items(&current, &resolve)
            } else {
                schema::properties(&current, &resolve)
                    .into_iter()
                    .find(|(name, _, _)| name == key)
                    .map(|(_, s, _)| s)
            }
            .ok_or_else(|| format!("{}: {component} has no {path:?}", self.label))?;
        }
        if resolve(&current).is_null() {
            return Err(format!("{}: no component {component}", self.label));
        }
        Ok(schema::instance(
            &current,
            &resolve,
            self.dialect,
            usize::from(!path.is_empty()),
        ))
    }
}

/// Matches `/repos/{owner}/{repo}/pulls` against segments; a last `{var}` may take the rest
/// (Gitea's `{base}/{head}` route is `{base}/*`: head branches keep their slashes).
fn match_template(template: &str, segments: &[&str]) -> Option<Vec<(String, String)>> {
    let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let greedy_last = parts.last().is_some_and(|p| p.starts_with('{'));
    if parts.len() > segments.len() || (parts.len() < segments.len() && !greedy_last) {
        return None;
    }
    let mut vars = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let is_var = part.starts_with('{') && part.ends_with('}');
        let value = if last && is_var {
            segments[i..].join("/")
        } else {
            segments[i].to_owned()
        };
        if is_var {
            if value.is_empty() {
                return None;
            }
            vars.push((
                part.trim_matches(|c| c == '{' || c == '}').to_owned(),
                value,
            ));
        } else if *part != value {
            return None;
        }
    }
    Some(vars)
}

/// Checks a query or path value against a parameter's type and enum.
fn scalar_ok(value: &str, schema: &Value) -> Result<(), String> {
    match schema["type"].as_str() {
        Some("integer") if value.parse::<i64>().is_err() => return Err("not an integer".into()),
        Some("boolean") if !matches!(value, "true" | "false") => return Err("not a boolean".into()),
        _ => {}
    }
    if let Some(values) = schema["enum"].as_array()
        && !values.iter().any(|v| v.as_str() == Some(value))
    {
        return Err(format!("not one of {values:?}"));
    }
    Ok(())
}
