//! How a WES server runs an imputation job: the workflow to run and how a
//! job's choices become its `workflow_params` (the registry's `WesWorkflow`,
//! in this crate's own terms).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::BackendError;
use crate::run::RunRequest;

/// The tag that carries the hub's run name (`fip-<job id>`), by which a run
/// is found again after a crash.
pub const JOB_TAG: &str = "fip_job_id";

/// How the input files reach the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InputDelivery {
    /// Each input is a `workflow_attachment` part of the multipart submit;
    /// the input parameter holds its file name.
    #[default]
    Attachment,
    /// The input parameter holds a short-lived signed hub URL per file
    /// ([`crate::InputFile::url`]), which the server downloads.
    SignedUrl,
}

/// The `workflow_params` keys that receive a job's choices; an empty name
/// means the workflow has no such input and the choice is not sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParamNames {
    pub input: String,
    pub reference_panel: String,
    pub build: String,
    pub population: String,
    pub phasing: String,
    pub r2_filter: String,
    pub mode: String,
}

/// The workflow a WES server runs for a job.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WesWorkflow {
    /// `CWL`, `NEXTFLOW`, `WDL`, …
    pub workflow_type: String,
    pub workflow_type_version: String,
    /// An absolute URL the server can read, or the name of an attachment.
    pub workflow_url: String,
    /// WES 1.1 `workflow_engine`; empty: the server's choice.
    pub workflow_engine: String,
    pub workflow_engine_version: String,
    pub input_delivery: InputDelivery,
    pub param_names: ParamNames,
    /// Entries merged into every run's `workflow_params`; the job's own
    /// choices win on conflict.
    pub fixed_params: Map<String, Value>,
    pub engine_parameters: Map<String, Value>,
    /// Tags of every run; the hub adds [`JOB_TAG`].
    pub tags: BTreeMap<String, String>,
}

impl WesWorkflow {
    /// Whether inputs are CWL `File` objects rather than bare names or URLs.
    fn is_cwl(&self) -> bool {
        self.workflow_type.trim().eq_ignore_ascii_case("cwl")
    }

    /// Checks what a submit needs.
    pub(crate) fn check(&self) -> Result<(), BackendError> {
        let missing = [
            ("workflow_type", &self.workflow_type),
            ("workflow_type_version", &self.workflow_type_version),
            ("workflow_url", &self.workflow_url),
            ("the input parameter name", &self.param_names.input),
        ]
        .into_iter()
        .find(|(_, value)| value.trim().is_empty());
        match missing {
            Some((what, _)) => Err(BackendError::Rejected {
                status: 400,
                message: format!("the service's wes workflow has no {what}"),
            }),
            None => Ok(()),
        }
    }

    /// The run's `workflow_params`: the fixed ones, then the job's choices.
    pub fn params(&self, run: &RunRequest) -> Result<Value, BackendError> {
        let mut params = self.fixed_params.clone();
        let mut inputs = Vec::with_capacity(run.inputs.len());
        for input in &run.inputs {
            let location = match self.input_delivery {
                InputDelivery::Attachment => input.name.clone(),
                InputDelivery::SignedUrl => input.url.clone().ok_or_else(|| {
                    BackendError::protocol(format!("no signed url for the input {}", input.name))
                })?,
            };
            inputs.push(if self.is_cwl() {
                json!({"class": "File", "location": location})
            } else {
                Value::String(location)
            });
        }
        let names = &self.param_names;
        let mut put = |key: &str, value: Value| {
            if !key.trim().is_empty() {
                params.insert(key.trim().to_string(), value);
            }
        };
        put(&names.input, Value::Array(inputs));
        put(&names.reference_panel, Value::String(run.panel.clone()));
        put(&names.build, Value::String(run.build.clone()));
        put(&names.mode, Value::String(run.mode.clone()));
        if let Some(population) = &run.population {
            put(&names.population, Value::String(population.clone()));
        }
        if let Some(phasing) = &run.phasing {
            put(&names.phasing, Value::String(phasing.clone()));
        }
        if let Some(r2) = run.r2_filter {
            put(&names.r2_filter, json!(r2));
        }
        Ok(Value::Object(params))
    }

    /// The run's tags: the workflow's, and the hub's run name.
    pub fn tags(&self, run: &RunRequest) -> Value {
        let mut tags: Map<String, Value> = self
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        tags.insert(JOB_TAG.into(), Value::String(run.job_name.clone()));
        Value::Object(tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InputFile;

    fn request() -> RunRequest {
        RunRequest {
            job_name: "fip-1".into(),
            inputs: vec![InputFile {
                name: "chr20.vcf.gz".into(),
                path: "/tmp/chr20.vcf.gz".into(),
                url: Some("https://hub.example/api/downloads/t".into()),
            }],
            panel: "synthetic-afr".into(),
            build: "hg19".into(),
            phasing: None,
            population: Some("AFR".into()),
            mode: "imputation".into(),
            r2_filter: Some(0.3),
            password: String::new(),
            aes_encryption: false,
            wes: None,
        }
    }

    fn workflow() -> WesWorkflow {
        WesWorkflow {
            workflow_type: "CWL".into(),
            workflow_type_version: "v1.0".into(),
            workflow_url: "imputation.cwl".into(),
            param_names: ParamNames {
                input: "target".into(),
                reference_panel: "panel".into(),
                r2_filter: "r2_filter".into(),
                ..ParamNames::default()
            },
            fixed_params:
                json!({"panels": {"class": "Directory", "location": "file:///srv"}, "panel": "x"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ..WesWorkflow::default()
        }
    }

    #[test]
    fn params_merge_fixed_entries_and_the_jobs_choices() {
        let params = workflow().params(&request()).unwrap();
        assert_eq!(
            params,
            json!({
                "target": [{"class": "File", "location": "chr20.vcf.gz"}],
                "panel": "synthetic-afr",
                "panels": {"class": "Directory", "location": "file:///srv"},
                "r2_filter": 0.3
            }),
            "unnamed choices (build, population) are not sent; the job wins over fixed"
        );
        let mut by_url = workflow();
        by_url.input_delivery = InputDelivery::SignedUrl;
        by_url.workflow_type = "NEXTFLOW".into();
        assert_eq!(
            by_url.params(&request()).unwrap()["target"],
            json!(["https://hub.example/api/downloads/t"])
        );
        let mut tags = workflow();
        tags.tags.insert("site".into(), "hub".into());
        assert_eq!(
            tags.tags(&request()),
            json!({"site": "hub", "fip_job_id": "fip-1"})
        );
    }

    #[test]
    fn an_incomplete_workflow_is_refused() {
        let mut w = workflow();
        w.workflow_url = " ".into();
        assert!(w.check().unwrap_err().to_string().contains("workflow_url"));
        assert!(workflow().check().is_ok());
    }
}
