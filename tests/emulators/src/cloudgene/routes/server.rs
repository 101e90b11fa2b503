//! `GET /api/v2/server` (`ServerController`) and
//! `GET /api/v2/server/apps/{app}` (`AppController.getApp`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::super::config::Config;
use super::super::{Shared, auth, now_millis, reply};

/// Anonymous: the server's name and maintenance flag; the user and the apps
/// when the caller is authenticated.
pub(crate) async fn server(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let state = shared.lock();
    let caller = match auth::optional(&state, &headers, now_millis()) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    let config = &state.config;
    let mut data = json!({
        "name": config.server_name,
        "background": "#343a40",
        "foreground": "#ffffff",
        "footer": "",
        "navigation": [],
        "maintenace": config.maintenance,
    });
    if config.maintenance {
        data["maintenaceMessage"] =
            json!("<p>The server is under maintenance. Please try again later.</p>");
    }
    match caller {
        Some(caller) => {
            let user = &state.users[&caller.username];
            data["user"] = json!({
                "username": user.username,
                "mail": user.mail,
                "admin": user.admin,
                "name": user.full_name,
            });
            data["apps"] = json!([{"id": config.app.id, "name": config.app.name}]);
            data["deprecatedApps"] = json!([]);
            data["experimentalApps"] = json!([]);
            data["loggedIn"] = json!(true);
        }
        None => {
            data["apps"] = json!([]);
            data["loggedIn"] = json!(false);
        }
    }
    reply::ok(data)
}

/// The app's parameters; anonymous callers get 404 as for an app that
/// needs a login.
pub(crate) async fn app(
    State(shared): State<Arc<Shared>>,
    Path(app): Path<String>,
    headers: HeaderMap,
) -> Response {
    let state = shared.lock();
    let caller = match auth::optional(&state, &headers, now_millis()) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    if state.config.maintenance && !caller.as_ref().is_some_and(|c| c.admin) {
        return reply::maintenance();
    }
    if caller.is_none() || app != state.config.app.id {
        return reply::error(
            StatusCode::NOT_FOUND,
            format!("Application {app} not found or the request requires user authentication."),
        );
    }
    reply::ok(definition(&state.config))
}

fn list(values: &[(&str, &str)]) -> Value {
    let mut values = values.to_vec();
    values.sort_by(|a, b| a.0.cmp(b.0));
    Value::Array(
        values
            .into_iter()
            .map(|(key, value)| json!({"key": key, "value": value}))
            .collect(),
    )
}

fn param(id: &str, description: &str, kind: &str) -> Value {
    json!({
        "id": id,
        "description": description,
        "type": kind,
        "visible": true,
        "required": true,
        "adminOnly": false,
    })
}

/// `JSONConverter.convert(WdlApp)` with the visible inputs of the
/// imputationserver2 `cloudgene.yaml`.
fn definition(config: &Config) -> Value {
    let mut refpanel = param(
        "refpanel",
        "Reference Panel (<a href=\"https://imputationserver.sph.umich.edu/start.html#!pages/refpanels\" target=\"_blank\">Details</a>)",
        "app_list",
    );
    refpanel["values"] = Value::Array(
        config
            .panels
            .iter()
            .map(|panel| json!({"key": panel.key(), "value": panel.name}))
            .collect(),
    );
    let mut files = param(
        "files",
        "Input Files (<a href=\"http://www.1000genomes.org/wiki/Analysis/Variant%20Call%20Format/vcf-variant-call-format-version-41\" target=\"_blank\">VCF</a>)",
        "local_folder",
    );
    files["source"] = json!("upload");
    let mut build = param("build", "Array Build", "list");
    build["value"] = json!("hg19");
    build["details"] =
        json!("Please note that the final SNP coordinates always match the reference build.");
    build["values"] = list(&[("hg19", "GRCh37/hg19"), ("hg38", "GRCh38/hg38")]);
    let mut r2 = param("r2Filter", "rsq Filter", "list");
    r2["value"] = json!("0");
    r2["values"] = list(&[
        ("0", "off"),
        ("0.001", "0.001"),
        ("0.1", "0.1"),
        ("0.2", "0.2"),
        ("0.3", "0.3"),
    ]);
    let mut phasing = param("phasing", "Phasing Engine", "list");
    phasing["value"] = json!("eagle");
    phasing["values"] = list(&[
        ("eagle", "Eagle v2.4 (phased output)"),
        ("beagle", "Beagle 5.4 (HRC and 1KG only)"),
        ("no_phasing", "No phasing"),
    ]);
    let mut population = param("population", "Allele Frequency Check", "binded_list");
    population["bind"] = json!("refpanel");
    population["values"] = Value::Array(
        config
            .panels
            .iter()
            .map(|panel| {
                json!({
                    "key": panel.key(),
                    "label": panel.name,
                    "values": panel.populations.iter().map(|(id, name)| {
                        json!({"key": id, "value": name, "enabled": false})
                    }).collect::<Vec<_>>(),
                })
            })
            .collect(),
    );
    let mut mode = param("mode", "Mode", "list");
    mode["value"] = json!("imputation");
    mode["values"] = list(&[
        ("qc_only", "Quality Control Only"),
        ("imputation", "Quality Control & Imputation"),
    ]);
    let checkbox = |id: &str, description: &str| {
        let mut value = param(id, description, "checkbox");
        value["value"] = json!("false");
        value["values"] = list(&[("true", "true"), ("false", "false")]);
        value
    };
    let mut aes = checkbox("aesEncryption", "AES 256 encryption");
    aes["details"] = json!(
        "Imputation Server encrypts all zip files by default. Please note that AES encryption does not work with standard unzip programs. Use 7z instead."
    );
    let meta = checkbox("meta", "Generate Meta-imputation file");
    json!({
        "id": config.app.id,
        "name": config.app.name,
        "version": config.app.version,
        "description": "This is the new Michigan Imputation Server Pipeline using <a href=\"https://github.com/statgen/Minimac4\">Minimac4</a>.",
        "author": null,
        "website": "https://imputationserver.readthedocs.io",
        "submitButton": "Start Imputation",
        "params": [
            refpanel,
            files,
            build,
            r2,
            phasing,
            population,
            mode,
            aes,
            meta,
            param("myseparator", "", "separator"),
            param("check1", "I will not attempt to re-identify or contact research participants.", "terms_checkbox"),
            param("check2", "I will report any inadvertent data release, security breach or other data management incident of which I become aware.", "terms_checkbox"),
        ],
        "s3Workspace": false,
    })
}
