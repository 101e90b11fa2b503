//! Sending a notification on behalf of another platform service: checks,
//! the user's preferences per channel, storing, streaming.

use fip_kit::Violations;
use fip_kit::db::now_millis;

use super::Notify;
use crate::directory::Contact;
use crate::email::compose::NotificationMail;
use crate::error::{NotifyError, check};
use crate::model::{
    Channel, Delivery, InboxChange, NewEmail, NewNotification, NotificationKind, Outcome,
    Preferences, QcSummary, RateLimit,
};
use crate::store::Stored;

pub const MAX_TITLE: usize = 200;
pub const MAX_MESSAGE: usize = 4000;
pub const MAX_ACTION_URL: usize = 500;
pub const MAX_ACTION_LABEL: usize = 100;
pub const MAX_DEDUP_KEY: usize = 200;

/// A notification to send, as the sender put it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SendRequest {
    pub user_id: i64,
    /// None when the sender left it unset or sent an unknown value.
    pub kind: Option<NotificationKind>,
    pub title: String,
    pub message: String,
    /// A job id (lowercase hyphenated UUID) or empty.
    pub job_id: String,
    /// An imputation service id or 0.
    pub service_id: i64,
    /// A web UI path (`/jobs/<id>`) or empty.
    pub action_url: String,
    pub action_label: String,
    /// The channels asked for (None for an unset or unknown value); empty
    /// for the defaults: the web and, when the preferences ask for it,
    /// email.
    pub channels: Vec<Option<Channel>>,
    /// Idempotency key; empty for none.
    pub dedup_key: String,
    /// A completed job's imputation quality, for its mail.
    pub qc_summary: Option<QcSummary>,
}

impl SendRequest {
    /// Every bad field, under its wire name.
    pub fn validate(&self) -> Violations {
        let mut v = Violations::new();
        v.id("user_id", self.user_id);
        if self.kind.is_none() {
            v.add(
                "type",
                "is required: one of job_completed, job_failed, job_cancelled, \
                 credential_expiring, credential_rejected, system",
            );
        }
        v.text("title", &self.title, MAX_TITLE);
        v.text("message", &self.message, MAX_MESSAGE);
        if !self.job_id.is_empty() && !is_job_id(&self.job_id) {
            v.add("job_id", "must be a job id (a lowercase hyphenated UUID)");
        }
        if self.service_id < 0 {
            v.add("service_id", "must be a service id, or 0 for none");
        }
        if !self.action_url.is_empty() {
            if self.action_url.chars().count() > MAX_ACTION_URL {
                v.add(
                    "action_url",
                    format!("must be at most {MAX_ACTION_URL} characters"),
                );
            } else if !is_local_path(&self.action_url) {
                v.add(
                    "action_url",
                    "must be a path of the web UI such as /jobs/<id>",
                );
            }
        }
        v.max_len("action_label", &self.action_label, MAX_ACTION_LABEL);
        if !self.action_label.trim().is_empty() && self.action_url.is_empty() {
            v.add("action_label", "needs an action_url");
        }
        for (i, channel) in self.channels.iter().enumerate() {
            if channel.is_none() {
                v.add(format!("channels[{i}]"), "must be web or email");
            }
        }
        v.max_len("dedup_key", &self.dedup_key, MAX_DEDUP_KEY);
        v
    }
}

/// A lowercase, hyphenated UUID (the platform's job ids).
fn is_job_id(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id)
}

/// A path on the hub itself: `/` then no second `/` (no other host), no
/// backslash, whitespace or control character.
fn is_local_path(url: &str) -> bool {
    url.starts_with('/')
        && !url.starts_with("//")
        && !url
            .chars()
            .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
}

/// Whether the notification goes to the inbox, and the outcome of each
/// channel considered, for a recipient with `preferences`.
///
/// Email that the preferences allow is `queued` when `email_available`
/// (the hub mails, and the recipient is active with an address), and
/// reported unavailable otherwise.
pub fn plan(
    preferences: &Preferences,
    kind: NotificationKind,
    channels: &[Channel],
    email_available: bool,
) -> (bool, Vec<Delivery>) {
    let email_wanted = preferences.email_for(kind);
    let (web, email) = if channels.is_empty() {
        (true, email_wanted.is_some())
    } else {
        (
            channels.contains(&Channel::Web),
            channels.contains(&Channel::Email),
        )
    };
    let mut deliveries = Vec::new();
    let in_inbox = web && preferences.web_enabled;
    if web {
        deliveries.push(Delivery {
            channel: Channel::Web,
            outcome: if in_inbox {
                Outcome::Delivered
            } else {
                Outcome::SkippedByPreference
            },
            error: String::new(),
        });
    }
    if email {
        let outcome = match email_wanted {
            Some(false) => Outcome::SkippedByPreference,
            Some(true) | None if email_available => Outcome::Queued,
            Some(true) | None => Outcome::SkippedUnavailable,
        };
        deliveries.push(Delivery {
            channel: Channel::Email,
            outcome,
            error: String::new(),
        });
    }
    (in_inbox, deliveries)
}

impl Notify {
    /// Stores a notification for `request.user_id` by their preferences,
    /// streams it to their watchers when it reaches the inbox, and reports
    /// each channel's outcome. A repeated dedup key returns the first
    /// notification and sends nothing.
    pub async fn send(&self, request: SendRequest) -> Result<Stored, NotifyError> {
        check(request.validate())?;
        let SendRequest {
            user_id,
            kind,
            title,
            message,
            job_id,
            service_id,
            action_url,
            action_label,
            channels,
            dedup_key,
            qc_summary,
        } = request;
        let kind = kind.ok_or_else(|| anyhow::anyhow!("validated kind is missing"))?;
        let channels: Vec<Channel> = channels.into_iter().flatten().collect();
        let dedup_key = Some(dedup_key).filter(|k| !k.is_empty());
        if let Some(key) = &dedup_key
            && let Some(stored) = self.store.by_dedup_key(user_id, key).await?
        {
            tracing::info!(user_id, dedup_key = %key, "notification already sent");
            return Ok(stored);
        }
        // The recipient must exist; email needs their name and address.
        let contact =
            self.directory
                .contact(user_id)
                .await?
                .ok_or_else(|| NotifyError::NotFound {
                    resource_type: "user",
                    id: user_id.to_string(),
                })?;
        let preferences = self.preferences(user_id).await?;
        let address = if preferences.email_address.is_empty() {
            contact.email.clone()
        } else {
            preferences.email_address.clone()
        };
        let email_available = self.email.is_some() && contact.is_active && !address.is_empty();
        let (in_inbox, deliveries) = plan(&preferences, kind, &channels, email_available);
        let title = title.trim().to_string();
        let action_label = action_label.trim().to_string();
        let queued = deliveries
            .iter()
            .any(|d| d.channel == Channel::Email && d.outcome == Outcome::Queued);
        let email = match (&self.email, queued) {
            (Some(email), true) => {
                let name = display_name(&contact);
                let rendered = email.composer.notification(&NotificationMail {
                    kind,
                    name: &name,
                    title: &title,
                    message: &message,
                    action_url: &action_url,
                    action_label: &action_label,
                    qc: qc_summary.as_ref(),
                })?;
                let now = now_millis();
                Some(NewEmail {
                    message_id: email.composer.message_id(),
                    to_address: address,
                    to_name: name,
                    subject: rendered.subject,
                    body_text: rendered.text,
                    body_html: rendered.html,
                    action_url: action_url.clone(),
                    rate_limit: (email.rate_limit > 0).then(|| RateLimit {
                        limit: i64::from(email.rate_limit),
                        since: now
                            - i64::try_from(email.rate_window.as_millis()).unwrap_or(i64::MAX),
                    }),
                })
            }
            _ => None,
        };
        let stored = self
            .store
            .insert(NewNotification {
                user_id,
                kind,
                title,
                message,
                job_id,
                service_id,
                action_url,
                action_label,
                in_inbox,
                dedup_key,
                created_at: now_millis(),
                deliveries,
                email,
            })
            .await?;
        if stored.deduplicated {
            tracing::info!(user_id, "notification already sent");
            return Ok(stored);
        }
        let notification = &stored.notification;
        tracing::info!(
            user_id,
            notification_id = notification.id,
            kind = kind.as_str(),
            in_inbox,
            "notification sent"
        );
        if queued && let Some(email) = &self.email {
            email.wake.notify_one();
        }
        if in_inbox {
            self.publish(user_id, InboxChange::Created(notification.clone()))
                .await;
        }
        Ok(stored)
    }
}

/// How a mail greets `contact`: their full name, else their username.
fn display_name(contact: &Contact) -> String {
    let full = format!("{} {}", contact.first_name.trim(), contact.last_name.trim());
    let full = full.trim();
    if full.is_empty() {
        contact.username.clone()
    } else {
        full.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(deliveries: &[Delivery]) -> Vec<(Channel, Outcome)> {
        deliveries.iter().map(|d| (d.channel, d.outcome)).collect()
    }

    #[test]
    fn defaults_go_to_the_inbox_and_consider_email_by_preference() {
        let prefs = Preferences::default();
        let (inbox, d) = plan(&prefs, NotificationKind::JobCompleted, &[], false);
        assert!(inbox);
        assert_eq!(
            outcomes(&d),
            [
                (Channel::Web, Outcome::Delivered),
                (Channel::Email, Outcome::SkippedUnavailable)
            ]
        );
        let (_, d) = plan(&prefs, NotificationKind::JobCompleted, &[], true);
        assert_eq!(d[1].outcome, Outcome::Queued, "a hub that mails queues it");
        let (_, d) = plan(&prefs, NotificationKind::JobCancelled, &[], true);
        assert_eq!(d[1].outcome, Outcome::SkippedByPreference);
        // System notices have no email preference: email only when asked.
        let (_, d) = plan(&prefs, NotificationKind::System, &[], true);
        assert_eq!(outcomes(&d), [(Channel::Web, Outcome::Delivered)]);
        let (inbox, d) = plan(&prefs, NotificationKind::System, &[Channel::Email], false);
        assert!(!inbox, "web was not asked for");
        assert_eq!(
            outcomes(&d),
            [(Channel::Email, Outcome::SkippedUnavailable)]
        );
    }

    #[test]
    fn preferences_win_over_the_channels_asked_for() {
        let prefs = Preferences {
            web_enabled: false,
            email_on_job_failed: false,
            ..Preferences::default()
        };
        let (inbox, d) = plan(
            &prefs,
            NotificationKind::JobFailed,
            &[Channel::Web, Channel::Email],
            true,
        );
        assert!(!inbox);
        assert_eq!(
            outcomes(&d),
            [
                (Channel::Web, Outcome::SkippedByPreference),
                (Channel::Email, Outcome::SkippedByPreference)
            ]
        );
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let good = SendRequest {
            user_id: 1,
            kind: Some(NotificationKind::JobCompleted),
            title: "Job completed".into(),
            message: "Your job completed".into(),
            job_id: "01890f3e-1234-7abc-8def-0123456789ab".into(),
            action_url: "/jobs/01890f3e-1234-7abc-8def-0123456789ab".into(),
            action_label: "View results".into(),
            channels: vec![Some(Channel::Web)],
            ..Default::default()
        };
        assert!(good.validate().is_empty());
        let bad = SendRequest {
            user_id: 0,
            kind: None,
            title: " ".into(),
            message: "x".repeat(MAX_MESSAGE + 1),
            job_id: "01890F3E-1234-7ABC-8DEF-0123456789AB".into(),
            service_id: -1,
            action_url: "//evil.example/x".into(),
            action_label: "go".into(),
            channels: vec![Some(Channel::Web), None],
            dedup_key: "k".repeat(MAX_DEDUP_KEY + 1),
            qc_summary: None,
        };
        let fields: Vec<String> = bad
            .validate()
            .finish()
            .unwrap_err()
            .violations
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(
            fields,
            [
                "user_id",
                "type",
                "title",
                "message",
                "job_id",
                "service_id",
                "action_url",
                "channels[1]",
                "dedup_key"
            ]
        );
        for url in ["https://evil.example", "/a b", "/a\\b", "javascript:x"] {
            let r = SendRequest {
                action_url: url.into(),
                ..good.clone()
            };
            assert!(!r.validate().is_empty(), "{url}");
        }
        let r = SendRequest {
            action_url: String::new(),
            ..good.clone()
        };
        assert!(!r.validate().is_empty(), "a label needs a url");
    }
}
