//! A real SMTP server for the email tests: `scripts/smtp-sink` (aiosmtpd,
//! installed into tools/python/venv by scripts/install-test-tools) on
//! 127.0.0.1, writing each message it accepts where the test reads it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

/// How long a test waits for mail that should come at once (the sender
/// polls every few milliseconds in tests).
pub const MAIL_WAIT: Duration = Duration::from_secs(30);

pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: tokio::process::Child,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A port nothing listens on right now (for a server started later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SmtpSink {
    /// Starts the server on `port` (0: any), refusing `reject` with 550.
    pub async fn start(port: u16, reject: &[&str]) -> Self {
        let python = root().join("tools/python/venv/bin/python");
        assert!(
            python.is_file(),
            "{} is missing: run scripts/install-test-tools",
            python.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let mut command = tokio::process::Command::new(python);
        command
            .arg(root().join("scripts/smtp-sink"))
            .arg("--dir")
            .arg(dir.path())
            .arg("--port")
            .arg(port.to_string())
            .arg("--max-seconds")
            .arg("600");
        for address in reject {
            command.arg("--reject").arg(address);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("scripts/smtp-sink starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(MAIL_WAIT, lines.next_line())
            .await
            .expect("the SMTP sink gets ready")
            .unwrap()
            .expect("the SMTP sink says where it listens");
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Self { port, dir, child }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The decoded messages received so far, in order.
    pub fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    /// Waits until at least `n` messages arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + MAIL_WAIT;
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{n} mails expected, {} arrived",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The recipients refused with 550 so far, one per attempt.
    pub fn rejected(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("rejected.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub async fn stop(mut self) {
        self.child.kill().await.ok();
    }
}

/// A header of a decoded message.
pub fn header<'a>(message: &'a Value, name: &str) -> &'a str {
    message["headers"][name].as_str().unwrap_or_default()
}
