//! The same calls over gRPC (tonic), gRPC-web (binary and text, framed by
//! hand over HTTP/1.1) and REST/JSON give the same answers.

use fip_kit::testing::with_token;
use fip_proto::monitor::v1::monitor_service_client::MonitorServiceClient;
use fip_proto::monitor::v1::{GetHealthRequest, GetHealthResponse};
use fip_proto::registry::v1::registry_service_client::RegistryServiceClient;
use fip_proto::registry::v1::{
    GetServiceRequest, GetServiceResponse, ImputationService, ListReferencePanelsRequest,
    ListReferencePanelsResponse, ListServicesRequest, ListServicesResponse, ReferencePanel,
};
use fip_proto::user::v1::credential_service_client::CredentialServiceClient;
use fip_proto::user::v1::user_service_client::UserServiceClient;
use fip_proto::user::v1::{
    CredentialType, DeleteServiceCredentialRequest, DeleteServiceCredentialResponse,
    GetCurrentUserRequest, GetCurrentUserResponse, GetServiceCredentialRequest,
    GetServiceCredentialResponse, ListServiceCredentialsRequest, ListServiceCredentialsResponse,
    LoginRequest, LoginResponse, PutServiceCredentialRequest, PutServiceCredentialResponse,
    RegisterRequest, RegisterResponse, ServiceCredential, User,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{GrpcWeb, Rest, from_rest};
use crate::support::TestPlatform;

const PASSWORD: &str = "Correct-Horse-9-Battery";

fn register_request(username: &str) -> RegisterRequest {
    RegisterRequest {
        username: username.into(),
        email: format!("{username}@example.org"),
        password: PASSWORD.into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        institution: "Analytical Engines".into(),
        department: String::new(),
    }
}

fn login_request(username: &str) -> LoginRequest {
    LoginRequest {
        username: username.into(),
        password: PASSWORD.into(),
    }
}

/// The three protocols' clients.
struct Three {
    rest: Rest,
    web: GrpcWeb,
    text: GrpcWeb,
    users: UserServiceClient<tonic::transport::Channel>,
}

impl Three {
    fn new(platform: &TestPlatform) -> Self {
        Self {
            rest: Rest::new(platform),
            web: GrpcWeb::new(platform, false),
            text: GrpcWeb::new(platform, true),
            users: UserServiceClient::new(platform.channel.clone()),
        }
    }

    /// The gRPC-web clients, binary then text.
    fn webs(&self) -> [&GrpcWeb; 2] {
        [&self.web, &self.text]
    }
}

#[tokio::test]
async fn accounts_answer_alike_over_every_protocol() {
    let platform = TestPlatform::start().await;
    let mut three = Three::new(&platform);

    // Register one account per protocol; each answer is the account.
    let by_rest: User = from_rest(
        three
            .rest
            .post(
                "/api/auth/register",
                None,
                json!({"username": "rest_ada", "email": "rest_ada@example.org", "password": PASSWORD,
                       "first_name": "Ada", "last_name": "Lovelace", "institution": "Analytical Engines"}),
            )
            .await
            .ok(),
        "fip.user.v1.User",
    );
    let by_grpc = three
        .users
        .register(register_request("grpc_ada"))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    let by_web: RegisterResponse = three
        .web
        .unary(
            "/fip.user.v1.UserService/Register",
            &register_request("web_ada"),
            None,
        )
        .await
        .unwrap();
    let by_web = by_web.user.unwrap();
    for user in [&by_rest, &by_grpc, &by_web] {
        assert!(user.id > 0);
        assert_eq!(user.roles, by_grpc.roles);
        assert_eq!(user.institution, "Analytical Engines");
        assert!(user.is_active);
    }
    assert_eq!(by_rest.username, "rest_ada");
    assert_eq!(by_web.username, "web_ada");

    // Log in one account over each protocol.
    let rest_login: LoginResponse = from_rest(
        three
            .rest
            .post(
                "/api/auth/login",
                None,
                json!({"username": "grpc_ada", "password": PASSWORD}),
            )
            .await
            .ok(),
        "fip.user.v1.LoginResponse",
    );
    let grpc_login = three
        .users
        .login(login_request("grpc_ada"))
        .await
        .unwrap()
        .into_inner();
    let mut logins = vec![rest_login, grpc_login];
    for web in three.webs() {
        let login: LoginResponse = web
            .unary(
                "/fip.user.v1.UserService/Login",
                &login_request("grpc_ada"),
                None,
            )
            .await
            .unwrap();
        logins.push(login);
    }
    for login in &logins {
        assert_eq!(login.token_type, "bearer");
        assert!(login.expires_in > 0);
        assert_eq!(login.user.as_ref().unwrap().id, by_grpc.id);
    }
    let token = logins[0].access_token.clone();

    // The current user: identical messages.
    let rest_me: User = from_rest(
        three.rest.get("/api/auth/user", Some(&token)).await.ok(),
        "fip.user.v1.User",
    );
    let rest_me_alias: User = from_rest(
        three.rest.get("/api/users/me/", Some(&token)).await.ok(),
        "fip.user.v1.User",
    );
    let grpc_me = three
        .users
        .get_current_user(with_token(GetCurrentUserRequest {}, &token))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(rest_me, grpc_me);
    assert_eq!(rest_me_alias, grpc_me);
    for web in three.webs() {
        let me: GetCurrentUserResponse = web
            .unary(
                "/fip.user.v1.UserService/GetCurrentUser",
                &GetCurrentUserRequest {},
                Some(&token),
            )
            .await
            .unwrap();
        assert_eq!(me.user.unwrap(), grpc_me);
    }
    assert!(grpc_me.last_login.is_some(), "login recorded last_login");
    platform.stop().await;
}

#[tokio::test]
async fn catalog_answers_alike_over_every_protocol() {
    let platform = TestPlatform::start().await;
    let three = Three::new(&platform);
    let token = platform
        .user_token(&[fip_kit::auth::Role::Researcher])
        .await;
    let mut registry = RegistryServiceClient::new(platform.channel.clone());

    let grpc_services = registry
        .list_services(with_token(ListServicesRequest::default(), &token))
        .await
        .unwrap()
        .into_inner()
        .services;
    assert!(!grpc_services.is_empty(), "the catalog is seeded");
    let rest_services: Vec<ImputationService> = three
        .rest
        .get("/api/services", Some(&token))
        .await
        .ok()
        .as_array()
        .expect("a bare array")
        .iter()
        .map(|s| from_rest(s.clone(), "fip.registry.v1.ImputationService"))
        .collect();
    assert_eq!(rest_services, grpc_services);
    for web in three.webs() {
        let list: ListServicesResponse = web
            .unary(
                "/fip.registry.v1.RegistryService/ListServices",
                &ListServicesRequest::default(),
                Some(&token),
            )
            .await
            .unwrap();
        assert_eq!(list.services, grpc_services);
    }

    let id = grpc_services[0].id;
    let grpc_service = registry
        .get_service(with_token(GetServiceRequest { id }, &token))
        .await
        .unwrap()
        .into_inner()
        .service
        .unwrap();
    let rest_service: ImputationService = from_rest(
        three
            .rest
            .get(&format!("/api/services/{id}"), Some(&token))
            .await
            .ok(),
        "fip.registry.v1.ImputationService",
    );
    assert_eq!(rest_service, grpc_service);
    let web_service: GetServiceResponse = three
        .text
        .unary(
            "/fip.registry.v1.RegistryService/GetService",
            &GetServiceRequest { id },
            Some(&token),
        )
        .await
        .unwrap();
    assert_eq!(web_service.service.unwrap(), grpc_service);

    let request = ListReferencePanelsRequest {
        service_id: id,
        ..Default::default()
    };
    let grpc_panels = registry
        .list_reference_panels(with_token(request.clone(), &token))
        .await
        .unwrap()
        .into_inner()
        .reference_panels;
    assert!(!grpc_panels.is_empty(), "the seeded service has panels");
    let rest_panels: Vec<ReferencePanel> = three
        .rest
        .get(
            &format!("/api/services/{id}/reference-panels"),
            Some(&token),
        )
        .await
        .ok()
        .as_array()
        .expect("a bare array")
        .iter()
        .map(|p| from_rest(p.clone(), "fip.registry.v1.ReferencePanel"))
        .collect();
    assert_eq!(rest_panels, grpc_panels);
    let filtered = three
        .rest
        .get(
            &format!("/api/reference-panels?service_id={id}"),
            Some(&token),
        )
        .await
        .ok();
    assert_eq!(filtered.as_array().unwrap().len(), grpc_panels.len());
    let web_panels: ListReferencePanelsResponse = three
        .web
        .unary(
            "/fip.registry.v1.RegistryService/ListReferencePanels",
            &request,
            Some(&token),
        )
        .await
        .unwrap();
    assert_eq!(web_panels.reference_panels, grpc_panels);

    // Platform health is public on every protocol and says the same.
    let mut monitor = MonitorServiceClient::new(platform.channel.clone());
    let grpc_health = monitor
        .get_health(GetHealthRequest::default())
        .await
        .unwrap()
        .into_inner();
    let rest_health = three.rest.get("/api/monitoring/health", None).await.ok();
    let rest_health: GetHealthResponse = from_rest(rest_health, "fip.monitor.v1.GetHealthResponse");
    let web_health: GetHealthResponse = three
        .web
        .unary(
            "/fip.monitor.v1.MonitorService/GetHealth",
            &GetHealthRequest::default(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(rest_health.status, grpc_health.status);
    assert_eq!(web_health.status, grpc_health.status);
    let names = |h: &GetHealthResponse| {
        h.components
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&rest_health), names(&grpc_health));
    platform.stop().await;
}

#[tokio::test]
async fn credentials_answer_alike_over_every_protocol() {
    let platform = TestPlatform::start().await;
    let three = Three::new(&platform);
    let mut users = three.users.clone();
    users.register(register_request("vault_ada")).await.unwrap();
    let token = users
        .login(login_request("vault_ada"))
        .await
        .unwrap()
        .into_inner()
        .access_token;
    let mut vault = CredentialServiceClient::new(platform.channel.clone());
    let mut registry = RegistryServiceClient::new(platform.channel.clone());
    let services = registry
        .list_services(with_token(ListServicesRequest::default(), &token))
        .await
        .unwrap()
        .into_inner()
        .services;
    let michigan_like: Vec<i64> = services
        .iter()
        .filter(|s| s.api_type == fip_proto::registry::v1::ApiType::Michigan as i32)
        .map(|s| s.id)
        .collect();
    assert!(michigan_like.len() >= 3, "{services:?}");
    let (a, b, c) = (michigan_like[0], michigan_like[1], michigan_like[2]);

    // One credential stored per protocol.
    let rest_put: ServiceCredential = from_rest(
        three
            .rest
            .post(
                "/api/users/me/service-credentials",
                Some(&token),
                json!({"service_id": a, "credential_type": "api_token", "api_token": "secret-a-1234", "label": "rest"}),
            )
            .await
            .ok(),
        "fip.user.v1.ServiceCredential",
    );
    let grpc_put = vault
        .put_service_credential(with_token(
            PutServiceCredentialRequest {
                service_id: b,
                credential_type: CredentialType::ApiToken as i32,
                api_token: "secret-b-1234".into(),
                label: "grpc".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .credential
        .unwrap();
    let web_put: PutServiceCredentialResponse = three
        .web
        .unary(
            "/fip.user.v1.CredentialService/PutServiceCredential",
            &PutServiceCredentialRequest {
                service_id: c,
                credential_type: CredentialType::ApiToken as i32,
                api_token: "secret-c-1234".into(),
                label: "web".into(),
                ..Default::default()
            },
            Some(&token),
        )
        .await
        .unwrap();
    let web_put = web_put.credential.unwrap();
    for (credential, service) in [(&rest_put, a), (&grpc_put, b), (&web_put, c)] {
        assert_eq!(credential.service_id, service);
        assert!(credential.has_api_token);
        assert_eq!(credential.credential_type, CredentialType::ApiToken as i32);
    }

    // Listing and getting agree, and no secret travels back.
    let grpc_list = vault
        .list_service_credentials(with_token(ListServiceCredentialsRequest {}, &token))
        .await
        .unwrap()
        .into_inner()
        .credentials;
    assert_eq!(grpc_list.len(), 3);
    let rest_list = three
        .rest
        .get("/api/users/me/service-credentials", Some(&token))
        .await
        .ok();
    assert!(!rest_list.to_string().contains("secret-"), "{rest_list}");
    let rest_list: Vec<ServiceCredential> = rest_list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| from_rest(c.clone(), "fip.user.v1.ServiceCredential"))
        .collect();
    assert_eq!(rest_list, grpc_list);
    for web in three.webs() {
        let list: ListServiceCredentialsResponse = web
            .unary(
                "/fip.user.v1.CredentialService/ListServiceCredentials",
                &ListServiceCredentialsRequest {},
                Some(&token),
            )
            .await
            .unwrap();
        assert_eq!(list.credentials, grpc_list);
        let one: GetServiceCredentialResponse = web
            .unary(
                "/fip.user.v1.CredentialService/GetServiceCredential",
                &GetServiceCredentialRequest { service_id: a },
                Some(&token),
            )
            .await
            .unwrap();
        assert_eq!(one.credential.unwrap().label, "rest");
    }
    let rest_one: ServiceCredential = from_rest(
        three
            .rest
            .get(
                &format!("/api/users/me/service-credentials/{b}"),
                Some(&token),
            )
            .await
            .ok(),
        "fip.user.v1.ServiceCredential",
    );
    assert_eq!(rest_one, grpc_put);

    // Deleting over each protocol.
    let deleted = three
        .rest
        .call(
            Method::DELETE,
            &format!("/api/users/me/service-credentials/{a}/"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.json, json!({}));
    vault
        .delete_service_credential(with_token(
            DeleteServiceCredentialRequest { service_id: b },
            &token,
        ))
        .await
        .unwrap();
    let _: DeleteServiceCredentialResponse = three
        .text
        .unary(
            "/fip.user.v1.CredentialService/DeleteServiceCredential",
            &DeleteServiceCredentialRequest { service_id: c },
            Some(&token),
        )
        .await
        .unwrap();
    let gone = three
        .rest
        .get(
            &format!("/api/users/me/service-credentials/{a}"),
            Some(&token),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.json["error"], "NOT_FOUND");
    let grpc_gone = vault
        .get_service_credential(with_token(
            GetServiceCredentialRequest { service_id: b },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(grpc_gone.code(), tonic::Code::NotFound);
    let web_gone = three
        .web
        .unary::<_, GetServiceCredentialResponse>(
            "/fip.user.v1.CredentialService/GetServiceCredential",
            &GetServiceCredentialRequest { service_id: c },
            Some(&token),
        )
        .await
        .unwrap_err();
    assert_eq!(web_gone.code, tonic::Code::NotFound);
    let list: Value = three
        .rest
        .get("/api/users/me/service-credentials", Some(&token))
        .await
        .ok();
    assert_eq!(list, json!([]));
    platform.stop().await;
}

/// Runs `buf curl --protocol grpcweb` (HTTP/1.1, schema from the gateway's
/// reflection) and returns its JSON answer.
async fn buf_grpc_web(
    platform: &TestPlatform,
    method: &str,
    body: Value,
    token: Option<&str>,
) -> Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let buf = root.join("tools/node_modules/.bin/buf");
    assert!(
        buf.exists(),
        "buf is not installed: run scripts/install-tools (scripts/test does)"
    );
    let mut command = tokio::process::Command::new(buf);
    command.args(["curl", "--protocol", "grpcweb", "-d", &body.to_string()]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let url = format!("{}/{method}", super::base(platform));
    let output = command.arg(url).output().await.expect("buf runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("buf prints JSON")
}

#[tokio::test]
async fn a_stock_grpc_web_client_gets_the_same_answers() {
    let platform = TestPlatform::start().await;
    let mut users = UserServiceClient::new(platform.channel.clone());
    let registered = buf_grpc_web(
        &platform,
        "fip.user.v1.UserService/Register",
        json!({"username": "buf_ada", "email": "buf_ada@example.org", "password": PASSWORD,
               "first_name": "Ada", "last_name": "Lovelace"}),
        None,
    )
    .await;
    let login = users
        .login(login_request("buf_ada"))
        .await
        .unwrap()
        .into_inner();
    let user = login.user.unwrap();
    assert_eq!(registered["user"]["id"], user.id.to_string());
    let me = buf_grpc_web(
        &platform,
        "fip.user.v1.UserService/GetCurrentUser",
        json!({}),
        Some(&login.access_token),
    )
    .await;
    assert_eq!(me["user"]["username"], "buf_ada");
    assert_eq!(me["user"]["email"], user.email);
    assert_eq!(me["user"]["roles"], json!(["ROLE_RESEARCHER"]));
    platform.stop().await;
}
