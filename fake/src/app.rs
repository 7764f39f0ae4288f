//! The axum router: every route of the fake, the request gate around them, and body limits.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{delete, get, post};

use crate::state::AppState;
use crate::types::Catalogue;
use crate::{
    account, agent_auth, audio, chat, control, embeddings, gate, images, models, oauth, redirect,
    videos,
};

/// Image edits, transcriptions and vision data URIs can be large.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

pub(crate) fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/models", get(models::list))
        .route("/models/{*id}", get(models::get))
        .route("/chat/completions", post(chat::completions))
        .route("/embeddings", post(embeddings::create))
        .route("/images/generations", post(images::generations))
        .route("/images/edits", post(images::edits))
        .route("/images/variations", post(images::variations))
        .route("/audio/speech", post(audio::speech))
        .route("/audio/transcriptions", post(audio::transcriptions))
        .route("/videos", post(videos::create))
        .route("/videos/{id}", get(videos::retrieve))
        .route("/videos/{id}/status", get(videos::status))
        .route("/videos/{id}/content", get(videos::content))
        .route("/videos/{id}/remix", post(videos::remix));

    let control = Router::new()
        .route("/token", post(control::token))
        .route(
            "/faults",
            post(control::add_fault).delete(control::clear_faults),
        )
        .route("/expire_tokens", post(control::expire_tokens))
        .route("/budget", post(control::budget))
        .route("/consent", post(control::consent))
        .route("/stream", post(control::stream))
        .route("/stats", get(control::stats))
        .route("/device_user", post(control::device_user))
        .route("/agent_auth", get(control::agent_auth_stats))
        .route("/requests", get(control::requests))
        .route("/files/{name}", get(control::file))
        .route("/redirect", get(redirect::redirect));

    let router = match state.config.catalogue {
        Catalogue::Live => Router::new()
            .nest("/v1", api.clone())
            .nest("/apikey/v1", api.clone())
            .nest("/oauth2/v1", api),
        Catalogue::Seed => Router::new().nest("/oauth2/v1", api),
    };
    router
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth::metadata),
        )
        .route("/oauth2/authorize", get(oauth::authorize))
        .route("/oauth2/token", post(oauth::token))
        .route("/oauth2/revoke", post(oauth::revoke))
        .route("/oauth2/userinfo", get(account::userinfo))
        .route("/api/v1/usage/me/summary", get(account::usage_summary))
        .route("/api/v1/agent-auth/device", post(agent_auth::device))
        .route("/api/v1/agent-auth/token", post(agent_auth::token))
        .route("/device", get(agent_auth::approval_page))
        .route("/api/v1/agent-control/context", get(agent_auth::context))
        .route(
            "/api/v1/agent-control/oauth-clients/ensure",
            post(agent_auth::ensure),
        )
        .route(
            "/api/v1/agent-control/session",
            delete(agent_auth::revoke_session),
        )
        .nest("/_fake", control)
        .fallback(control::not_found)
        .method_not_allowed_fallback(control::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), gate::gate))
        .with_state(state)
}
