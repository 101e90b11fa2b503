//! Where mails go: an SMTP server (lettre, rustls; STARTTLS, implicit TLS
//! or plain, optional login), or a maildir when the hub has none.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::model::OutboxEmail;

/// Why a mail did not go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another attempt: connection refused, timeout, a 4xx answer.
    #[error("{0}")]
    Transient(String),
    /// Never worth another attempt: a 5xx answer, a malformed address.
    #[error("{0}")]
    Permanent(String),
}

/// Sends a built mail.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    async fn send(&self, message: Message) -> Result<(), SendError>;
    /// Where mails go, for the log (no password).
    fn describe(&self) -> String;
}

/// The `List-Unsubscribe` header (RFC 2369): where the user turns mails off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListUnsubscribe(pub String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.trim().trim_matches(['<', '>']).to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// The mail of `email` from `from`, with its stored Message-ID, a text and
/// an HTML part, and `List-Unsubscribe` pointing at `preferences_url`.
pub fn build(
    from: &Mailbox,
    email: &OutboxEmail,
    preferences_url: &str,
) -> Result<Message, SendError> {
    let address = email.to_address.parse().map_err(|e| {
        SendError::Permanent(format!("bad recipient address {:?}: {e}", email.to_address))
    })?;
    let name = Some(email.to_name.clone()).filter(|n| !n.is_empty());
    Message::builder()
        .from(from.clone())
        .to(Mailbox::new(name, address))
        .subject(email.subject.clone())
        .message_id(Some(email.message_id.clone()))
        .date_now()
        .header(ListUnsubscribe(preferences_url.to_string()))
        .multipart(MultiPart::alternative_plain_html(
            email.body_text.clone(),
            email.body_html.clone(),
        ))
        .map_err(|e| SendError::Permanent(format!("cannot build the mail: {e}")))
}

/// `url` without its login and query, for the log.
fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("smtp", url));
    let rest = rest.split(['?', '/']).next().unwrap_or_default();
    match rest.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host} (with login)"),
        None => format!("{scheme}://{rest}"),
    }
}

/// An SMTP server.
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    describe: String,
}

impl Smtp {
    /// From `notify.smtp_url` (`smtp://`, `smtp://...?tls=required`,
    /// `smtps://`, optional `user:password@`).
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| {
                anyhow::anyhow!(
                    "notify.smtp_url must be smtp://host[:port] (plain, or ?tls=required for \
                     STARTTLS) or smtps://host[:port] (implicit TLS): {e}"
                )
            })?
            .timeout(Some(timeout))
            .build();
        let describe = redact(url);
        Ok(Self {
            transport,
            describe,
        })
    }
}

#[async_trait]
impl Transport for Smtp {
    async fn send(&self, message: Message) -> Result<(), SendError> {
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Transient(e.to_string())),
        }
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

/// A maildir (`tmp/`, `new/`, `cur/`): one file per mail in `new/`, written
/// to `tmp/` first so that a reader never sees half a mail.
pub struct Maildir {
    root: PathBuf,
}

impl Maildir {
    pub fn new(root: PathBuf) -> anyhow::Result<Self> {
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(root.join(sub)).map_err(|e| {
                anyhow::anyhow!("cannot create the maildir {}: {e}", root.display())
            })?;
        }
        Ok(Self { root })
    }
}

#[async_trait]
impl Transport for Maildir {
    async fn send(&self, message: Message) -> Result<(), SendError> {
        let name = format!(
            "{}.{}.fip",
            fip_kit::db::now_millis(),
            uuid::Uuid::now_v7().simple()
        );
        let tmp = self.root.join("tmp").join(&name);
        let io = |e: std::io::Error| SendError::Transient(format!("cannot write the mail: {e}"));
        tokio::fs::write(&tmp, message.formatted())
            .await
            .map_err(io)?;
        tokio::fs::rename(&tmp, self.root.join("new").join(&name))
            .await
            .map_err(io)
    }

    fn describe(&self) -> String {
        format!("the maildir {}", self.root.display())
    }
}
