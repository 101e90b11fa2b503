//! The notify service's domain types, free of wire and SQL types.

use serde::{Deserialize, Serialize};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    JobCompleted,
    JobFailed,
    JobCancelled,
    CredentialExpiring,
    CredentialRejected,
    System,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 6] = [
        NotificationKind::JobCompleted,
        NotificationKind::JobFailed,
        NotificationKind::JobCancelled,
        NotificationKind::CredentialExpiring,
        NotificationKind::CredentialRejected,
        NotificationKind::System,
    ];

    /// The stored (and JSON) name, e.g. `job_completed`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::JobCompleted => "job_completed",
            NotificationKind::JobFailed => "job_failed",
            NotificationKind::JobCancelled => "job_cancelled",
            NotificationKind::CredentialExpiring => "credential_expiring",
            NotificationKind::CredentialRejected => "credential_rejected",
            NotificationKind::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A way to reach a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The web inbox and its live stream.
    Web,
    /// Email over SMTP.
    Email,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Web, Channel::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What happened on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Stored in the inbox, or accepted by the mail server.
    Delivered,
    /// Accepted for sending, retried in the background.
    Queued,
    /// The user's preferences turn this channel off for this kind.
    SkippedByPreference,
    /// The channel cannot be used: no mail transport on this hub, or the
    /// account is deactivated.
    SkippedUnavailable,
    /// Sending failed for good.
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Delivered,
        Outcome::Queued,
        Outcome::SkippedByPreference,
        Outcome::SkippedUnavailable,
        Outcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Queued => "queued",
            Outcome::SkippedByPreference => "skipped_by_preference",
            Outcome::SkippedUnavailable => "skipped_unavailable",
            Outcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// A notification in a user's inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: i64,
    pub user_id: i64,
    pub kind: NotificationKind,
    pub title: String,
    pub message: String,
    /// The job concerned; empty when none.
    pub job_id: String,
    /// The imputation service concerned; 0 when none.
    pub service_id: i64,
    /// A web UI path; empty when none.
    pub action_url: String,
    pub action_label: String,
    /// Shown in the web inbox (the web channel delivered it).
    pub in_inbox: bool,
    pub created_at: i64,
    /// When the user marked it read; None while unread.
    pub read_at: Option<i64>,
}

impl Notification {
    pub fn is_read(&self) -> bool {
        self.read_at.is_some()
    }
}

/// The outcome of one channel for one notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub channel: Channel,
    pub outcome: Outcome,
    /// Why it failed (for [`Outcome::Failed`]); never shown to users.
    pub error: String,
}

/// A notification to store, with the outcome of each channel considered.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub user_id: i64,
    pub kind: NotificationKind,
    pub title: String,
    pub message: String,
    pub job_id: String,
    pub service_id: i64,
    pub action_url: String,
    pub action_label: String,
    pub in_inbox: bool,
    /// The sender's idempotency key: a second notification with the same
    /// key for the same user is not stored.
    pub dedup_key: Option<String>,
    pub created_at: i64,
    pub deliveries: Vec<Delivery>,
    /// The email to put in the outbox with it (its email delivery is then
    /// `queued`); None when no email goes out.
    pub email: Option<NewEmail>,
}

/// A rendered email to store in the outbox, sent later by a sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmail {
    /// `<...@...>`, the same on every attempt.
    pub message_id: String,
    pub to_address: String,
    pub to_name: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    /// The web UI path the mail links to; empty for none.
    pub action_url: String,
    /// The user's rate limit: when they were sent `limit` mails since
    /// `since` (or mails are already held for their digest), this one is
    /// held for the digest instead of sent alone.
    pub rate_limit: Option<RateLimit>,
}

/// At most `limit` mails per user since `since` (UTC milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: i64,
    pub since: i64,
}

/// Where a mail of the outbox stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailStatus {
    /// To send (again) at `next_attempt_at`.
    Pending,
    /// Over the user's rate limit: waits for their next digest.
    Held,
    /// Sent within a digest.
    Digested,
    /// Accepted by the mail server (or written to the maildir).
    Sent,
    /// Refused for good, or out of attempts; `last_error` says why.
    Failed,
}

impl EmailStatus {
    pub const ALL: [EmailStatus; 5] = [
        EmailStatus::Pending,
        EmailStatus::Held,
        EmailStatus::Digested,
        EmailStatus::Sent,
        EmailStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EmailStatus::Pending => "pending",
            EmailStatus::Held => "held",
            EmailStatus::Digested => "digested",
            EmailStatus::Sent => "sent",
            EmailStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A mail of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEmail {
    pub id: i64,
    /// The notification mailed; None for a digest.
    pub notification_id: Option<i64>,
    pub user_id: i64,
    pub message_id: String,
    pub to_address: String,
    pub to_name: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub action_url: String,
    pub status: EmailStatus,
    /// Attempts started so far (a claim counts as one).
    pub attempts: i64,
    pub last_error: String,
    /// The digest that carried it, for [`EmailStatus::Digested`].
    pub digest_id: Option<i64>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// The imputation quality of a completed job, as its mail shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QcSummary {
    pub chromosomes: Vec<ChromosomeQc>,
    pub variant_count: i64,
    pub mean_r2: f64,
    pub count_r2_ge_0_3: i64,
    pub count_r2_ge_0_8: i64,
}

/// The imputation quality of one chromosome.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChromosomeQc {
    pub chromosome: String,
    pub variant_count: i64,
    pub mean_r2: f64,
    pub count_r2_ge_0_3: i64,
    pub count_r2_ge_0_8: i64,
}

/// A user's notification preferences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    pub web_enabled: bool,
    pub email_on_job_completed: bool,
    pub email_on_job_failed: bool,
    pub email_on_job_cancelled: bool,
    pub email_on_credential_issue: bool,
    /// Where to email instead of the account's address; empty for the
    /// account's.
    pub email_address: String,
    /// When they were last saved; None while they are the defaults.
    pub updated_at: Option<i64>,
}

impl Default for Preferences {
    /// The defaults stated in the contract: the web inbox on; email on job
    /// completion, failure and credential trouble; no email on cancellation;
    /// the account's own address.
    fn default() -> Self {
        Self {
            web_enabled: true,
            email_on_job_completed: true,
            email_on_job_failed: true,
            email_on_job_cancelled: false,
            email_on_credential_issue: true,
            email_address: String::new(),
            updated_at: None,
        }
    }
}

impl Preferences {
    /// Whether the user wants email for notifications of `kind`; None when
    /// no preference covers it (system notices are emailed only when the
    /// sender asks for email).
    pub fn email_for(&self, kind: NotificationKind) -> Option<bool> {
        match kind {
            NotificationKind::JobCompleted => Some(self.email_on_job_completed),
            NotificationKind::JobFailed => Some(self.email_on_job_failed),
            NotificationKind::JobCancelled => Some(self.email_on_job_cancelled),
            NotificationKind::CredentialExpiring | NotificationKind::CredentialRejected => {
                Some(self.email_on_credential_issue)
            }
            NotificationKind::System => None,
        }
    }

    /// These preferences with `changes` applied.
    pub fn with(&self, changes: &PreferenceChanges) -> Self {
        let PreferenceChanges {
            web_enabled,
            email_on_job_completed,
            email_on_job_failed,
            email_on_job_cancelled,
            email_on_credential_issue,
            email_address,
        } = changes;
        Self {
            web_enabled: web_enabled.unwrap_or(self.web_enabled),
            email_on_job_completed: email_on_job_completed.unwrap_or(self.email_on_job_completed),
            email_on_job_failed: email_on_job_failed.unwrap_or(self.email_on_job_failed),
            email_on_job_cancelled: email_on_job_cancelled.unwrap_or(self.email_on_job_cancelled),
            email_on_credential_issue: email_on_credential_issue
                .unwrap_or(self.email_on_credential_issue),
            email_address: email_address
                .clone()
                .unwrap_or_else(|| self.email_address.clone()),
            updated_at: self.updated_at,
        }
    }
}

/// Preference fields to change (None: keep).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreferenceChanges {
    pub web_enabled: Option<bool>,
    pub email_on_job_completed: Option<bool>,
    pub email_on_job_failed: Option<bool>,
    pub email_on_job_cancelled: Option<bool>,
    pub email_on_credential_issue: Option<bool>,
    pub email_address: Option<String>,
}

/// A change to a user's inbox, as watchers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InboxChange {
    /// The start of a watch, or a resynchronisation after missed changes:
    /// only the unread count (clients reload the list).
    Snapshot,
    /// A new notification arrived.
    Created(Notification),
    /// A notification was marked read.
    Read(Notification),
    /// Every notification (up to a time) was marked read.
    AllRead,
}

/// One change of one user's inbox, with the unread count after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEvent {
    pub user_id: i64,
    pub change: InboxChange,
    pub unread_count: i64,
}
