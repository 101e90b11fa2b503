//! Tokens, ownership and maintenance.

use serde_json::Value;

use super::*;

#[tokio::test]
async fn verify_tells_valid_from_invalid_tokens() {
    let (server, client) = started().await;
    let verify = |token: String| {
        let http = client.http.clone();
        let url = client.url("/api/v2/tokens/verify");
        async move {
            let response = http
                .post(url)
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let valid = verify(client.token.clone()).await;
    assert_eq!(valid["valid"], true);
    assert_eq!(valid["username"], "alice");
    assert_eq!(
        valid["message"],
        "API Token was created by alice and is valid."
    );
    assert!(valid["expire"].as_str().unwrap().ends_with("+00:00"));
    let invalid = verify("nonsense".into()).await;
    assert_eq!(invalid["valid"], false);
    assert_eq!(invalid["message"], "Invalid API Token.");
    // A new token replaces the old one.
    let newer = server.issue_token("alice");
    assert_eq!(verify(client.token.clone()).await["valid"], false);
    assert_eq!(verify(newer.clone()).await["valid"], true);
    server.expire_token(&newer);
    assert_eq!(verify(newer).await["valid"], false);
    server.stop().await;
}

#[tokio::test]
async fn callers_are_told_apart() {
    let (server, alice) = started().await;
    let id = alice
        .submit_ok(bgzf_files(&default_vcf()), &fields("p"))
        .await;

    let anonymous = Client::new(&server, "");
    let no_header = anonymous
        .http
        .get(anonymous.url(&format!("/api/v2/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(no_header.status(), 401);
    assert_eq!(no_header.content_length(), Some(0));
    let bearer = alice
        .http
        .get(alice.url(&format!("/api/v2/jobs/{id}")))
        .header("Authorization", format!("Bearer {}", alice.token))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 401, "only X-Auth-Token counts");

    let bob = Client::new(&server, &server.issue_token("bob"));
    let foreign = bob.get(&format!("/api/v2/jobs/{id}")).await;
    assert_eq!(foreign.status(), 403);
    let body: Value = foreign.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"success": false, "message": "Access denied."})
    );
    assert_eq!(
        bob.get(&format!("/api/v2/jobs/{id}/cancel")).await.status(),
        403
    );

    let missing = alice.get("/api/v2/jobs/job-20000101-000000-000").await;
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["message"], "Job job-20000101-000000-000 not found.");

    // DELETE wants a web-login token.
    let delete = alice
        .http
        .delete(alice.url(&format!("/api/v2/jobs/{id}")))
        .header("X-Auth-Token", &alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 403);
    let web = server.issue_web_token("alice");
    let delete = alice
        .http
        .delete(alice.url(&format!("/api/v2/jobs/{id}")))
        .header("X-Auth-Token", &web)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 200);
    assert_eq!(delete.json::<Value>().await.unwrap()["state"], 10);
    assert_eq!(alice.get_json("/api/v2/jobs").await["count"], 0);

    // Only the status polls of the owner advanced the job: none did.
    assert_eq!(server.job(&id).unwrap().polls, 0);
    server.stop().await;
}

#[tokio::test]
async fn a_token_expiring_or_revoked_mid_job() {
    let (server, client) = started().await;
    let id = client
        .submit_ok(bgzf_files(&default_vcf()), &fields("p"))
        .await;
    assert_eq!(
        client.get(&format!("/api/v2/jobs/{id}")).await.status(),
        200
    );
    server.expire_token(&client.token);
    assert_eq!(
        client.get(&format!("/api/v2/jobs/{id}")).await.status(),
        401
    );
    let fresh = Client::new(&server, &server.issue_token("alice"));
    assert_eq!(fresh.get(&format!("/api/v2/jobs/{id}")).await.status(), 200);
    server.revoke_token(&fresh.token);
    let revoked = fresh.get(&format!("/api/v2/jobs/{id}")).await;
    assert_eq!(revoked.status(), 403);
    assert_eq!(revoked.content_length(), Some(0));
    // The server's own page still answers, for a revoked token with 403.
    assert_eq!(fresh.get("/api/v2/server").await.status(), 403);
    server.stop().await;
}

#[tokio::test]
async fn server_details_and_app_parameters() {
    let (server, client) = started().await;
    let anonymous = Client::new(&server, "unknown-token");
    let details = anonymous.get_json("/api/v2/server").await;
    assert_eq!(details["loggedIn"], false);
    assert_eq!(details["apps"], serde_json::json!([]));
    assert_eq!(details["maintenace"], false);
    assert_eq!(
        anonymous
            .get("/api/v2/server/apps/imputationserver2")
            .await
            .status(),
        404
    );

    let details = client.get_json("/api/v2/server").await;
    assert_eq!(details["loggedIn"], true);
    assert_eq!(details["user"]["username"], "alice");
    assert_eq!(details["apps"][0]["id"], "imputationserver2");

    let app = client
        .get_json("/api/v2/server/apps/imputationserver2")
        .await;
    assert_eq!(app["version"], "2.0.7");
    let params = app["params"].as_array().unwrap();
    let param = |id: &str| params.iter().find(|p| p["id"] == id).unwrap().clone();
    let panels: Vec<&str> = params[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["key"].as_str().unwrap())
        .collect();
    assert_eq!(param("refpanel")["type"], "app_list");
    assert_eq!(
        panels,
        [
            "apps@1000g-phase-3-v5@2.0.0",
            "apps@h3africa-v6hc-s@1.0.0",
            "apps@hapmap-2@2.0.0"
        ]
    );
    let population = param("population");
    assert_eq!(population["type"], "binded_list");
    assert_eq!(population["bind"], "refpanel");
    assert_eq!(population["values"][1]["key"], "apps@h3africa-v6hc-s@1.0.0");
    assert_eq!(population["values"][1]["values"][0]["key"], "afr");
    assert!(
        params.iter().all(|p| p["id"] != "password"),
        "password is not visible"
    );
    assert_eq!(
        client.get("/api/v2/server/apps/minimac4").await.status(),
        404
    );

    server.set_maintenance(true);
    let details = client.get_json("/api/v2/server").await;
    assert_eq!(details["maintenace"], true);
    assert!(details["maintenaceMessage"].is_string());
    for path in [
        "/api/v2/jobs",
        "/api/v2/server/apps/imputationserver2",
        "/api/v2/jobs/x/status",
    ] {
        let response = client.get(path).await;
        assert_eq!(response.status(), 503, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["message"],
            "This functionality is currently under maintenance."
        );
    }
    let submit = client
        .submit(bgzf_files(&default_vcf()), &fields("p"))
        .await;
    assert_eq!(submit.status(), 503);
    server.set_admin("alice", true);
    assert_eq!(client.get("/api/v2/jobs").await.status(), 200);
    server.stop().await;
}
