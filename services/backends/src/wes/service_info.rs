//! `GET /service-info`: WES 1.0 `ServiceInfo` (`workflow_type_versions`,
//! `supported_wes_versions`, `workflow_engine_versions`,
//! `system_state_counts`, `auth_instructions_url`, …), which WES 1.1 merges
//! with the GA4GH service-info (`id`, `name`, `type`, `version`, …). Every
//! field is optional here; the answer must be a JSON object.

use serde_json::{Map, Value};

use crate::BackendError;

pub(super) struct ServiceInfo {
    name: Option<String>,
    version: Option<String>,
    wes_versions: Vec<String>,
    /// `CWL (v1.0, v1.2)`, one per workflow type.
    workflow_types: Vec<String>,
}

impl ServiceInfo {
    pub(super) fn read(value: &Value) -> Result<Self, BackendError> {
        let Value::Object(info) = value else {
            return Err(BackendError::protocol(
                "the service info is not a json object: not a wes server?",
            ));
        };
        Ok(Self {
            name: text(info.get("name")),
            version: text(info.get("version")),
            wes_versions: texts(info.get("supported_wes_versions")),
            workflow_types: workflow_types(info),
        })
    }

    /// The service's own version (WES 1.1), else the newest WES version it
    /// supports.
    pub(super) fn version(&self) -> Option<String> {
        self.version
            .clone()
            .or_else(|| self.wes_versions.last().cloned())
    }

    /// `<lead>; name "x"; workflows: CWL (v1.0), NFL (22.10); wes 1.0.0`.
    pub(super) fn summary(&self, lead: &str) -> String {
        let mut parts = vec![lead.to_owned()];
        if let Some(name) = &self.name {
            parts.push(format!("name \"{name}\""));
        }
        if !self.workflow_types.is_empty() {
            parts.push(format!("workflows: {}", self.workflow_types.join(", ")));
        }
        if !self.wes_versions.is_empty() {
            parts.push(format!("wes {}", self.wes_versions.join(", ")));
        }
        parts.join("; ")
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text.trim().to_owned()).filter(|text| !text.is_empty()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn texts(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(|item| text(Some(item))).collect(),
        Some(single) => text(Some(single)).into_iter().collect(),
        None => Vec::new(),
    }
}

/// `workflow_type_versions: {CWL: {workflow_type_version: ["v1.0"]}}`; some
/// servers give the list directly (`{CWL: ["v1.0"]}`).
fn workflow_types(info: &Map<String, Value>) -> Vec<String> {
    let Some(Value::Object(types)) = info.get("workflow_type_versions") else {
        return Vec::new();
    };
    types
        .iter()
        .map(|(kind, versions)| {
            let versions = match versions {
                Value::Object(versions) => texts(versions.get("workflow_type_version")),
                other => texts(Some(other)),
            };
            if versions.is_empty() {
                kind.clone()
            } else {
                format!("{kind} ({})", versions.join(", "))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn summarises_a_full_answer() {
        let info = ServiceInfo::read(&json!({
            "id": "org.ga4gh.ilifu.wes",
            "name": "eLwazi ILIFU WES",
            "type": {"group": "org.ga4gh", "artifact": "wes", "version": "1.1.0"},
            "version": "0.3.2",
            "workflow_type_versions": {
                "NFL": {"workflow_type_version": ["22.10.0"]},
                "WDL": ["1.0"]
            },
            "supported_wes_versions": ["1.0.0", "1.1.0"],
            "system_state_counts": {"RUNNING": 1},
            "auth_instructions_url": "https://example.org/auth"
        }))
        .unwrap();
        assert_eq!(info.version().as_deref(), Some("0.3.2"));
        assert_eq!(
            info.summary("up"),
            "up; name \"eLwazi ILIFU WES\"; workflows: NFL (22.10.0), WDL (1.0); wes 1.0.0, 1.1.0"
        );
    }

    #[test]
    fn tolerates_a_bare_answer() {
        let info = ServiceInfo::read(&json!({})).unwrap();
        assert_eq!(info.version(), None);
        assert_eq!(info.summary("up"), "up");
        let info = ServiceInfo::read(&json!({"supported_wes_versions": ["1.0.0"]})).unwrap();
        assert_eq!(info.version().as_deref(), Some("1.0.0"));
    }

    #[test]
    fn refuses_what_is_not_an_object() {
        assert!(ServiceInfo::read(&json!("ok")).is_err());
        assert!(ServiceInfo::read(&json!([])).is_err());
    }
}
