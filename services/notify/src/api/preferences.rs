//! `GetNotificationPreferences` / `UpdateNotificationPreferences`.
//!
//! The update mask names the fields to change, relative to
//! `NotificationPreferences` (`web_enabled`, `email_address`, ...; `*` for
//! all). An empty mask replaces every field with the request's values (the
//! gateway turns the keys of a REST body into a mask).

use fip_kit::Violations;
use fip_kit::auth;
use fip_proto::notify::v1 as pb;
use tonic::{Request, Response, Status};

use super::NotifyApi;
use super::convert::preferences_to_wire;
use crate::error::check;
use crate::model::PreferenceChanges;

/// The fields a mask may name.
const FIELDS: [&str; 6] = [
    "web_enabled",
    "email_on_job_completed",
    "email_on_job_failed",
    "email_on_job_cancelled",
    "email_on_credential_issue",
    "email_address",
];

/// The changes `preferences` and `paths` ask for.
fn changes(
    v: &mut Violations,
    preferences: pb::NotificationPreferences,
    paths: &[String],
) -> PreferenceChanges {
    let pb::NotificationPreferences {
        web_enabled,
        email_on_job_completed,
        email_on_job_failed,
        email_on_job_cancelled,
        email_on_credential_issue,
        email_address,
        updated_at: _,
    } = preferences;
    let mut named: Vec<&str> = Vec::new();
    if paths.is_empty() {
        named.extend(FIELDS);
    }
    for (i, path) in paths.iter().enumerate() {
        match path.as_str() {
            "*" => named.extend(FIELDS),
            "updated_at" => v.add(
                format!("update_mask.paths[{i}]"),
                "updated_at is output only",
            ),
            p => match FIELDS.iter().find(|f| **f == p) {
                Some(field) => named.push(field),
                None => v.add(
                    format!("update_mask.paths[{i}]"),
                    format!("unknown field {p:?}: one of {}", FIELDS.join(", ")),
                ),
            },
        }
    }
    let pick = |field: &str, value: bool| named.contains(&field).then_some(value);
    PreferenceChanges {
        web_enabled: pick("web_enabled", web_enabled),
        email_on_job_completed: pick("email_on_job_completed", email_on_job_completed),
        email_on_job_failed: pick("email_on_job_failed", email_on_job_failed),
        email_on_job_cancelled: pick("email_on_job_cancelled", email_on_job_cancelled),
        email_on_credential_issue: pick("email_on_credential_issue", email_on_credential_issue),
        email_address: named.contains(&"email_address").then_some(email_address),
    }
}

impl NotifyApi {
    pub(super) async fn get_preferences(
        &self,
        request: Request<pb::GetNotificationPreferencesRequest>,
    ) -> Result<Response<pb::GetNotificationPreferencesResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::GetNotificationPreferencesRequest {} = request.into_inner();
        let preferences = self.notify.preferences(user.id).await?;
        Ok(Response::new(pb::GetNotificationPreferencesResponse {
            preferences: Some(preferences_to_wire(preferences)),
        }))
    }

    pub(super) async fn update_preferences(
        &self,
        request: Request<pb::UpdateNotificationPreferencesRequest>,
    ) -> Result<Response<pb::UpdateNotificationPreferencesResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::UpdateNotificationPreferencesRequest {
            preferences,
            update_mask,
        } = request.into_inner();
        let mut v = Violations::new();
        let paths = update_mask.map(|m| m.paths).unwrap_or_default();
        let changes = match preferences {
            Some(preferences) => changes(&mut v, preferences, &paths),
            None => {
                v.add("preferences", "is required");
                PreferenceChanges::default()
            }
        };
        check(v)?;
        let saved = self.notify.update_preferences(user.id, changes).await?;
        Ok(Response::new(pb::UpdateNotificationPreferencesResponse {
            preferences: Some(preferences_to_wire(saved)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefs() -> pb::NotificationPreferences {
        pb::NotificationPreferences {
            web_enabled: false,
            email_address: "a@b.org".into(),
            ..Default::default()
        }
    }

    #[test]
    fn masks_select_fields() {
        let mut v = Violations::new();
        let c = changes(&mut v, prefs(), &["web_enabled".into()]);
        assert_eq!(
            c,
            PreferenceChanges {
                web_enabled: Some(false),
                ..Default::default()
            }
        );
        let all = changes(&mut v, prefs(), &[]);
        assert_eq!(all, changes(&mut v, prefs(), &["*".into()]));
        assert_eq!(all.email_on_job_completed, Some(false));
        assert_eq!(all.email_address.as_deref(), Some("a@b.org"));
        assert!(v.is_empty());
        changes(&mut v, prefs(), &["updated_at".into(), "colour".into()]);
        let fields: Vec<_> = v
            .finish()
            .unwrap_err()
            .violations
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(fields, ["update_mask.paths[0]", "update_mask.paths[1]"]);
    }
}
