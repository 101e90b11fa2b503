//! `GET /api/v2/server`: the server's name and maintenance state.
//!
//! Cloudgene's `ServerController` answers anonymously
//! `{name, background, foreground, footer, apps, loggedIn, navigation,
//! maintenace, maintenaceMessage}` — `maintenace` is spelt so by the server.

use serde_json::Value;

use crate::BackendError;

/// A one-line summary of a server-details answer, or `Unavailable` when the
/// server says it is under maintenance.
pub(super) fn detail(details: &Value) -> Result<String, BackendError> {
    let Value::Object(details) = details else {
        return Err(BackendError::protocol(
            "the server details are not a json object: not a cloudgene server?",
        ));
    };
    let flag = |key: &str| details.get(key).and_then(Value::as_bool);
    let text = |key: &str| {
        details
            .get(key)
            .and_then(Value::as_str)
            .map(plain_text)
            .filter(|text| !text.is_empty())
    };
    if flag("maintenace").or_else(|| flag("maintenance")) == Some(true) {
        let message = text("maintenaceMessage")
            .or_else(|| text("maintenanceMessage"))
            .map(|message| format!("the server is under maintenance: {message}"))
            .unwrap_or_else(|| "the server is under maintenance".to_owned());
        return Err(BackendError::Unavailable {
            status: None,
            retry_after: None,
            message,
        });
    }
    if !details.contains_key("name") && !details.contains_key("loggedIn") {
        return Err(BackendError::protocol(
            "the server details have neither `name` nor `loggedIn`: not a cloudgene server?",
        ));
    }
    Ok(match text("name") {
        Some(name) => format!("cloudgene server \"{name}\" is up"),
        None => "cloudgene server is up".to_owned(),
    })
}

/// Text of an HTML fragment (the maintenance message is a template), on one line.
fn plain_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let mut text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for punctuation in [".", ",", ";", ":", "!", "?"] {
        text = text.replace(&format!(" {punctuation}"), punctuation);
    }
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_the_server() {
        let details = json!({
            "name": "Michigan Imputation Server",
            "apps": [],
            "loggedIn": false,
            "maintenace": false
        });
        assert_eq!(
            detail(&details).unwrap(),
            "cloudgene server \"Michigan Imputation Server\" is up"
        );
    }

    #[test]
    fn maintenance_is_unavailable() {
        let details = json!({
            "name": "x",
            "maintenace": true,
            "maintenaceMessage": "<p>Back <b>Monday</b>.</p>"
        });
        match detail(&details).unwrap_err() {
            BackendError::Unavailable {
                status: None,
                message,
                ..
            } => assert_eq!(message, "the server is under maintenance: Back Monday."),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_json_is_refused() {
        assert!(matches!(
            detail(&json!([1, 2])),
            Err(BackendError::Protocol { .. })
        ));
        assert!(matches!(
            detail(&json!({"status": "ok"})),
            Err(BackendError::Protocol { .. })
        ));
    }
}
