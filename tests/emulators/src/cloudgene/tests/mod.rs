//! The emulator driven over HTTP by reqwest, as a client would.

mod auth;
mod downloads;
mod faults;
mod jobs;
mod validation;

use std::io::Read;
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::Value;

use super::{Config, Emulator};
use crate::fixtures::{SyntheticVcf, VcfSpec};

const APP: &str = "imputationserver2";
const PANEL: &str = "apps@1000g-phase-3-v5@2.0.0";

/// A client of one emulator with one user's token.
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(server: &Emulator, token: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            base: server.base_url().to_owned(),
            token: token.to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header("X-Auth-Token", &self.token)
            .send()
            .await
            .unwrap()
    }

    async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    /// Submits `files` (name, bytes) and text `fields`.
    async fn submit(
        &self,
        files: Vec<(String, Vec<u8>)>,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = Form::new();
        for (name, bytes) in files {
            form = form.part("files", Part::bytes(bytes).file_name(name));
        }
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        self.http
            .post(self.url(&format!("/api/v2/jobs/submit/{APP}")))
            .header("X-Auth-Token", &self.token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Submits and returns the job id.
    async fn submit_ok(&self, files: Vec<(String, Vec<u8>)>, fields: &[(&str, &str)]) -> String {
        let response = self.submit(files, fields).await;
        assert_eq!(response.status(), 200);
        let reply: Value = response.json().await.unwrap();
        assert_eq!(reply["success"], true);
        assert_eq!(
            reply["message"],
            "Your job was successfully added to the job queue."
        );
        reply["id"].as_str().unwrap().to_owned()
    }

    /// Polls `/status` until the job is finished; returns the last Job and
    /// every state seen.
    async fn poll_to_end(&self, id: &str) -> (Value, Vec<i64>) {
        let mut states = Vec::new();
        for _ in 0..100 {
            let job = self.get_json(&format!("/api/v2/jobs/{id}/status")).await;
            let state = job["state"].as_i64().unwrap();
            states.push(state);
            if !matches!(state, 1..=3) {
                return (job, states);
            }
        }
        panic!("job {id} never finished: {states:?}");
    }
}

/// Files of a submit: (file name, bytes).
type Files = Vec<(String, Vec<u8>)>;

/// Per-chromosome BGZF files named `chrN.vcf.gz`.
fn bgzf_files(vcf: &SyntheticVcf) -> Vec<(String, Vec<u8>)> {
    vcf.split_by_chromosome()
        .into_iter()
        .map(|(chromosome, part)| (format!("chr{chromosome}.vcf.gz"), part.bgzf()))
        .collect()
}

fn fields(password: &str) -> Vec<(&str, &str)> {
    vec![
        ("refpanel", PANEL),
        ("build", "hg19"),
        ("phasing", "eagle"),
        ("population", "afr"),
        ("mode", "imputation"),
        ("password", password),
        ("job-name", "hub-job-1"),
    ]
}

async fn started() -> (Emulator, Client) {
    let server = Emulator::start(Config::default()).await;
    let token = server.issue_token("alice");
    let client = Client::new(&server, &token);
    (server, client)
}

fn default_vcf() -> SyntheticVcf {
    VcfSpec::new(25, 40)
        .chromosomes(["20", "21"])
        .seed(3)
        .build()
}

/// The bytes of one entry of a zip, opened with `password`.
fn unzip(zip: &[u8], entry: &str, password: &str) -> zip::result::ZipResult<Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))?;
    let mut file = archive.by_name_decrypt(entry, password.as_bytes())?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}
