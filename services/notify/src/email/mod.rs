//! Email: mails rendered from templates ([`compose`]), stored in the outbox
//! with their notification, and delivered later by a [`sender::Sender`]
//! over a [`transport::Transport`] (SMTP, or a maildir when the hub has no
//! mail server).

pub mod compose;
pub mod sender;
pub mod transport;

use std::sync::Arc;
use std::time::Duration;

use fip_kit::config::Config;
use lettre::message::Mailbox;

pub use compose::Composer;

/// What the domain needs to put mails in the outbox.
pub struct Email {
    pub composer: Composer,
    /// Mails sent alone to one user per window; 0 for no limit.
    pub rate_limit: u32,
    pub rate_window: Duration,
    /// Wakes the sender when a mail is stored.
    pub wake: Arc<tokio::sync::Notify>,
}

/// The hub's public URL for links in mails: `notify.public_url`, else
/// `files.public_base_url`, else the gateway's listen address.
pub fn hub_url(config: &Config) -> String {
    config
        .notify
        .public_url
        .clone()
        .or_else(|| config.files.public_base_url.clone())
        .unwrap_or_else(|| format!("http://{}", config.listen))
        .trim_end_matches('/')
        .to_string()
}

/// The sender address of `notify.from`, or a clear error.
pub fn from_mailbox(config: &Config) -> anyhow::Result<Mailbox> {
    config.notify.from.parse::<Mailbox>().map_err(|e| {
        anyhow::anyhow!(
            "notify.from {:?} is not a mail address such as `Hub <hub@example.org>`: {e}",
            config.notify.from
        )
    })
}

impl Email {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let url = hub_url(config);
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            anyhow::bail!("notify.public_url {url:?} must be an http:// or https:// URL");
        }
        Ok(Self {
            composer: Composer::new(&url, &from_mailbox(config)?)?,
            rate_limit: config.notify.rate_limit,
            rate_window: config.notify.rate_window,
            wake: Arc::new(tokio::sync::Notify::new()),
        })
    }
}
