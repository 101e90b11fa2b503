//! The web UI's static assets, from the configured directory. Paths that
//! name no file get `index.html`, so that the UI's client-side routes load.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::Request;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// A directory of assets with an `index.html` fallback.
#[derive(Clone)]
pub struct Web {
    dir: PathBuf,
}

impl Web {
    /// `None` (and a warning) when the directory does not exist.
    pub fn new(dir: &Path) -> Option<Self> {
        if dir.is_dir() {
            Some(Self {
                dir: dir.to_path_buf(),
            })
        } else {
            tracing::warn!(dir = %dir.display(), "the web UI directory does not exist: not serving it");
            None
        }
    }

    pub async fn serve(&self, request: Request<Body>) -> Response {
        let service = ServeDir::new(&self.dir)
            .append_index_html_on_directories(true)
            .fallback(ServeFile::new(self.dir.join("index.html")));
        match service.oneshot(request).await {
            Ok(response) => response.map(Body::new).into_response(),
            Err(never) => match never {},
        }
    }
}
