//! The signed-in user: profile (`/oauth2/userinfo`) and budget (`/api/v1/usage/me/summary`).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::caller::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

pub(crate) async fn userinfo(caller: Caller) -> ApiResult<Json<Value>> {
    caller.summarize(json!({}));
    caller.require_scope("profile:read")?;
    Ok(Json(json!({
        "sub": "user_demo",
        "email": "demo@example.com",
        "name": "Demo User",
    })))
}

fn round6(x: f64) -> f64 {
    (x * 1_000_000.0).round() / 1_000_000.0
}

pub(crate) async fn usage_summary(State(state): State<AppState>, caller: Caller) -> Json<Value> {
    caller.summarize(json!({}));
    let budget = state.budget.lock().unwrap();
    let (total, max, remaining) = budget.summary();
    let limit = |usd: f64| (!budget.is_unlimited()).then(|| round6(usd));
    Json(json!({
        "success": true,
        "data": {
            "totalCost": round6(total),
            "maxBudget": limit(max),
            "remainingBudget": limit(remaining),
        }
    }))
}
