//! `${VAR}` and `${VAR:-default}` in configuration strings. `$$` is a literal `$`.

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolationError {
    Missing(String),
    Unterminated,
    BadName(String),
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
                "\"{name}\" is not a variable name (letters, digits and _ only)"
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
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(InterpolationError::BadName(name.to_owned()));
        }
        match (
            lookup(name).filter(|value| !value.is_empty() || default.is_none()),
            default,
        ) {
            (Some(value), _) => output.push_str(&value),
            (None, Some(default)) => output.push_str(default),
            (None, None) => return Err(InterpolationError::Missing(name.to_owned())),
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
}
