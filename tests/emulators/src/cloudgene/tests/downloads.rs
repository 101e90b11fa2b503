//! Share links: anonymous, counted.

use serde_json::Value;

use super::*;

#[tokio::test]
async fn downloads_are_counted_and_then_refused() {
    let (server, client) = started().await;
    server.set_max_downloads(2);
    let id = client
        .submit_ok(bgzf_files(&default_vcf()), &fields("p"))
        .await;
    server.run_to_end(&id);
    let job = client.get_json(&format!("/api/v2/jobs/{id}")).await;
    let file = &job["outputParams"][0]["files"][0];
    assert_eq!(file["count"], 2);
    assert!(
        file["size"].as_str().unwrap().ends_with("KB")
            || file["size"].as_str().unwrap().ends_with("bytes")
    );
    let url = client.url(&format!(
        "/share/results/{}/{}",
        file["hash"].as_str().unwrap(),
        file["name"].as_str().unwrap()
    ));
    let anonymous = reqwest::Client::new();
    for _ in 0..2 {
        let response = anonymous.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/zip");
    }
    let refused = anonymous.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"success": false, "message": "number of max downloads exceeded."})
    );
    assert_eq!(
        client.get_json(&format!("/api/v2/jobs/{id}")).await["outputParams"][0]["files"][0]["count"],
        0
    );

    // Nested names work as they are listed; an unknown hash is 404.
    let nested = job["outputParams"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "statistics/snps-excluded.txt")
        .unwrap()
        .clone();
    let response = anonymous
        .get(client.url(&format!(
            "/share/results/{}/statistics/snps-excluded.txt",
            nested["hash"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().starts_with("#Position"));
    let unknown = anonymous
        .get(client.url("/share/results/0000/chr_20.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["message"],
        "download not found."
    );
    server.stop().await;
}
