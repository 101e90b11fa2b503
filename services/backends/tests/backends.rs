//! The backends against in-process emulators of Cloudgene API v2 and GA4GH
//! WES servers on ephemeral ports. The emulators answer as the real servers
//! do (genepi/cloudgene controllers, the imputationserver2 app definition,
//! the WES 1.0/1.1 schema) and record every request, so each test checks what
//! was sent as well as what was understood.

use std::collections::HashMap;
use std::future::pending;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use fip_backends::{
    ApiType, Backend, BackendError, Backends, DiscoveredPanel, HttpSettings, MichiganBackend,
    Secret,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const GOOD_TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.good-token.sig";
const BAD_TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.bad-token.sig";
const MAINTENANCE: &str = "This functionality is currently under maintenance.";

// ---------------------------------------------------------------- harness

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }
}

#[derive(Clone, Default)]
struct Journal(Arc<Mutex<Vec<Seen>>>);

impl Journal {
    fn requests(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    /// The single request the server got.
    fn only(&self) -> Seen {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "{requests:#?}");
        requests.into_iter().next().unwrap()
    }
}

async fn record(State(journal): State<Journal>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    journal.0.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    });
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

struct Server {
    base: String,
    port: u16,
    journal: Journal,
}

/// Serves `router` on 127.0.0.1:0 until the test's runtime ends.
async fn serve(router: Router) -> Server {
    let journal = Journal::default();
    let app = router.layer(middleware::from_fn_with_state(journal.clone(), record));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        base: format!("http://127.0.0.1:{port}"),
        port,
        journal,
    }
}

fn settings(request_timeout: Duration) -> HttpSettings {
    HttpSettings {
        request_timeout,
        connect_timeout: Duration::from_secs(5),
        user_agent: "fip-backends-test/1".into(),
        ..HttpSettings::default()
    }
}

fn backend(api: ApiType) -> Arc<dyn Backend> {
    Backends::new(&settings(Duration::from_secs(10)))
        .unwrap()
        .for_api(api)
}

fn michigan() -> Arc<dyn Backend> {
    backend(ApiType::Michigan)
}

fn wes() -> Arc<dyn Backend> {
    backend(ApiType::Ga4ghWes)
}

fn token(value: &str) -> Secret {
    Secret::ApiToken(value.into())
}

/// Asserts that nothing the backend says, in its result or error, holds `secret`.
fn assert_no_secret(shown: &str, secret: &str) {
    assert!(!shown.contains(secret), "secret leaked: {shown}");
}

// ------------------------------------------------------- cloudgene emulator

fn jackson_date(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap()
}

/// `ApiTokenController.verify`: 200 for every token, `valid` says which.
async fn cloudgene_verify(Form(form): Form<HashMap<String, String>>) -> Json<Value> {
    let now = OffsetDateTime::now_utc();
    if form.get("token").map(String::as_str) == Some(GOOD_TOKEN) {
        Json(json!({
            "valid": true,
            "message": "API Token was created by alice and is valid.",
            "username": "alice",
            "name": "Alice Example",
            "mail": "alice@example.org",
            "expire": jackson_date(now + time::Duration::days(30)),
        }))
    } else {
        // The default `expire` of the response object is the time of the answer.
        Json(json!({
            "valid": false,
            "message": "Invalid API Token.",
            "username": null,
            "name": null,
            "mail": null,
            "expire": jackson_date(now),
        }))
    }
}

/// `ServerController.get` for an anonymous caller.
async fn cloudgene_server() -> Json<Value> {
    Json(json!({
        "name": "AfriGen-D Imputation Service",
        "background": "#ffffff",
        "foreground": "#000000",
        "footer": "",
        "apps": [],
        "loggedIn": false,
        "navigation": [],
        "maintenace": false
    }))
}

/// The imputationserver2 definition as `AppController.getApp` renders it.
fn imputationserver2() -> Value {
    json!({
        "id": "imputationserver2",
        "name": "Genotype Imputation",
        "version": "2.0.10",
        "description": "This is the new Imputation Server Pipeline using Minimac4.",
        "author": null,
        "website": "https://imputationserver.readthedocs.io",
        "submitButton": "Start Imputation",
        "params": [
            {
                "id": "refpanel",
                "description": "Reference Panel (<a href=\"#\">Details</a>)",
                "type": "app_list",
                "visible": true, "required": true, "adminOnly": false,
                "values": [
                    {"key": "apps@h3africa-v6hc-s@1.0.0", "value": "H3Africa v6 high coverage (GRCh38/hg38)"},
                    {"key": "apps@1000g-phase-3-v5@2.0.0", "value": "1000G Phase 3 (GRCh37/hg19)"},
                    {"key": "apps@caapa@1.0.0", "value": "CAAPA African American"}
                ]
            },
            {"id": "files", "description": "Input Files", "type": "local_folder",
             "visible": true, "required": true, "adminOnly": false, "source": "upload"},
            {"id": "build", "description": "Array Build", "type": "list", "value": "hg19",
             "visible": true, "required": true, "adminOnly": false,
             "values": [{"key": "hg19", "value": "GRCh37/hg19"}, {"key": "hg38", "value": "GRCh38/hg38"}]},
            {"id": "r2Filter", "description": "rsq Filter", "type": "list", "value": "0",
             "visible": true, "required": true, "adminOnly": false,
             "values": [{"key": "0", "value": "off"}, {"key": "0.3", "value": "0.3"}]},
            {
                "id": "population",
                "description": "Allele Frequency Check",
                "type": "binded_list",
                "bind": "refpanel",
                "visible": true, "required": true, "adminOnly": false,
                "values": [
                    {
                        "key": "apps@h3africa-v6hc-s@1.0.0",
                        "label": "H3Africa v6 high coverage (GRCh38/hg38)",
                        "values": [
                            {"key": "afr", "value": "AFR", "enabled": false},
                            {"key": "off", "value": "Off", "enabled": false}
                        ]
                    },
                    {
                        "key": "apps@1000g-phase-3-v5@2.0.0",
                        "label": "1000G Phase 3 (GRCh37/hg19)",
                        "values": [
                            {"key": "afr", "value": "AFR", "enabled": false},
                            {"key": "amr", "value": "AMR", "enabled": false},
                            {"key": "eur", "value": "EUR", "enabled": false},
                            {"key": "mixed", "value": "Other/Mixed", "enabled": false}
                        ]
                    }
                ]
            },
            {"id": "mode", "description": "Mode", "type": "list", "value": "imputation",
             "visible": true, "required": true, "adminOnly": false,
             "values": [{"key": "imputation", "value": "Quality Control & Imputation"},
                        {"key": "qc_only", "value": "Quality Control Only"}]}
        ],
        "s3Workspace": false
    })
}

/// `AppController.getApp`: 401 without a valid token, 404 for an unknown app.
async fn cloudgene_app(Path(app): Path<String>, headers: HeaderMap) -> Response {
    if headers
        .get("x-auth-token")
        .and_then(|value| value.to_str().ok())
        != Some(GOOD_TOKEN)
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match app.as_str() {
        "imputationserver2" | "minimac4" => Json(imputationserver2()).into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({
                "success": false,
                "message": format!("Application {app} not found or the request requires user authentication.")
            })),
        )
            .into_response(),
    }
}

fn cloudgene() -> Router {
    Router::new()
        .route("/api/v2/tokens/verify", post(cloudgene_verify))
        .route("/api/v2/server", get(cloudgene_server))
        .route("/api/v2/server/apps/{app}", get(cloudgene_app))
}

fn under_maintenance() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "120")],
        Json(json!({"success": false, "message": MAINTENANCE})),
    )
        .into_response()
}

// ------------------------------------------------------- cloudgene: verify

#[tokio::test]
async fn michigan_verify_accepts_a_valid_token() {
    let server = serve(cloudgene()).await;
    let verification = michigan()
        .verify_credential(&server.base, &token(GOOD_TOKEN))
        .await
        .unwrap();

    assert!(verification.valid);
    assert_eq!(
        verification.message,
        "API Token was created by alice and is valid."
    );
    assert_eq!(verification.username.as_deref(), Some("alice"));
    assert_eq!(verification.display_name.as_deref(), Some("Alice Example"));
    assert_eq!(verification.email.as_deref(), Some("alice@example.org"));
    let expires_at = verification.expires_at.expect("an expiry");
    let in_30_days = OffsetDateTime::now_utc() + time::Duration::days(30);
    assert!((expires_at - in_30_days).abs() < time::Duration::minutes(1));

    let seen = server.journal.only();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/api/v2/tokens/verify");
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form: HashMap<String, String> = url_form(&seen.body);
    assert_eq!(form.get("token").map(String::as_str), Some(GOOD_TOKEN));
    assert_eq!(form.len(), 1);
    assert_eq!(seen.header("x-auth-token"), None, "verify is anonymous");
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.header("user-agent"), Some("fip-backends-test/1"));
}

fn url_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (percent_decode(key), percent_decode(value)))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn michigan_verify_reports_an_invalid_token_as_invalid() {
    let server = serve(cloudgene()).await;
    let verification = michigan()
        .verify_credential(&server.base, &token(BAD_TOKEN))
        .await
        .unwrap();

    assert!(!verification.valid);
    assert_eq!(verification.message, "Invalid API Token.");
    assert_eq!(
        verification.expires_at, None,
        "expire of a bad token is just now"
    );
    assert_eq!(verification.username, None);
    let seen = server.journal.only();
    assert_eq!(
        url_form(&seen.body).get("token").map(String::as_str),
        Some(BAD_TOKEN)
    );
    assert_no_secret(&format!("{verification:?}"), BAD_TOKEN);
}

#[tokio::test]
async fn michigan_verify_takes_only_api_tokens() {
    let server = serve(cloudgene()).await;
    for secret in [
        Secret::Basic {
            username: "alice".into(),
            password: "s3cret pass".into(),
        },
        Secret::OAuth2 {
            access_token: "oauth-access".into(),
        },
    ] {
        let error = michigan()
            .verify_credential(&server.base, &secret)
            .await
            .unwrap_err();
        assert!(
            matches!(error, BackendError::NotSupported { .. }),
            "{error:?}"
        );
        assert!(!error.is_transient());
    }
    assert!(server.journal.requests().is_empty(), "nothing is sent");
}

#[tokio::test]
async fn michigan_handles_base_urls_with_a_prefix_and_a_trailing_slash() {
    let server = serve(Router::new().nest("/imputation", cloudgene())).await;
    let base = format!("{}/imputation/", server.base);
    let verification = michigan()
        .verify_credential(&base, &token(GOOD_TOKEN))
        .await
        .unwrap();
    assert!(verification.valid);
    michigan().probe(&base).await.unwrap();
    let paths: Vec<String> = server
        .journal
        .requests()
        .into_iter()
        .map(|seen| seen.path)
        .collect();
    assert_eq!(
        paths,
        [
            "/imputation/api/v2/tokens/verify",
            "/imputation/api/v2/server"
        ]
    );
}

#[tokio::test]
async fn michigan_verify_with_a_server_error_is_unavailable() {
    let server = serve(Router::new().route(
        "/api/v2/tokens/verify",
        post(|| async {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "java.lang.NullPointerException",
            )
        }),
    ))
    .await;
    let error = michigan()
        .verify_credential(&server.base, &token(GOOD_TOKEN))
        .await
        .unwrap_err();
    match &error {
        BackendError::Unavailable {
            status: Some(500),
            message,
            ..
        } => assert_eq!(message, "java.lang.NullPointerException"),
        other => panic!("{other:?}"),
    }
    assert!(error.is_transient());
}

#[tokio::test]
async fn michigan_verify_without_valid_is_a_protocol_error() {
    let server = serve(Router::new().route(
        "/api/v2/tokens/verify",
        post(|| async { Json(json!({"message": "ok"})) }),
    ))
    .await;
    let error = michigan()
        .verify_credential(&server.base, &token(GOOD_TOKEN))
        .await
        .unwrap_err();
    assert!(matches!(error, BackendError::Protocol { .. }), "{error:?}");
}

// -------------------------------------------------------- cloudgene: probe

#[tokio::test]
async fn michigan_probe_is_anonymous_and_names_the_server() {
    let server = serve(cloudgene()).await;
    let probe = michigan().probe(&server.base).await.unwrap();
    assert_eq!(probe.http_status, Some(200));
    assert_eq!(
        probe.detail,
        "cloudgene server \"AfriGen-D Imputation Service\" is up"
    );
    assert_eq!(probe.version, None);
    assert!(probe.latency < Duration::from_secs(5));

    let seen = server.journal.only();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("GET", "/api/v2/server")
    );
    assert_eq!(seen.header("x-auth-token"), None);
    assert_eq!(seen.header("authorization"), None);
}

#[tokio::test]
async fn michigan_probe_counts_an_authentication_demand_as_up() {
    let server =
        serve(Router::new().route("/api/v2/server", get(|| async { StatusCode::UNAUTHORIZED })))
            .await;
    let probe = michigan().probe(&server.base).await.unwrap();
    assert_eq!(probe.http_status, Some(401));
    assert!(
        probe.detail.contains("asks for authentication"),
        "{}",
        probe.detail
    );
}

#[tokio::test]
async fn michigan_probe_of_a_server_under_maintenance_is_unavailable() {
    let server =
        serve(Router::new().route("/api/v2/server", get(|| async { under_maintenance() }))).await;
    let error = michigan().probe(&server.base).await.unwrap_err();
    assert_eq!(
        error,
        BackendError::Unavailable {
            status: Some(503),
            retry_after: Some(Duration::from_secs(120)),
            message: MAINTENANCE.into(),
        }
    );
    assert!(error.is_transient());
}

#[tokio::test]
async fn michigan_probe_sees_the_maintenance_flag() {
    let server = serve(Router::new().route(
        "/api/v2/server",
        get(|| async {
            Json(json!({
                "name": "Michigan Imputation Server",
                "apps": [],
                "loggedIn": false,
                "maintenace": true,
                "maintenaceMessage": "<p>We are upgrading the cluster.</p>"
            }))
        }),
    ))
    .await;
    match michigan().probe(&server.base).await.unwrap_err() {
        BackendError::Unavailable {
            status: None,
            message,
            ..
        } => assert_eq!(
            message,
            "the server is under maintenance: We are upgrading the cluster."
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn michigan_probe_of_a_failing_server_is_unavailable() {
    let server = serve(Router::new().route(
        "/api/v2/server",
        get(|| async {
            (
                StatusCode::BAD_GATEWAY,
                "<html><h1>502 Bad Gateway</h1></html>",
            )
        }),
    ))
    .await;
    match michigan().probe(&server.base).await.unwrap_err() {
        BackendError::Unavailable {
            status: Some(502),
            retry_after: None,
            message,
        } => assert_eq!(message, "http 502 bad gateway"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn probe_of_a_hanging_server_times_out() {
    let server = serve(Router::new().route(
        "/api/v2/server",
        get(|| async {
            pending::<()>().await;
            "never"
        }),
    ))
    .await;
    let backends = Backends::new(&settings(Duration::from_millis(300))).unwrap();
    let started = Instant::now();
    let error = backends
        .for_api(ApiType::Michigan)
        .probe(&server.base)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    match &error {
        BackendError::Unavailable {
            status: None,
            message,
            ..
        } => assert!(
            message.contains("no answer from 127.0.0.1 in time"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(error.is_transient());
    assert_eq!(server.journal.only().path, "/api/v2/server");
}

#[tokio::test]
async fn probe_of_a_closed_port_is_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    for api in ApiType::ALL {
        let error = backend(api)
            .probe(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_err();
        match &error {
            BackendError::Unavailable {
                status: None,
                message,
                ..
            } => assert!(
                message.starts_with("cannot connect to 127.0.0.1"),
                "{message}"
            ),
            other => panic!("{api}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn probe_of_something_else_is_a_protocol_error() {
    let server = serve(
        Router::new()
            .route(
                "/api/v2/server",
                get(|| async { axum::response::Html("<html>a blog</html>") }),
            )
            .route(
                "/ga4gh/wes/v1/service-info",
                get(|| async { ([(header::CONTENT_TYPE, "application/json")], "{\"name\": ") }),
            ),
    )
    .await;
    for api in ApiType::ALL {
        let error = backend(api).probe(&server.base).await.unwrap_err();
        assert!(
            matches!(error, BackendError::Protocol { .. }),
            "{api}: {error:?}"
        );
    }
}

#[tokio::test]
async fn an_unusable_base_url_is_refused_before_sending() {
    for api in ApiType::ALL {
        let error = backend(api)
            .probe("https://alice:pw@impute.example.org")
            .await
            .unwrap_err();
        assert!(matches!(error, BackendError::Protocol { .. }), "{error:?}");
        assert_no_secret(&error.to_string(), "pw@");
    }
}

// --------------------------------------------------- cloudgene: list panels

#[tokio::test]
async fn michigan_lists_panels_with_their_populations() {
    let server = serve(cloudgene()).await;
    let panels = michigan()
        .list_panels(&server.base, Some(&token(GOOD_TOKEN)))
        .await
        .unwrap();

    assert_eq!(
        panels,
        vec![
            DiscoveredPanel {
                id: "apps@h3africa-v6hc-s@1.0.0".into(),
                short_id: "h3africa-v6hc-s".into(),
                name: "H3Africa v6 high coverage (GRCh38/hg38)".into(),
                version: Some("1.0.0".into()),
                build: Some("hg38".into()),
                populations: vec![("afr".into(), "AFR".into()), ("off".into(), "Off".into())],
            },
            DiscoveredPanel {
                id: "apps@1000g-phase-3-v5@2.0.0".into(),
                short_id: "1000g-phase-3-v5".into(),
                name: "1000G Phase 3 (GRCh37/hg19)".into(),
                version: Some("2.0.0".into()),
                build: Some("hg19".into()),
                populations: vec![
                    ("afr".into(), "AFR".into()),
                    ("amr".into(), "AMR".into()),
                    ("eur".into(), "EUR".into()),
                    ("mixed".into(), "Other/Mixed".into()),
                ],
            },
            DiscoveredPanel {
                id: "apps@caapa@1.0.0".into(),
                short_id: "caapa".into(),
                name: "CAAPA African American".into(),
                version: Some("1.0.0".into()),
                build: None,
                populations: vec![],
            },
        ]
    );

    let seen = server.journal.only();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/api/v2/server/apps/imputationserver2");
    assert_eq!(seen.query, None);
    assert_eq!(
        seen.header("x-auth-token"),
        Some(GOOD_TOKEN),
        "bare, no Bearer"
    );
    assert_eq!(seen.header("authorization"), None);
}

#[tokio::test]
async fn michigan_lists_panels_of_another_app() {
    let server = serve(cloudgene()).await;
    let client = settings(Duration::from_secs(10)).build_client().unwrap();
    let backend = MichiganBackend::new(client).with_app("minimac4");
    assert_eq!(backend.app(), "minimac4");
    let panels = backend
        .list_panels(&server.base, Some(&token(GOOD_TOKEN)))
        .await
        .unwrap();
    assert_eq!(panels.len(), 3);
    assert_eq!(server.journal.only().path, "/api/v2/server/apps/minimac4");
}

#[tokio::test]
async fn michigan_panels_with_a_bad_token_need_new_credentials() {
    let server = serve(cloudgene()).await;
    let error = michigan()
        .list_panels(&server.base, Some(&token(BAD_TOKEN)))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        BackendError::Unauthorized {
            message: "the server refused the credential (http 401 unauthorized)".into()
        }
    );
    assert!(!error.is_transient());
    assert_eq!(
        server.journal.only().header("x-auth-token"),
        Some(BAD_TOKEN)
    );

    let anonymous = michigan()
        .list_panels(&server.base, None)
        .await
        .unwrap_err();
    assert!(matches!(anonymous, BackendError::Unauthorized { .. }));
    assert_eq!(server.journal.requests()[1].header("x-auth-token"), None);
}

#[tokio::test]
async fn michigan_panels_of_an_unknown_app_are_rejected_with_the_server_message() {
    let server = serve(cloudgene()).await;
    let client = settings(Duration::from_secs(10)).build_client().unwrap();
    let error = MichiganBackend::new(client)
        .with_app("imputationserver")
        .list_panels(&server.base, Some(&token(GOOD_TOKEN)))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        BackendError::Rejected {
            status: 404,
            message: "Application imputationserver not found or the request requires user authentication."
                .into()
        }
    );
}

#[tokio::test]
async fn michigan_panels_under_maintenance_or_failing_are_unavailable() {
    let server = serve(
        Router::new()
            .route(
                "/maintenance/api/v2/server/apps/{app}",
                get(|| async { under_maintenance() }),
            )
            .route(
                "/broken/api/v2/server/apps/{app}",
                get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
            ),
    )
    .await;
    let error = michigan()
        .list_panels(
            &format!("{}/maintenance", server.base),
            Some(&token(GOOD_TOKEN)),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error,
        BackendError::Unavailable {
            status: Some(503),
            retry_after: Some(Duration::from_secs(120)),
            message: MAINTENANCE.into()
        }
    );
    let error = michigan()
        .list_panels(&format!("{}/broken", server.base), Some(&token(GOOD_TOKEN)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            BackendError::Unavailable {
                status: Some(500),
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn michigan_panels_from_malformed_json_are_a_protocol_error() {
    let server = serve(
        Router::new()
            .route(
                "/truncated/api/v2/server/apps/{app}",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        r#"{"id":"imputationserver2","params":[{"id":"refpanel","values":[{"key":"#,
                    )
                }),
            )
            .route(
                "/no-panels/api/v2/server/apps/{app}",
                get(|| async { Json(json!({"id": "hello", "params": [{"id": "files"}]})) }),
            ),
    )
    .await;
    for prefix in ["truncated", "no-panels"] {
        let error = michigan()
            .list_panels(
                &format!("{}/{prefix}", server.base),
                Some(&token(GOOD_TOKEN)),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(error, BackendError::Protocol { .. }),
            "{prefix}: {error:?}"
        );
        assert_no_secret(&error.to_string(), GOOD_TOKEN);
    }
}

#[tokio::test]
async fn michigan_panels_take_only_api_tokens() {
    let server = serve(cloudgene()).await;
    let error = michigan()
        .list_panels(
            &server.base,
            Some(&Secret::OAuth2 {
                access_token: "oauth-access".into(),
            }),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, BackendError::NotSupported { .. }));
    assert!(server.journal.requests().is_empty());
}

#[tokio::test]
async fn redirects_stay_on_the_server_host() {
    let elsewhere = serve(cloudgene()).await;
    let target = format!(
        "http://localhost:{}/api/v2/server/apps/imputationserver2",
        elsewhere.port
    );
    let server = serve(
        cloudgene()
            .route(
                "/moved/api/v2/server/apps/{app}",
                get(|| async {
                    axum::response::Redirect::temporary("/api/v2/server/apps/imputationserver2")
                }),
            )
            .route(
                "/away/api/v2/server/apps/{app}",
                get(move || {
                    let target = target.clone();
                    async move { axum::response::Redirect::temporary(&target) }
                }),
            ),
    )
    .await;

    let panels = michigan()
        .list_panels(&format!("{}/moved", server.base), Some(&token(GOOD_TOKEN)))
        .await
        .unwrap();
    assert_eq!(panels.len(), 3, "a redirect within the host is followed");

    let error = michigan()
        .list_panels(&format!("{}/away", server.base), Some(&token(GOOD_TOKEN)))
        .await
        .unwrap_err();
    assert!(matches!(error, BackendError::Protocol { .. }), "{error:?}");
    assert!(
        elsewhere.journal.requests().is_empty(),
        "the token never goes to another host"
    );
}

// ------------------------------------------------------------ wes emulator

const WES_TOKEN: &str = "wes-bearer-token-123";

fn full_service_info() -> Value {
    json!({
        "id": "za.ac.ilifu.wes",
        "name": "eLwazi ILIFU WES",
        "type": {"group": "org.ga4gh", "artifact": "wes", "version": "1.1.0"},
        "organization": {"name": "ILIFU", "url": "https://www.ilifu.ac.za"},
        "version": "0.3.2",
        "workflow_type_versions": {
            "NFL": {"workflow_type_version": ["22.10.0"]},
            "WDL": {"workflow_type_version": ["1.0"]}
        },
        "supported_wes_versions": ["1.0.0", "1.1.0"],
        "supported_filesystem_protocols": ["file", "https"],
        "workflow_engine_versions": {"nextflow": "22.10.0"},
        "default_workflow_engine_parameters": [],
        "system_state_counts": {"RUNNING": 2, "QUEUED": 1},
        "auth_instructions_url": "https://www.ilifu.ac.za/wes-auth",
        "tags": {}
    })
}

/// A WES server demanding `Bearer WES_TOKEN` (or alice's basic credentials).
async fn wes_service_info(headers: HeaderMap) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    match authorization {
        Some(value)
            if value == format!("Bearer {WES_TOKEN}")
                || value == "Basic YWxpY2U6czNjcmV0IHBhc3M=" =>
        {
            Json(full_service_info()).into_response()
        }
        Some(value) => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"msg": format!("token {} is not valid", value.trim_start_matches("Bearer ")), "status_code": 401})),
        )
            .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"msg": "authentication required", "status_code": 401})),
        )
            .into_response(),
    }
}

fn wes_server() -> Router {
    Router::new().route("/ga4gh/wes/v1/service-info", get(wes_service_info))
}

#[tokio::test]
async fn wes_verify_sends_a_bearer_token() {
    let server = serve(wes_server()).await;
    for secret in [
        token(WES_TOKEN),
        Secret::OAuth2 {
            access_token: WES_TOKEN.into(),
        },
    ] {
        let verification = wes()
            .verify_credential(&server.base, &secret)
            .await
            .unwrap();
        assert!(verification.valid);
        assert!(
            verification
                .message
                .starts_with("the wes server accepts the"),
            "{}",
            verification.message
        );
        assert!(
            verification
                .message
                .contains("workflows: NFL (22.10.0), WDL (1.0); wes 1.0.0, 1.1.0"),
            "{}",
            verification.message
        );
        assert_no_secret(&verification.message, WES_TOKEN);
    }
    for seen in server.journal.requests() {
        assert_eq!(seen.method, "GET");
        assert_eq!(seen.path, "/ga4gh/wes/v1/service-info");
        assert_eq!(
            seen.header("authorization"),
            Some(format!("Bearer {WES_TOKEN}").as_str())
        );
        assert_eq!(seen.header("x-auth-token"), None);
    }
    assert_eq!(server.journal.requests().len(), 2);
}

#[tokio::test]
async fn wes_verify_sends_basic_credentials() {
    let server = serve(wes_server()).await;
    let verification = wes()
        .verify_credential(
            &format!("{}/ga4gh/wes/v1/", server.base),
            &Secret::Basic {
                username: "alice".into(),
                password: "s3cret pass".into(),
            },
        )
        .await
        .unwrap();
    assert!(verification.valid);
    let seen = server.journal.only();
    assert_eq!(
        seen.path, "/ga4gh/wes/v1/service-info",
        "the api path is not doubled"
    );
    assert_eq!(
        seen.header("authorization"),
        Some("Basic YWxpY2U6czNjcmV0IHBhc3M=")
    );
}

#[tokio::test]
async fn wes_verify_reports_a_refused_token_as_invalid_without_echoing_it() {
    let server = serve(wes_server()).await;
    let wrong = "wrong-token-456";
    let verification = wes()
        .verify_credential(&server.base, &token(wrong))
        .await
        .unwrap();
    assert!(!verification.valid);
    assert_eq!(verification.message, "token <redacted> is not valid");
    assert_eq!(
        server.journal.only().header("authorization"),
        Some("Bearer wrong-token-456")
    );
}

#[tokio::test]
async fn wes_verify_tolerates_a_bare_service_info() {
    let server = serve(Router::new().route(
        "/ga4gh/wes/v1/service-info",
        get(|| async { Json(json!({})) }),
    ))
    .await;
    let verification = wes()
        .verify_credential(&server.base, &token(WES_TOKEN))
        .await
        .unwrap();
    assert!(verification.valid);
    assert_eq!(verification.message, "the wes server accepts the api token");
}

#[tokio::test]
async fn wes_verify_with_a_server_error_is_unavailable() {
    let server = serve(Router::new().route(
        "/ga4gh/wes/v1/service-info",
        get(|| async {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"msg": "database is locked", "status_code": 500})),
            )
        }),
    ))
    .await;
    let error = wes()
        .verify_credential(&server.base, &token(WES_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        BackendError::Unavailable {
            status: Some(500),
            retry_after: None,
            message: "database is locked".into()
        }
    );
}

#[tokio::test]
async fn wes_probe_is_anonymous_and_reads_the_version() {
    let server = serve(Router::new().route(
        "/ga4gh/wes/v1/service-info",
        get(|| async { Json(full_service_info()) }),
    ))
    .await;
    let probe = wes().probe(&server.base).await.unwrap();
    assert_eq!(probe.http_status, Some(200));
    assert_eq!(probe.version.as_deref(), Some("0.3.2"));
    assert!(
        probe
            .detail
            .starts_with("the wes server is up; name \"eLwazi ILIFU WES\"")
    );
    let seen = server.journal.only();
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.path, "/ga4gh/wes/v1/service-info");
}

#[tokio::test]
async fn wes_probe_counts_an_authentication_demand_as_up() {
    let server = serve(wes_server()).await;
    let probe = wes().probe(&server.base).await.unwrap();
    assert_eq!(probe.http_status, Some(401));
    assert_eq!(probe.version, None);
}

#[tokio::test]
async fn wes_probe_of_a_failing_server_is_unavailable() {
    let server = serve(Router::new().route(
        "/ga4gh/wes/v1/service-info",
        get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
    ))
    .await;
    let error = wes().probe(&server.base).await.unwrap_err();
    assert!(
        matches!(
            error,
            BackendError::Unavailable {
                status: Some(503),
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn wes_has_no_panels() {
    let server = serve(wes_server()).await;
    let error = wes()
        .list_panels(&server.base, Some(&token(WES_TOKEN)))
        .await
        .unwrap_err();
    assert!(matches!(error, BackendError::NotSupported { .. }));
    assert!(server.journal.requests().is_empty());
}

#[tokio::test]
async fn backends_hand_out_one_backend_per_api() {
    let backends = Backends::new(&HttpSettings::default()).unwrap();
    for api in ApiType::ALL {
        assert_eq!(backends.for_api(api).api_type(), api);
    }
}

// ------------------------------------------- wes runs against the emulator

/// Runs on the emulated WES server of `fip-emulators`, quirks included.
mod wes_runs {
    use std::path::PathBuf;

    use fip_backends::wes::{InputDelivery, ParamNames, WesWorkflow};
    use fip_backends::{InputFile, RunRequest, RunState, WesBackend};
    use fip_emulators::fixtures::VcfSpec;
    use fip_emulators::wes::{Config, Emulator, OutputLocations};

    use super::*;

    fn client() -> reqwest::Client {
        settings(Duration::from_secs(5)).build_client().unwrap()
    }

    fn request(dir: &std::path::Path) -> RunRequest {
        let path = dir.join("chr20.vcf.gz");
        std::fs::write(&path, VcfSpec::new(20, 10).build().bgzf()).unwrap();
        RunRequest {
            job_name: "fip-0193".into(),
            inputs: vec![InputFile {
                name: "chr20.vcf.gz".into(),
                path,
                url: None,
            }],
            panel: "synthetic-afr".into(),
            build: "hg19".into(),
            phasing: None,
            population: None,
            mode: "imputation".into(),
            r2_filter: None,
            password: String::new(),
            aes_encryption: false,
            wes: Some(WesWorkflow {
                workflow_type: "CWL".into(),
                workflow_type_version: "v1.0".into(),
                workflow_url: "https://workflows.example/imputation.cwl".into(),
                input_delivery: InputDelivery::Attachment,
                param_names: ParamNames {
                    input: "target".into(),
                    reference_panel: "panel".into(),
                    ..ParamNames::default()
                },
                ..WesWorkflow::default()
            }),
        }
    }

    /// The emulator started with `config`, a researcher's secret there,
    /// and the id of a run of [`request`] that `wes` submitted with it (the
    /// input lives in `dir`).
    async fn submitted(
        config: Config,
        wes: &WesBackend,
        dir: &std::path::Path,
    ) -> (Emulator, Secret, String) {
        let server = Emulator::start(config).await;
        let secret = Secret::ApiToken(server.issue_token("ada"));
        let id = wes
            .submit(server.base_url(), &secret, &request(dir))
            .await
            .unwrap();
        (server, secret, id)
    }

    /// Polls until the run is final; at most `polls` times.
    async fn follow(
        wes: &WesBackend,
        base: &str,
        secret: &Secret,
        id: &str,
        polls: usize,
    ) -> Vec<Result<fip_backends::RemoteRun, BackendError>> {
        let mut seen = Vec::new();
        for _ in 0..polls {
            let answer = wes.status(base, secret, id).await;
            let done = matches!(&answer, Ok(run) if run.state.is_final());
            seen.push(answer);
            if done {
                break;
            }
        }
        seen
    }

    #[tokio::test]
    async fn a_run_is_found_again_by_its_tag_whatever_the_list_is_called() {
        for (workflows_key, ignore_paging) in [(false, false), (true, true)] {
            let server = Emulator::start(Config {
                list_key_workflows: workflows_key,
                ignore_paging,
                default_page_size: 2,
                ..Config::default()
            })
            .await;
            let secret = Secret::ApiToken(server.issue_token("ada"));
            let dir = tempfile::tempdir().unwrap();
            let wes = WesBackend::new(client());
            let mut ids = Vec::new();
            for name in ["fip-a", "fip-0193", "fip-b", "fip-c"] {
                let mut run = request(dir.path());
                run.job_name = name.into();
                ids.push(wes.submit(server.base_url(), &secret, &run).await.unwrap());
            }
            assert_eq!(
                wes.find_run(server.base_url(), &secret, "fip-0193")
                    .await
                    .unwrap(),
                Some(ids[1].clone()),
                "workflows key {workflows_key}"
            );
            assert_eq!(
                wes.find_run(server.base_url(), &secret, "fip-none")
                    .await
                    .unwrap(),
                None
            );
            server.stop().await;
        }
    }

    #[tokio::test]
    async fn a_run_unknown_for_a_while_after_submit_is_transient_then_followed() {
        let dir = tempfile::tempdir().unwrap();
        let wes = WesBackend::new(client());
        let config = Config {
            not_found_polls: 2,
            ..Config::default()
        };
        let (server, secret, id) = submitted(config, &wes, dir.path()).await;
        let seen = follow(&wes, server.base_url(), &secret, &id, 10).await;
        for early in &seen[..2] {
            let error = early.as_ref().unwrap_err();
            assert!(error.is_transient(), "{error}");
        }
        let last = seen.last().unwrap().as_ref().unwrap();
        assert_eq!(last.state, RunState::Completed);
        assert_eq!(last.name, "fip-0193");
        server.stop().await;
    }

    #[tokio::test]
    async fn file_outputs_are_read_only_under_a_shared_directory() {
        let shared = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let submit = WesBackend::new(client());
        let config = Config {
            output_locations: OutputLocations::File(shared.path().to_path_buf()),
            ..Config::default()
        };
        let (server, secret, id) = submitted(config, &submit, dir.path()).await;
        let run = follow(&submit, server.base_url(), &secret, &id, 10)
            .await
            .pop()
            .unwrap()
            .unwrap();
        let output = run
            .outputs
            .iter()
            .find(|o| o.name == "chr20.imputed.vcf.gz")
            .expect("the imputed vcf");
        assert!(output.url.starts_with("file:///"), "{}", output.url);
        let dest = dir.path().join("out.vcf.gz");
        let refused = submit
            .download(output, Some(&secret), &dest)
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("wes_shared_dirs"), "{refused}");
        assert!(!dest.exists());
        let sharing =
            WesBackend::new(client()).with_shared_dirs(vec![PathBuf::from(shared.path())]);
        let size = sharing
            .download(output, Some(&secret), &dest)
            .await
            .unwrap();
        assert_eq!(size, std::fs::metadata(&dest).unwrap().len());
        assert_eq!(Some(size), output.size);
        server.stop().await;
    }
}
