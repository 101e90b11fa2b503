//! A client written only from the original REST surface
//! (`reference/rest-api.md`): its URLs and JSON, nothing else.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::Rest;
use crate::support::TestPlatform;

fn has_fields(object: &Value, fields: &[&str]) {
    for field in fields {
        assert!(
            object.get(field).is_some(),
            "`{field}` is missing from {object:#}"
        );
    }
}

#[tokio::test]
async fn a_client_of_the_original_rest_surface_works_unchanged() {
    let platform = TestPlatform::start().await;
    let api = Rest::new(&platform);

    let registered = api
        .post(
            "/api/auth/register",
            None,
            json!({"username": "seeduser", "email": "seed@example.org", "password": "Seed-Password-42",
                   "first_name": "Grace", "last_name": "Hopper", "institution": "Navy"}),
        )
        .await
        .ok();
    assert_eq!(registered["username"], "seeduser");

    let login = api
        .post(
            "/api/auth/login/",
            None,
            json!({"username": "seeduser", "password": "Seed-Password-42"}),
        )
        .await
        .ok();
    has_fields(
        &login,
        &["access_token", "token_type", "expires_in", "user"],
    );
    assert_eq!(login["token_type"], "bearer");
    assert!(login["expires_in"].is_u64(), "expires_in is a number");
    let user = &login["user"];
    has_fields(
        user,
        &[
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "is_active",
            "roles",
            "date_joined",
            "last_login",
        ],
    );
    assert!(user["id"].is_u64(), "ids are numbers");
    assert_eq!(user["roles"], json!(["researcher"]));
    let token = login["access_token"].as_str().unwrap().to_string();
    let token = Some(token.as_str());

    let me = api.get("/api/auth/user", token).await.ok();
    assert_eq!(me["id"], user["id"]);
    assert_eq!(me["email"], "seed@example.org");

    let services = api.get("/api/services", token).await.ok();
    let services = services.as_array().expect("a bare array of services");
    assert!(!services.is_empty());
    for service in services {
        has_fields(
            service,
            &[
                "id",
                "name",
                "slug",
                "api_type",
                "base_url",
                "is_available",
                "health_status",
                "location_country",
                "supported_builds",
            ],
        );
        assert!(service["id"].is_u64());
    }
    let h3africa = services
        .iter()
        .find(|s| s["api_type"] == "michigan")
        .expect("a Michigan-type service");
    let service_id = h3africa["id"].as_i64().unwrap();
    let one = api
        .get(&format!("/api/services/{service_id}/"), token)
        .await
        .ok();
    assert_eq!(one["slug"], h3africa["slug"]);
    let health = api
        .get(&format!("/api/services/{service_id}/health"), token)
        .await;
    assert_eq!(health.status, StatusCode::OK, "{:#}", health.json);

    let panels = api
        .get(
            &format!("/api/services/{service_id}/reference-panels"),
            token,
        )
        .await
        .ok();
    let panels = panels.as_array().expect("a bare array of panels");
    assert!(!panels.is_empty());
    for panel in panels {
        has_fields(
            panel,
            &["id", "name", "slug", "service_id", "build", "populations"],
        );
        assert_eq!(panel["service_id"], service_id);
    }
    let all_panels = api.get("/api/reference-panels", token).await.ok();
    assert!(all_panels.as_array().unwrap().len() >= panels.len());
    let panel_id = panels[0]["id"].as_i64().unwrap();
    let panel = api
        .get(&format!("/api/reference-panels/{panel_id}"), token)
        .await
        .ok();
    assert_eq!(panel["id"], panel_id);

    // Credentials: stored, listed and read back without any secret.
    let stored = api
        .post(
            "/api/users/me/service-credentials",
            token,
            json!({"service_id": service_id, "credential_type": "api_token",
                   "api_token": "eyJ-very-secret-token", "label": "My H3Africa token"}),
        )
        .await
        .ok();
    let credential_fields = [
        "id",
        "service_id",
        "credential_type",
        "label",
        "is_active",
        "is_verified",
        "last_verified_at",
        "last_used_at",
        "verification_error",
        "created_at",
        "updated_at",
        "has_api_token",
        "has_basic_auth",
        "has_oauth_token",
    ];
    has_fields(&stored, &credential_fields);
    assert_eq!(stored["credential_type"], "api_token");
    assert_eq!(stored["has_api_token"], true);
    assert_eq!(stored["has_basic_auth"], false);
    assert_eq!(stored["is_verified"], false);
    let listed = api
        .get("/api/users/me/service-credentials", token)
        .await
        .ok();
    assert!(!listed.to_string().contains("very-secret"), "{listed}");
    assert_eq!(listed.as_array().unwrap().len(), 1);
    has_fields(&listed[0], &credential_fields);
    let read = api
        .get(
            &format!("/api/users/me/service-credentials/{service_id}"),
            token,
        )
        .await
        .ok();
    assert_eq!(read["label"], "My H3Africa token");
    let deleted = api
        .call(
            reqwest::Method::DELETE,
            &format!("/api/users/me/service-credentials/{service_id}"),
            token,
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    let listed = api
        .get("/api/users/me/service-credentials", token)
        .await
        .ok();
    assert_eq!(listed, json!([]));

    let health = api.get("/api/monitoring/health", None).await.ok();
    has_fields(&health, &["status", "components"]);

    // A bad login is the original's 401 with a readable message.
    let refused = api
        .post(
            "/api/auth/login",
            None,
            json!({"username": "seeduser", "password": "wrong-password"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    has_fields(&refused.json, &["error", "message"]);
    assert_eq!(refused.json["error"], "LOGIN_FAILED");
    platform.stop().await;
}
