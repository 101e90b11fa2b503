//! The `fip` binary as an operator runs it: `fip server --dev` comes up,
//! prints where it serves, answers health checks, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn dev_server_starts_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fip"))
        .args(["server", "--dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("FIP_DATABASE_URL")
        .env_remove("FIP_REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("fip starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    let url = loop {
        let line = lines
            .next()
            .expect("fip printed its URLs before exiting")
            .unwrap();
        banner.push(line.clone());
        if let Some(rest) = line.trim().strip_prefix("gateway") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    assert!(banner[0].starts_with("fip is up in"), "{banner:?}");
    // The banner is printed once the gateway sees every service serving.
    let channel = tonic::transport::Endpoint::from_shared(url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let reply = health
        .check(HealthCheckRequest {
            service: "fip.jobs.v1.JobService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.status, ServingStatus::Serving as i32);
    assert!(dir.path().join("keys/user-token.pem").exists());

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "fip exited with {status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l == "fip stopped"), "{rest:?}");
}

#[test]
fn bad_configuration_is_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_fip"))
        .args(["server", "--dev", "--data-dir"])
        .arg(dir.path())
        .env("FIP_AUTH__TOKEN_TTL", "forever")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("auth.token_ttl"), "{stderr}");
    assert!(stderr.contains("FIP_AUTH__TOKEN_TTL"), "{stderr}");
}
