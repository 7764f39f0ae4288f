//! `GET /_fake/redirect?to=<url>[&status=302]`: a web page that sends its visitor elsewhere, so
//! tests can check that the server re-checks every redirect hop of an input URL.

use axum::extract::Query;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Deserialize)]
pub(crate) struct Target {
    to: String,
    status: Option<u16>,
}

pub(crate) async fn redirect(Query(target): Query<Target>) -> Response {
    let status = target
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .filter(StatusCode::is_redirection)
        .unwrap_or(StatusCode::FOUND);
    (status, [(header::LOCATION, target.to)]).into_response()
}
