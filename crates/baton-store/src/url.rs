//! Database URLs as shown to people: never with their password.

/// `url` with its password replaced by `***` (in the user-info part and in a `password=`
/// query parameter): `postgres://alice:secret@db:5432/baton` → `postgres://alice:***@db:5432/baton`.
pub fn mask_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(at) => (&url[..at + 3], &url[at + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.find(':') {
                Some(colon) => format!("{}:***{host}", &userinfo[..colon]),
                None => authority.to_owned(),
            }
        }
        None => authority.to_owned(),
    };
    format!("{scheme}{authority}{}", mask_query(tail))
}

/// Masks `password=` parameters of a URL's path-and-query tail.
fn mask_query(tail: &str) -> String {
    let Some(question) = tail.find('?') else {
        return tail.to_owned();
    };
    let (path, query) = tail.split_at(question + 1);
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => param.to_owned(),
        })
        .collect();
    format!("{path}{}", params.join("&"))
}

/// The database name of a PostgreSQL URL (the path), if it has one.
pub(crate) fn database_name(url: &str) -> Option<String> {
    let rest = &url[url.find("://")? + 3..];
    let path = &rest[rest.find('/')? + 1..];
    let name = path.split(['?', '#']).next().unwrap_or("");
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_url("postgres://alice:s3cr%40t@db:5432/baton"),
            "postgres://alice:***@db:5432/baton"
        );
        assert_eq!(
            mask_url("postgres://alice@db/baton"),
            "postgres://alice@db/baton"
        );
        assert_eq!(
            mask_url("postgresql://u:p@h/d?sslmode=require&password=x"),
            "postgresql://u:***@h/d?sslmode=require&password=***"
        );
        assert_eq!(mask_url("postgres://h"), "postgres://h");
        assert_eq!(
            database_name("postgres://u:p@h:1/base?x=1").as_deref(),
            Some("base")
        );
        assert_eq!(database_name("postgres://h"), None);
    }
}
