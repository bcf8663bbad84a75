//! `${VAR}` and `${VAR:-default}` in configuration strings. `$$` is a literal `$`.
//!
//! The client dialects too, so a pasted VS Code or Cursor config works as it is:
//! `${env:VAR}` (the same as `${VAR}`), `${userHome}` (`HOME`), `${workspaceFolder}` (the
//! config's folder, or the workspace root of a `.vscode/mcp.json`; looked up as
//! [`WORKSPACE_FOLDER`]) and `${input:ID}` (VS Code's prompted inputs: Baton takes the value
//! from `BATON_INPUT_<ID>`, see [`input_variable`]).

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolationError {
    Missing(String),
    Unterminated,
    BadName(String),
    /// `${input:ID}` without a value: (ID, the variable that gives it).
    MissingInput(String, String),
}

/// The name `${workspaceFolder}` is looked up under (no environment variable can have it).
pub const WORKSPACE_FOLDER: &str = ":workspaceFolder";

/// The environment variable that gives VS Code input `id` its value:
/// `BATON_INPUT_<ID>`, upper case, `-` and `.` as `_`.
pub fn input_variable(id: &str) -> String {
    let id: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("BATON_INPUT_{id}")
}

impl std::fmt::Display for InterpolationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InterpolationError::Missing(name) => write!(
                f,
                "environment variable {name} is not set (set it, or write ${{{name}:-default}})"
            ),
            InterpolationError::Unterminated => {
                write!(
                    f,
                    "unterminated \"${{\" (write $$ for a literal dollar sign)"
                )
            }
            InterpolationError::BadName(name) => write!(
                f,
                "\"{name}\" is not a variable name (letters, digits and _ only; or env:NAME, input:ID, userHome, workspaceFolder)"
            ),
            InterpolationError::MissingInput(id, variable) => write!(
                f,
                "input \"{id}\" has no value: set {variable} (Baton does not prompt)"
            ),
        }
    }
}

/// Replaces every `${NAME}` / `${NAME:-default}` in `input` using `lookup`.
pub fn interpolate(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
    let mut output = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(position) = rest.find('$') {
        output.push_str(&rest[..position]);
        let after = &rest[position + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            output.push('$');
            rest = stripped;
            continue;
        }
        let Some(body_start) = after.strip_prefix('{') else {
            output.push('$');
            rest = after;
            continue;
        };
        let end = body_start
            .find('}')
            .ok_or(InterpolationError::Unterminated)?;
        let body = &body_start[..end];
        let (name, default) = match body.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (body, None),
        };
        // The client dialects: what to look up for this name.
        let (key, input) = match name {
            "userHome" => ("HOME".to_owned(), None),
            "workspaceFolder" => (WORKSPACE_FOLDER.to_owned(), None),
            _ => match name.split_once(':') {
                Some(("env", variable)) => (variable.to_owned(), None),
                Some(("input", id)) if !id.is_empty() => (input_variable(id), Some(id)),
                _ => (name.to_owned(), None),
            },
        };
        let plain = key == WORKSPACE_FOLDER
            || (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if !plain {
            return Err(InterpolationError::BadName(name.to_owned()));
        }
        match (
            lookup(&key).filter(|value| !value.is_empty() || default.is_none()),
            default,
        ) {
            (Some(value), _) => output.push_str(&value),
            (None, Some(default)) => output.push_str(default),
            (None, None) => {
                return Err(match input {
                    Some(id) => InterpolationError::MissingInput(id.to_owned(), key),
                    None => InterpolationError::Missing(key),
                });
            }
        }
        rest = &body_start[end + 1..];
    }
    output.push_str(rest);
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/u".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn replaces_set_variables_and_defaults() {
        assert_eq!(interpolate("${HOME}/x", &env).unwrap(), "/home/u/x");
        assert_eq!(interpolate("a ${NOPE:-b} c", &env).unwrap(), "a b c");
        assert_eq!(interpolate("${EMPTY:-fallback}", &env).unwrap(), "fallback");
        assert_eq!(interpolate("${EMPTY}", &env).unwrap(), "");
        assert_eq!(
            interpolate("cost $5 $$HOME", &env).unwrap(),
            "cost $5 $HOME"
        );
    }

    #[test]
    fn reports_missing_and_malformed() {
        assert_eq!(
            interpolate("Bearer ${TOKEN}", &env),
            Err(InterpolationError::Missing("TOKEN".into()))
        );
        assert_eq!(
            interpolate("${HOME", &env),
            Err(InterpolationError::Unterminated)
        );
        assert_eq!(
            interpolate("${A-B}", &env),
            Err(InterpolationError::BadName("A-B".into()))
        );
    }

    #[test]
    fn the_client_dialects_resolve_as_the_clients_do() {
        let lookup = |name: &str| match name {
            "HOME" => Some("/home/u".to_owned()),
            WORKSPACE_FOLDER => Some("/work/project".to_owned()),
            "BATON_INPUT_API_KEY" => Some("k3y".to_owned()),
            _ => None,
        };
        assert_eq!(
            interpolate(
                "${env:HOME}|${userHome}|${workspaceFolder}/x|${input:api-key}",
                &lookup
            )
            .unwrap(),
            "/home/u|/home/u|/work/project/x|k3y"
        );
        assert_eq!(
            interpolate("${input:db.password}", &lookup),
            Err(InterpolationError::MissingInput(
                "db.password".into(),
                "BATON_INPUT_DB_PASSWORD".into()
            ))
        );
        assert_eq!(
            interpolate("${env:NOPE}", &lookup),
            Err(InterpolationError::Missing("NOPE".into()))
        );
        assert_eq!(
            interpolate("${config:x}", &lookup),
            Err(InterpolationError::BadName("config:x".into()))
        );
    }
}
