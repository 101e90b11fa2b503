//! The emulator driven over HTTP by reqwest, as a WES client would.

mod api;
mod outputs;
mod runs;

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use super::{Config, Emulator};
use crate::fixtures::VcfSpec;

const WORKFLOW: &str = "impute.cwl";
const CWL: &[u8] =
    b"cwlVersion: v1.0\nclass: Workflow\ninputs:\n  target: File[]\noutputs: {}\nsteps: {}\n";

/// A client of one emulator with one user's token.
struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    fn new(server: &Emulator, token: Option<&str>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            base: server.wes_url(),
            token: token.map(str::to_owned),
        }
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// GET of a WES path (`/runs`) or of an absolute URL.
    async fn get(&self, path: &str) -> reqwest::Response {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        self.authorize(self.http.get(url)).send().await.unwrap()
    }

    async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    async fn post(&self, path: &str) -> reqwest::Response {
        self.authorize(self.http.post(format!("{}{path}", self.base)))
            .send()
            .await
            .unwrap()
    }

    /// `POST /runs` with these text fields and attachments.
    async fn submit(
        &self,
        fields: &[(&str, String)],
        attachments: &[(&str, Vec<u8>)],
    ) -> reqwest::Response {
        let mut form = Form::new();
        for (name, value) in fields {
            form = form.text(name.to_string(), value.clone());
        }
        for (name, bytes) in attachments {
            form = form.part(
                "workflow_attachment",
                Part::bytes(bytes.clone()).file_name(name.to_string()),
            );
        }
        self.authorize(self.http.post(format!("{}/runs", self.base)))
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Submits and returns the run id.
    async fn submit_ok(
        &self,
        fields: &[(&str, String)],
        attachments: &[(&str, Vec<u8>)],
    ) -> String {
        let response = self.submit(fields, attachments).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        body["run_id"].as_str().unwrap().to_owned()
    }

    /// Polls `/status` until the run is finished; the states seen.
    async fn poll_to_end(&self, id: &str) -> Vec<String> {
        let mut states = Vec::new();
        for _ in 0..50 {
            let status = self.get_json(&format!("/runs/{id}/status")).await;
            assert_eq!(status["run_id"], id);
            let state = status["state"].as_str().unwrap().to_owned();
            states.push(state.clone());
            if matches!(
                state.as_str(),
                "COMPLETE" | "EXECUTOR_ERROR" | "SYSTEM_ERROR" | "CANCELED"
            ) {
                return states;
            }
        }
        panic!("run {id} never finished: {states:?}");
    }
}

/// The fields of a valid CWL submit naming `inputs` under `target`.
fn fields(inputs: Value) -> Vec<(&'static str, String)> {
    vec![
        ("workflow_params", json!({"target": inputs}).to_string()),
        ("workflow_type", "CWL".to_owned()),
        ("workflow_type_version", "v1.0".to_owned()),
        ("workflow_url", WORKFLOW.to_owned()),
        ("tags", json!({"job": "hub-job-1"}).to_string()),
    ]
}

/// A BGZF VCF of chromosome `chromosome`.
fn vcf(chromosome: &str, samples: usize, variants: usize) -> Vec<u8> {
    VcfSpec::new(samples, variants)
        .chromosomes([chromosome])
        .build()
        .bgzf()
}

/// Starts an emulator with `config`; a client of `alice`.
async fn started(config: Config) -> (Emulator, Client) {
    let server = Emulator::start(config).await;
    let token = server.issue_token("alice");
    let client = Client::new(&server, Some(&token));
    (server, client)
}

/// Submits chromosome 20 as an attachment and returns the run id.
async fn submit_chr20(client: &Client) -> String {
    client
        .submit_ok(
            &fields(json!([{"class": "File", "location": "chr20.vcf.gz"}])),
            &[(WORKFLOW, CWL.to_vec()), ("chr20.vcf.gz", vcf("20", 5, 12))],
        )
        .await
}
