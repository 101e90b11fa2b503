//! A local HTTP server standing in for external imputation servers: the
//! Cloudgene token check and WES service-info, with switchable failures.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::json;

/// Tokens the stand-in accepts.
pub const GOOD_TOKEN: &str = "h3a_good_token_0123456789abcdef";

#[derive(Clone, Default)]
pub struct Remote {
    /// 0: answer normally; otherwise answer every request with this status,
    /// or hang forever for 599.
    pub fail_with: Arc<AtomicU16>,
}

pub const HANG: u16 = 599;

impl Remote {
    pub fn fail(&self, status: u16) {
        self.fail_with.store(status, Ordering::SeqCst);
    }
}

async fn failure(remote: &Remote) -> Option<axum::response::Response> {
    match remote.fail_with.load(Ordering::SeqCst) {
        0 => None,
        HANG => std::future::pending().await,
        status => Some(
            (
                StatusCode::from_u16(status).unwrap(),
                Json(json!({"success": false, "message": "This functionality is currently under maintenance."})),
            )
                .into_response(),
        ),
    }
}

#[derive(serde::Deserialize)]
struct VerifyForm {
    token: String,
}

async fn verify(
    State(remote): State<Remote>,
    Form(form): Form<VerifyForm>,
) -> axum::response::Response {
    if let Some(r) = failure(&remote).await {
        return r;
    }
    if form.token == GOOD_TOKEN {
        Json(
            json!({"valid": true, "message": "API Token was created by ada and is valid.",
            "username": "ada", "name": "Ada Lovelace", "mail": "ada@example.org",
            "expire": "2027-01-01T00:00:00Z"}),
        )
        .into_response()
    } else {
        Json(json!({"valid": false, "message": "Invalid API Token."})).into_response()
    }
}

async fn service_info(
    State(remote): State<Remote>,
    headers: HeaderMap,
) -> axum::response::Response {
    if let Some(r) = failure(&remote).await {
        return r;
    }
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {GOOD_TOKEN}"));
    if authorized {
        Json(
            json!({"workflow_type_versions": {"CWL": {"workflow_type_version": ["v1.0"]}},
            "supported_wes_versions": ["1.0.0"], "system_state_counts": {}}),
        )
        .into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"msg": "bearer token refused", "status_code": 401})),
        )
            .into_response()
    }
}

/// Starts the stand-in on 127.0.0.1:0; returns its base URL and controls.
pub async fn start() -> (String, Remote) {
    let remote = Remote::default();
    let app = Router::new()
        .route("/api/v2/tokens/verify", post(verify))
        .route("/ga4gh/wes/v1/service-info", get(service_info))
        .with_state(remote.clone());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, remote)
}
