//! A user's credential for an external server.

use std::fmt;

/// A credential sent to an external server on a user's behalf.
///
/// `Debug` never prints the secret part, and this type is deliberately not
/// `Display` nor `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// An API token: Cloudgene's `X-Auth-Token`, or a WES bearer token.
    ApiToken(String),
    /// A username and password (HTTP basic authentication).
    Basic { username: String, password: String },
    /// An OAuth2 access token, sent as a bearer token.
    OAuth2 { access_token: String },
}

impl Secret {
    /// The secret values, longest first, to scrub from anything a server
    /// sends back (values shorter than four characters are not scrubbed: they
    /// would garble unrelated text and protect nothing).
    pub(crate) fn values(&self) -> Vec<&str> {
        let mut values: Vec<&str> = match self {
            Self::ApiToken(token) => vec![token.as_str()],
            Self::Basic { password, .. } => vec![password.as_str()],
            Self::OAuth2 { access_token } => vec![access_token.as_str()],
        };
        values.retain(|value| value.trim().len() >= 4);
        values.sort_by_key(|value| std::cmp::Reverse(value.len()));
        values
    }

    /// The kind of credential, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::ApiToken(_) => "api token",
            Self::Basic { .. } => "username and password",
            Self::OAuth2 { .. } => "oauth2 access token",
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HIDDEN: &str = "<redacted>";
        match self {
            Self::ApiToken(_) => f.debug_tuple("ApiToken").field(&HIDDEN).finish(),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &HIDDEN)
                .finish(),
            Self::OAuth2 { .. } => f
                .debug_struct("OAuth2")
                .field("access_token", &HIDDEN)
                .finish(),
        }
    }
}

/// Replaces every secret value found in `text`.
pub(crate) fn scrub(text: &str, secret: Option<&Secret>) -> String {
    let mut text = text.to_owned();
    if let Some(secret) = secret {
        for value in secret.values() {
            text = text.replace(value, "<redacted>");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret() {
        let secrets = [
            Secret::ApiToken("tok-12345".into()),
            Secret::Basic {
                username: "alice".into(),
                password: "pw-12345".into(),
            },
            Secret::OAuth2 {
                access_token: "oauth-12345".into(),
            },
        ];
        for secret in &secrets {
            let shown = format!("{secret:?} {secret:#?}");
            assert!(!shown.contains("12345"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
        assert!(format!("{:?}", secrets[1]).contains("alice"));
    }

    #[test]
    fn scrub_replaces_every_occurrence() {
        let secret = Secret::ApiToken("abcdef".into());
        assert_eq!(
            scrub("token abcdef is bad (abcdef)", Some(&secret)),
            "token <redacted> is bad (<redacted>)"
        );
        assert_eq!(scrub("token abcdef", None), "token abcdef");
        let short = Secret::Basic {
            username: "u".into(),
            password: "a".into(),
        };
        assert_eq!(scrub("a bad answer", Some(&short)), "a bad answer");
    }
}
