//! `POST /api/v2/tokens/verify` (`ApiTokenController.verify`): anonymous,
//! always 200, `valid` tells.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::super::state::TokenKind;
use super::super::{Shared, format_date, now_millis, reply};

pub(crate) async fn verify(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(token) = form.get("token") else {
        return reply::error(
            StatusCode::BAD_REQUEST,
            "Required argument [String token] not specified",
        );
    };
    let now = now_millis();
    let state = shared.lock();
    let valid = state.tokens.get(token).and_then(|record| {
        let user = state.users.get(&record.username)?;
        let live = record.kind == TokenKind::Api
            && record.expires_at > now
            && user.api_token.as_deref() == Some(token.as_str());
        live.then_some((user, record.expires_at))
    });
    match valid {
        Some((user, expires_at)) => reply::ok(json!({
            "valid": true,
            "message": format!("API Token was created by {} and is valid.", user.username),
            "username": user.username,
            "name": user.full_name,
            "mail": user.mail,
            "expire": format_date(expires_at),
        })),
        // The response object's `expire` defaults to the time of the answer.
        None => reply::ok(json!({
            "valid": false,
            "message": "Invalid API Token.",
            "username": null,
            "name": null,
            "mail": null,
            "expire": format_date(now),
        })),
    }
}
