//! Settings of the HTTP client shared by every backend.

use std::time::Duration;

use reqwest::redirect;

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 10;

/// How the platform calls external servers (the `external` configuration
/// section of `fip-kit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    /// Limit of a whole request: connecting, sending and reading the answer.
    pub request_timeout: Duration,
    /// Limit of establishing a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// `User-Agent` sent with every request.
    pub user_agent: String,
    /// Directories a WES node shares with the hub: `file://` outputs are
    /// read only under these.
    pub wes_shared_dirs: Vec<std::path::PathBuf>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            user_agent: format!("fip/{}", env!("CARGO_PKG_VERSION")),
            wes_shared_dirs: Vec::new(),
        }
    }
}

impl HttpSettings {
    /// Builds the client every backend shares: pooled connections, these
    /// timeouts and user agent, rustls.
    ///
    /// Redirects are followed (at most ten) only within the host of the
    /// request: Cloudgene sends its token in `X-Auth-Token`, a header that
    /// reqwest, unlike `Authorization`, would forward to another host. A
    /// redirect elsewhere is answered as a protocol error instead.
    pub fn build_client(&self) -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder()
            .timeout(self.request_timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent.clone())
            .pool_idle_timeout(Duration::from_secs(90))
            .redirect(same_host_redirects())
            .build()
    }
}

fn same_host_redirects() -> redirect::Policy {
    redirect::Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error("too many redirects");
        }
        let same_host = attempt
            .previous()
            .first()
            .is_some_and(|first| first.host_str() == attempt.url().host_str());
        if same_host {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}
