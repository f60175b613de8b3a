//! Attestation policies: CEL expressions (the `cel` crate, through `kube-cel`, with Kubernetes'
//! extension functions) evaluated over an attestation's predicate.
//!
//! Variables: `predicate` (the in-toto predicate), `predicateType` and `subject` (the statement's
//! subjects). The expression must evaluate to the boolean `true`; anything else fails.

use kube_cel::KubeCelExt as _;
use kube_cel::cel::objects::{Key, Map};
use kube_cel::cel::{Context, Program, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// A compiled CEL policy.
pub(crate) struct CelPolicy {
    source: String,
    program: Program,
}

impl std::fmt::Debug for CelPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CelPolicy").field(&self.source).finish()
    }
}

impl CelPolicy {
    /// Compiles `source`; the error is the parser's message.
    pub(crate) fn compile(source: &str) -> Result<CelPolicy, String> {
        let program = Program::compile(source)
            .map_err(|e| format!("CEL does not compile: {}", one_line(&e.to_string())))?;
        Ok(CelPolicy {
            source: source.to_owned(),
            program,
        })
    }

    /// The expression as written.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the policy. `Err` carries a readable reason: `evaluated to false`, a type error,
    /// a missing key.
    pub(crate) fn evaluate(
        &self,
        predicate: &serde_json::Value,
        predicate_type: &str,
        subject: &serde_json::Value,
    ) -> Result<(), String> {
        let mut ctx = Context::default();
        ctx.register_all();
        ctx.add_variable_from_value("predicate", json_to_cel(predicate));
        ctx.add_variable_from_value(
            "predicateType",
            Value::String(Arc::new(predicate_type.into())),
        );
        ctx.add_variable_from_value("subject", json_to_cel(subject));
        match self.program.execute(&ctx) {
            Ok(Value::Bool(true)) => Ok(()),
            Ok(Value::Bool(false)) => Err("evaluated to false".to_owned()),
            Ok(other) => Err(format!(
                "must evaluate to a boolean, got {}",
                other.type_of()
            )),
            Err(e) => Err(format!("failed to evaluate: {}", one_line(&e.to_string()))),
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// JSON → CEL. Integral numbers become `int` (CEL's `1u == 1` is false, and policies are written
/// with plain integer literals); numbers outside `i64` become `double`.
pub(crate) fn json_to_cel(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(items) => {
            Value::List(Arc::new(items.iter().map(json_to_cel).collect()))
        }
        serde_json::Value::Object(fields) => {
            let map: HashMap<Key, Value> = fields
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), json_to_cel(v)))
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expr: &str, predicate: serde_json::Value) -> Result<(), String> {
        CelPolicy::compile(expr)?.evaluate(&predicate, "https://example.com/p", &json!([]))
    }

    #[test]
    fn a_true_policy_passes_and_a_false_one_says_so() {
        let p = json!({"scanner": {"result": {"summary": {"criticalCount": 0, "highCount": 3}}}});
        assert_eq!(
            eval(
                "predicate.scanner.result.summary.criticalCount == 0",
                p.clone()
            ),
            Ok(())
        );
        assert_eq!(
            eval("predicate.scanner.result.summary.highCount < 2", p),
            Err("evaluated to false".to_owned())
        );
    }

    #[test]
    fn a_missing_key_or_a_non_boolean_result_fails_with_a_reason() {
        let err = eval("predicate.nope == 1", json!({})).unwrap_err();
        assert!(err.starts_with("failed to evaluate"), "{err}");
        let err = eval("predicate.a", json!({"a": 1})).unwrap_err();
        assert!(err.contains("boolean"), "{err}");
    }

    #[test]
    fn an_expression_that_does_not_compile_is_refused_and_an_unknown_variable_fails() {
        assert!(
            CelPolicy::compile("predicate.a ==")
                .unwrap_err()
                .contains("does not compile")
        );
        let err = eval("secrets.x == 1", json!({})).unwrap_err();
        assert!(err.starts_with("failed to evaluate"), "{err}");
    }

    #[test]
    fn string_and_list_functions_and_macros_work_over_predicates() {
        let p = json!({"buildDefinition": {"externalParameters": {"workflow": {
            "repository": "https://github.com/acme/bookstore"}}},
            "materials": [{"uri": "git+https://github.com/acme/bookstore"}]});
        assert_eq!(
            eval(
                r#"predicate.buildDefinition.externalParameters.workflow.repository.startsWith("https://github.com/acme/")
                   && predicate.materials.all(m, m.uri.contains("acme"))"#,
                p
            ),
            Ok(())
        );
        assert_eq!(
            eval(
                r#"predicateType == "https://example.com/p" && size(subject) == 0"#,
                json!({})
            ),
            Ok(())
        );
    }
}
