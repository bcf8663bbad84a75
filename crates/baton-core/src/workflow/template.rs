//! The `{{ … }}` data flow of workflows (minijinja, strict: an undefined name is an error).
//!
//! Any string in `args`, `inputs`, `set`, `outputs` that contains `{{` or `{%` is a
//! template. A string that is exactly one `{{ expression }}` evaluates to the expression's
//! value, so `{{ steps.fetch.output }}` passes an object on as an object; any other
//! template renders to a string. The context has `inputs`, `steps.<id>.output` (and
//! `.status`), `env` (only the variables the config allows), and inside `for_each` steps
//! `item` and `index`.

use std::collections::BTreeSet;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value;

/// The names a template may start with.
pub const ROOTS: &[&str] = &["inputs", "steps", "env", "item", "index", "task", "run"];

/// minijinja's global functions (templates may call them).
pub const FUNCTIONS: &[&str] = &[
    "range",
    "dict",
    "namespace",
    "debug",
    "lipsum",
    "cycler",
    "joiner",
];

/// The environment every workflow template is compiled and rendered in.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_keep_trailing_newline(true);
    env
}

fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// The expression of a string that is exactly one `{{ expression }}`.
fn whole_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%")).then_some(inner)
}

/// Compiles every template in `value`; returns the variables they read (dotted, e.g.
/// `steps.fetch.output`), or `(field path, message)` for the first broken template in each
/// string (`path` is the field path of `value`).
pub fn analyze(
    env: &Environment<'static>,
    value: &Value,
    path: &str,
    variables: &mut BTreeSet<String>,
    errors: &mut Vec<(String, String)>,
) {
    match value {
        Value::String(text) if is_template(text) => {
            let found = match whole_expression(text) {
                Some(expression) => env
                    .compile_expression(expression)
                    .map(|compiled| compiled.undeclared_variables(true)),
                None => env
                    .template_from_str(text)
                    .map(|template| template.undeclared_variables(true)),
            };
            match found {
                Ok(found) => variables.extend(found),
                Err(error) => errors.push((path.to_owned(), describe(&error))),
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                analyze(env, item, &format!("{path}[{index}]"), variables, errors);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                analyze(env, item, &format!("{path}.{key}"), variables, errors);
            }
        }
        _ => {}
    }
}

/// Compiles one expression (`if:`, `for_each:`), returning the variables it reads.
pub fn analyze_expression(
    env: &Environment<'static>,
    expression: &str,
) -> Result<BTreeSet<String>, String> {
    let expression = whole_expression(expression).unwrap_or(expression);
    env.compile_expression(expression)
        .map(|compiled| compiled.undeclared_variables(true).into_iter().collect())
        .map_err(|error| describe(&error))
}

/// Renders every template in `value` against `context`.
pub fn render(
    env: &Environment<'static>,
    value: &Value,
    context: &minijinja::Value,
) -> Result<Value, String> {
    match value {
        Value::String(text) if is_template(text) => match whole_expression(text) {
            Some(expression) => {
                let result = env
                    .compile_expression(expression)
                    .and_then(|compiled| compiled.eval(context))
                    .map_err(|error| describe(&error))?;
                to_json(&result)
            }
            None => env
                .render_str(text, context)
                .map(Value::String)
                .map_err(|error| describe(&error)),
        },
        Value::Array(items) => items
            .iter()
            .map(|item| render(env, item, context))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(key, item)| Ok((key.clone(), render(env, item, context)?)))
            .collect::<Result<serde_json::Map<_, _>, String>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

/// Evaluates a condition or list expression (with or without `{{ }}`).
pub fn evaluate(
    env: &Environment<'static>,
    expression: &str,
    context: &minijinja::Value,
) -> Result<Value, String> {
    let expression = whole_expression(expression).unwrap_or(expression);
    let result = env
        .compile_expression(expression)
        .and_then(|compiled| compiled.eval(context))
        .map_err(|error| describe(&error))?;
    to_json(&result)
}

/// Whether a value counts as true for `if:` (Jinja truthiness).
pub fn truthy(value: &Value) -> bool {
    minijinja::Value::from_serialize(value).is_true()
}

fn to_json(value: &minijinja::Value) -> Result<Value, String> {
    if value.is_undefined() {
        return Err(
            "the expression is undefined (a name or attribute it reads does not exist)".to_owned(),
        );
    }
    serde_json::to_value(value)
        .map_err(|error| format!("the value cannot be used as JSON: {error}"))
}

/// minijinja's error without its debug dump.
fn describe(error: &minijinja::Error) -> String {
    let mut message = error.to_string();
    if let Some(detail) = error.detail()
        && !message.contains(detail)
    {
        message.push_str(": ");
        message.push_str(detail);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_whole_expression_keeps_its_type() {
        let env = environment();
        let context = minijinja::Value::from_serialize(json!({
            "steps": {"fetch": {"output": {"files": ["a", "b"]}}},
            "inputs": {"name": "x"},
        }));
        let value = json!({
            "files": "{{ steps.fetch.output.files }}",
            "greeting": "hello {{ inputs.name }}",
            "count": "{{ steps.fetch.output.files | length }}",
            "plain": 3,
        });
        let rendered = render(&env, &value, &context).unwrap();
        assert_eq!(
            rendered,
            json!({"files": ["a", "b"], "greeting": "hello x", "count": 2, "plain": 3})
        );
    }

    #[test]
    fn undefined_names_are_errors() {
        let env = environment();
        let context = minijinja::Value::from_serialize(json!({"inputs": {}}));
        let error = render(&env, &json!("{{ inputs.missing }}"), &context).unwrap_err();
        assert!(error.contains("undefined"), "{error}");
        let error = render(&env, &json!("a {{ inputs.missing }}"), &context).unwrap_err();
        assert!(error.contains("undefined"), "{error}");
    }

    #[test]
    fn analysis_finds_variables_and_syntax_errors() {
        let env = environment();
        let mut variables = BTreeSet::new();
        let mut errors = Vec::new();
        analyze(
            &env,
            &json!({"a": "{{ steps.one.output }}", "b": ["x {{ inputs.n }}", "{{ broken( }}"]}),
            "args",
            &mut variables,
            &mut errors,
        );
        assert!(variables.contains("steps.one.output"), "{variables:?}");
        assert!(variables.contains("inputs.n"), "{variables:?}");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, "args.b[1]");
    }

    #[test]
    fn conditions_follow_jinja_truthiness() {
        let env = environment();
        let context = minijinja::Value::from_serialize(json!({"inputs": {"n": 3, "s": ""}}));
        assert!(truthy(&evaluate(&env, "inputs.n > 2", &context).unwrap()));
        assert!(!truthy(
            &evaluate(&env, "{{ inputs.s }}", &context).unwrap()
        ));
    }
}
