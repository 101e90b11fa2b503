//! Reference panels from `GET /api/v2/server/apps/{app}`.
//!
//! Cloudgene's `AppController` (genepi/cloudgene, `JSONConverter.convert`)
//! renders an app as `{id, name, version, …, params: [...]}` where:
//!
//! - the `refpanel` input (`type: app_list`, category `RefPanel` in the
//!   imputationserver2 `cloudgene.yaml`) lists every installed panel app the
//!   user may use: `values: [{key: "apps@<id>@<version>", value: <name>}]`;
//! - the `population` input (`type: binded_list`, `bind: refpanel`) lists
//!   per panel the entries of its `populations` property:
//!   `values: [{key: <panel key>, label: <name>,
//!   values: [{key: <population id>, value: <population name>, enabled}]}]`.
//!
//! This is what imputationbot (lukfor/imputationbot,
//! `CloudgeneInstance.getReferencePanelsWithDetails`) reads; its short id
//! (`CommandlineOptionsUtil.prettyAppId`) is the key's second `@` part.

use serde_json::{Map, Value};

use crate::{BackendError, DiscoveredPanel};

const PANEL_PARAM: &str = "refpanel";
const POPULATION_PARAM: &str = "population";

/// The panels of an app definition.
pub(super) fn panels(definition: &Value, app: &str) -> Result<Vec<DiscoveredPanel>, BackendError> {
    let nonsense = |what: String| BackendError::protocol(format!("app `{app}`: {what}"));
    let definition = definition
        .as_object()
        .ok_or_else(|| nonsense("the app definition is not a json object".into()))?;
    let params = definition
        .get("params")
        .ok_or_else(|| nonsense("the app definition has no `params`".into()))?
        .as_array()
        .ok_or_else(|| nonsense("`params` is not an array".into()))?;
    let params = params
        .iter()
        .map(|param| {
            param
                .as_object()
                .ok_or_else(|| nonsense("a parameter is not a json object".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let by_id = |id: &str| {
        params
            .iter()
            .find(|param| param.get("id").and_then(Value::as_str) == Some(id))
            .copied()
    };
    let panel_param = by_id(PANEL_PARAM).ok_or_else(|| {
        nonsense(format!(
            "no `{PANEL_PARAM}` parameter: not an imputation app?"
        ))
    })?;
    let population_param = by_id(POPULATION_PARAM).or_else(|| {
        params
            .iter()
            .find(|param| param.get("bind").and_then(Value::as_str) == Some(PANEL_PARAM))
            .copied()
    });

    let entries = values(panel_param, PANEL_PARAM).map_err(nonsense)?;
    let populations = match population_param {
        Some(param) => values(param, POPULATION_PARAM).map_err(nonsense)?,
        None => Vec::new(),
    };

    let mut panels: Vec<DiscoveredPanel> = Vec::with_capacity(entries.len());
    for entry in entries {
        let key = key(entry, PANEL_PARAM).map_err(nonsense)?;
        if panels.iter().any(|panel| panel.id == key) {
            continue;
        }
        let (short_id, version) = split_key(key);
        let name = label(entry).unwrap_or(short_id).to_owned();
        let populations = match populations
            .iter()
            .find(|group| group.get("key").and_then(Value::as_str) == Some(key))
        {
            Some(group) => panel_populations(group, key).map_err(nonsense)?,
            None => Vec::new(),
        };
        panels.push(DiscoveredPanel {
            id: key.to_owned(),
            short_id: short_id.to_owned(),
            build: build(&name).or_else(|| build(key)),
            name,
            version: version.map(str::to_owned),
            populations,
        });
    }
    Ok(panels)
}

/// The `values` array of a parameter, each an object (absent or null: none).
fn values<'a>(
    param: &'a Map<String, Value>,
    id: &str,
) -> Result<Vec<&'a Map<String, Value>>, String> {
    match param.get("values") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(values)) => values
            .iter()
            .map(|value| {
                value
                    .as_object()
                    .ok_or_else(|| format!("a value of `{id}` is not a json object"))
            })
            .collect(),
        Some(_) => Err(format!("`values` of `{id}` is not an array")),
    }
}

/// The non-empty string `key` of a value.
fn key<'a>(value: &'a Map<String, Value>, id: &str) -> Result<&'a str, String> {
    match value.get("key") {
        Some(Value::String(key)) if !key.trim().is_empty() => Ok(key.trim()),
        Some(Value::String(_)) => Err(format!("a value of `{id}` has an empty `key`")),
        Some(_) => Err(format!(
            "a value of `{id}` has a `key` that is not a string"
        )),
        None => Err(format!("a value of `{id}` has no `key`")),
    }
}

/// `value` (app lists, plain lists) or `label` (bound lists), non-empty.
fn label(value: &Map<String, Value>) -> Option<&str> {
    ["value", "label"]
        .iter()
        .filter_map(|field| value.get(*field).and_then(Value::as_str))
        .map(str::trim)
        .find(|text| !text.is_empty())
}

fn panel_populations(
    group: &Map<String, Value>,
    panel: &str,
) -> Result<Vec<(String, String)>, String> {
    let id = format!("{POPULATION_PARAM}` of `{panel}");
    let mut populations: Vec<(String, String)> = Vec::new();
    for value in values(group, &id)? {
        let key = key(value, &id)?;
        if populations.iter().any(|(known, _)| known == key) {
            continue;
        }
        let name = label(value).unwrap_or(key);
        populations.push((key.to_owned(), name.to_owned()));
    }
    Ok(populations)
}

/// `apps@h3africa-v6hc-s@1.0.0` → (`h3africa-v6hc-s`, `1.0.0`); a key without
/// the `apps@` prefix is split the same way; a bare key is its own short id.
fn split_key(key: &str) -> (&str, Option<&str>) {
    let rest = key.strip_prefix("apps@").unwrap_or(key);
    match rest.split_once('@') {
        Some((short, version)) if !short.is_empty() => {
            (short, Some(version).filter(|version| !version.is_empty()))
        }
        _ => (rest, None),
    }
}

/// `hg19` or `hg38` when `text` names exactly one of them.
fn build(text: &str) -> Option<String> {
    let text = text.to_ascii_lowercase();
    let names = |marks: &[&str]| marks.iter().any(|mark| text.contains(mark));
    match (names(&["hg19", "grch37"]), names(&["hg38", "grch38"])) {
        (true, false) => Some("hg19".to_owned()),
        (false, true) => Some("hg38".to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The shape `JSONConverter.convert` gives for imputationserver2.
    fn definition() -> Value {
        json!({
            "id": "imputationserver2",
            "name": "Genotype Imputation",
            "version": "2.0.10",
            "submitButton": "Start Imputation",
            "params": [
                {
                    "id": "refpanel",
                    "description": "Reference Panel",
                    "type": "app_list",
                    "visible": true, "required": true, "adminOnly": false,
                    "values": [
                        {"key": "apps@1000g-phase-3-v5@2.0.0", "value": "1000G Phase 3 (GRCh37/hg19)"},
                        {"key": "apps@h3africa-v6hc-s@1.0.0", "value": "H3Africa v6 high coverage (GRCh38/hg38)"},
                        {"key": "apps@topmed-r3@1.0.0", "value": "TOPMed r3"},
                        {"key": "apps@topmed-r3@1.0.0", "value": "duplicate"}
                    ]
                },
                {"id": "files", "type": "local_folder", "source": "upload"},
                {
                    "id": "build", "type": "list", "value": "hg19",
                    "values": [{"key": "hg19", "value": "GRCh37/hg19"}, {"key": "hg38", "value": "GRCh38/hg38"}]
                },
                {
                    "id": "population",
                    "description": "Allele Frequency Check",
                    "type": "binded_list",
                    "bind": "refpanel",
                    "values": [
                        {
                            "key": "apps@1000g-phase-3-v5@2.0.0",
                            "label": "1000G Phase 3",
                            "values": [
                                {"key": "afr", "value": "AFR", "enabled": false},
                                {"key": "eur", "value": "EUR", "enabled": false},
                                {"key": "off", "value": "Off", "enabled": false}
                            ]
                        },
                        {
                            "key": "apps@h3africa-v6hc-s@1.0.0",
                            "label": "H3Africa",
                            "values": [{"key": "mixed", "value": "Mixed", "enabled": false}]
                        }
                    ]
                }
            ]
        })
    }

    #[test]
    fn reads_panels_and_their_populations() {
        let panels = panels(&definition(), "imputationserver2").unwrap();
        assert_eq!(panels.len(), 3);
        assert_eq!(
            panels[0],
            DiscoveredPanel {
                id: "apps@1000g-phase-3-v5@2.0.0".into(),
                short_id: "1000g-phase-3-v5".into(),
                name: "1000G Phase 3 (GRCh37/hg19)".into(),
                version: Some("2.0.0".into()),
                build: Some("hg19".into()),
                populations: vec![
                    ("afr".into(), "AFR".into()),
                    ("eur".into(), "EUR".into()),
                    ("off".into(), "Off".into()),
                ],
            }
        );
        assert_eq!(panels[1].short_id, "h3africa-v6hc-s");
        assert_eq!(panels[1].build.as_deref(), Some("hg38"));
        assert_eq!(
            panels[1].populations,
            vec![("mixed".into(), "Mixed".into())]
        );
        assert_eq!(panels[2].name, "TOPMed r3");
        assert_eq!(panels[2].build, None);
        assert!(panels[2].populations.is_empty());
    }

    #[test]
    fn missing_fields_are_tolerated() {
        let definition = json!({
            "params": [{"id": "refpanel", "values": [{"key": "hapmap2"}, {"key": "apps@x", "label": "X"}]}]
        });
        let found = panels(&definition, "minimac4").unwrap();
        assert_eq!(found[0].short_id, "hapmap2");
        assert_eq!(found[0].name, "hapmap2");
        assert_eq!(found[0].version, None);
        assert_eq!(found[1].short_id, "x");
        assert_eq!(found[1].name, "X");
        let empty = json!({"params": [{"id": "refpanel"}]});
        assert!(panels(&empty, "a").unwrap().is_empty());
    }

    #[test]
    fn nonsense_is_a_protocol_error() {
        for definition in [
            json!([]),
            json!({}),
            json!({"params": {}}),
            json!({"params": [1]}),
            json!({"params": [{"id": "files"}]}),
            json!({"params": [{"id": "refpanel", "values": "all"}]}),
            json!({"params": [{"id": "refpanel", "values": [{"value": "no key"}]}]}),
            json!({"params": [{"id": "refpanel", "values": [{"key": 7}]}]}),
            json!({"params": [{"id": "refpanel", "values": [{"key": " "}]}]}),
            json!({"params": [
                {"id": "refpanel", "values": [{"key": "apps@a@1"}]},
                {"id": "population", "values": [{"key": "apps@a@1", "values": [{"value": "no key"}]}]}
            ]}),
        ] {
            let error = panels(&definition, "imputationserver2").unwrap_err();
            assert!(
                matches!(error, BackendError::Protocol { .. }),
                "{definition}: {error:?}"
            );
            assert!(error.to_string().contains("imputationserver2"), "{error}");
        }
    }

    #[test]
    fn keys_split_like_imputationbot() {
        assert_eq!(
            split_key("apps@h3africa-v6hc-s@1.0.0"),
            ("h3africa-v6hc-s", Some("1.0.0"))
        );
        assert_eq!(split_key("apps@hapmap2"), ("hapmap2", None));
        assert_eq!(split_key("hapmap2@2.0.0"), ("hapmap2", Some("2.0.0")));
        assert_eq!(split_key("hapmap2"), ("hapmap2", None));
    }

    #[test]
    fn build_only_when_unambiguous() {
        assert_eq!(
            build("HRC r1.1 2016 (GRCh37/hg19)").as_deref(),
            Some("hg19")
        );
        assert_eq!(build("TOPMed r3 (hg38)").as_deref(), Some("hg38"));
        assert_eq!(build("lifted hg19 and hg38"), None);
        assert_eq!(build("CAAPA"), None);
    }
}
