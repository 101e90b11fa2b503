//! Mails from templates: a text and an HTML part per mail, for one
//! notification or a digest of several. The templates see only what they
//! show (the recipient's name, the notification's text, QC figures and
//! links): nothing secret reaches them.

use lettre::message::Mailbox;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use crate::model::{NotificationKind, OutboxEmail, QcSummary};

/// The web UI page with the notification preferences (and the inbox).
pub const PREFERENCES_PATH: &str = "/notifications";

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What a notification's mail says.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationMail<'a> {
    pub kind: NotificationKind,
    /// The recipient's name as the greeting shows it.
    pub name: &'a str,
    pub title: &'a str,
    pub message: &'a str,
    /// A web UI path, or empty.
    pub action_url: &'a str,
    pub action_label: &'a str,
    pub qc: Option<&'a QcSummary>,
}

/// Renders mails for one hub.
pub struct Composer {
    env: Environment<'static>,
    hub_url: String,
    /// The domain of Message-IDs (the sender's).
    domain: String,
}

#[derive(Serialize)]
struct QcView {
    variant_count: i64,
    mean_r2: String,
    count_r2_ge_0_3: i64,
    count_r2_ge_0_8: i64,
    chromosomes: Vec<ChromosomeView>,
}

#[derive(Serialize)]
struct ChromosomeView {
    chromosome: String,
    variant_count: i64,
    mean_r2: String,
    count_r2_ge_0_3: i64,
    count_r2_ge_0_8: i64,
}

fn qc_view(qc: &QcSummary) -> QcView {
    QcView {
        variant_count: qc.variant_count,
        mean_r2: format!("{:.3}", qc.mean_r2),
        count_r2_ge_0_3: qc.count_r2_ge_0_3,
        count_r2_ge_0_8: qc.count_r2_ge_0_8,
        chromosomes: qc
            .chromosomes
            .iter()
            .map(|c| ChromosomeView {
                chromosome: c.chromosome.clone(),
                variant_count: c.variant_count,
                mean_r2: format!("{:.3}", c.mean_r2),
                count_r2_ge_0_3: c.count_r2_ge_0_3,
                count_r2_ge_0_8: c.count_r2_ge_0_8,
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct DigestItem {
    subject: String,
    action_link: Value,
}

/// A URL for an HTML attribute or text: escaped here (minijinja's own
/// escaping also turns `/` into an entity, which some mail readers show
/// verbatim) and marked safe; as is for the text part.
fn url(url: &str, html: bool) -> Value {
    if !html {
        return Value::from(url);
    }
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Value::from_safe_string(out)
}

impl Composer {
    /// `hub_url` without a trailing slash; `from` gives the Message-ID
    /// domain.
    pub fn new(hub_url: &str, from: &Mailbox) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        // Names ending in .html are escaped as HTML; the text parts are not.
        env.set_trim_blocks(true);
        env.set_keep_trailing_newline(true);
        for (name, source) in [
            ("mail.txt", include_str!("../../templates/mail.txt")),
            ("mail.html", include_str!("../../templates/mail.html")),
            ("digest.txt", include_str!("../../templates/digest.txt")),
            ("digest.html", include_str!("../../templates/digest.html")),
        ] {
            env.add_template(name, source)?;
        }
        Ok(Self {
            env,
            hub_url: hub_url.trim_end_matches('/').to_string(),
            domain: from.email.domain().to_string(),
        })
    }

    /// The absolute URL of a web UI path.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.hub_url)
    }

    /// Where the user turns mails off (the `List-Unsubscribe` target).
    pub fn preferences_url(&self) -> String {
        self.link(PREFERENCES_PATH)
    }

    /// A new Message-ID, kept with the mail for every attempt.
    pub fn message_id(&self) -> String {
        format!("<{}@{}>", uuid::Uuid::now_v7(), self.domain)
    }

    pub fn notification(&self, mail: &NotificationMail<'_>) -> anyhow::Result<Rendered> {
        let NotificationMail {
            kind,
            name,
            title,
            message,
            action_url,
            action_label,
            qc,
        } = mail;
        let action_link = if action_url.is_empty() {
            String::new()
        } else {
            self.link(action_url)
        };
        let ctx = |html| {
            context! {
                kind => kind.as_str(),
                name => name,
                title => title,
                message => message,
                action_link => url(&action_link, html),
                action_label => action_label,
                qc => qc.map(qc_view),
                hub_url => url(&self.hub_url, html),
                preferences_url => url(&self.preferences_url(), html),
            }
        };
        Ok(Rendered {
            subject: title.to_string(),
            text: self.env.get_template("mail.txt")?.render(ctx(false))?,
            html: self.env.get_template("mail.html")?.render(ctx(true))?,
        })
    }

    /// One mail for the held mails `items` of one user.
    pub fn digest(&self, name: &str, items: &[OutboxEmail]) -> anyhow::Result<Rendered> {
        let ctx = |html| {
            let items: Vec<DigestItem> = items
                .iter()
                .map(|e| DigestItem {
                    subject: e.subject.clone(),
                    action_link: if e.action_url.is_empty() {
                        Value::from("")
                    } else {
                        url(&self.link(&e.action_url), html)
                    },
                })
                .collect();
            context! {
                name => name,
                items => items,
                hub_url => url(&self.hub_url, html),
                inbox_url => url(&self.preferences_url(), html),
                preferences_url => url(&self.preferences_url(), html),
            }
        };
        Ok(Rendered {
            subject: format!("{} notifications from the imputation hub", items.len()),
            text: self.env.get_template("digest.txt")?.render(ctx(false))?,
            html: self.env.get_template("digest.html")?.render(ctx(true))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ChromosomeQc;

    fn composer() -> Composer {
        Composer::new(
            "https://hub.example.org/",
            &"Hub <hub@example.org>".parse().unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_completed_job_shows_its_qc_and_links_in_both_parts() {
        let qc = QcSummary {
            chromosomes: vec![ChromosomeQc {
                chromosome: "20".into(),
                variant_count: 1000,
                mean_r2: 0.91234,
                count_r2_ge_0_3: 990,
                count_r2_ge_0_8: 870,
            }],
            variant_count: 1000,
            mean_r2: 0.91234,
            count_r2_ge_0_3: 990,
            count_r2_ge_0_8: 870,
        };
        let mail = NotificationMail {
            kind: NotificationKind::JobCompleted,
            name: "Ada <Lovelace>",
            title: "Job completed: chr20",
            message: "Your job completed",
            action_url: "/jobs/1",
            action_label: "View results",
            qc: Some(&qc),
        };
        let r = composer().notification(&mail).unwrap();
        assert_eq!(r.subject, "Job completed: chr20");
        for part in [&r.text, &r.html] {
            assert!(part.contains("https://hub.example.org/jobs/1"), "{part}");
            assert!(part.contains("https://hub.example.org/notifications"));
            assert!(part.contains("0.912") && part.contains("990") && part.contains("870"));
        }
        assert!(r.text.contains("Hello Ada <Lovelace>,"));
        assert!(r.html.contains("Hello Ada &lt;Lovelace&gt;,"), "{}", r.html);
        assert!(
            r.html
                .contains("<a href=\"https://hub.example.org/jobs/1\">View results</a>")
        );
        let without = composer()
            .notification(&NotificationMail { qc: None, ..mail })
            .unwrap();
        assert!(without.text.contains("No QC summary"));
    }

    #[test]
    fn message_ids_are_unique_and_on_the_senders_domain() {
        let c = composer();
        let (a, b) = (c.message_id(), c.message_id());
        assert_ne!(a, b);
        assert!(a.starts_with('<') && a.ends_with("@example.org>"));
    }
}
