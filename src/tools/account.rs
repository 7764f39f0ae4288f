//! `balance` (the budget, used and remaining, cached a few minutes as the API asks) and
//! `whoami` (the signed-in user).

use crate::error::ErrorCode;
use std::time::{Duration, Instant};

use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::call::{Call, CallScope};
use super::{ToolError, ToolResult, args, input_schema, output_schema, success};
use crate::api::ApiError;
use crate::state::AipassServer;

/// How long a balance is shown without asking the API again.
pub const BALANCE_TTL: Duration = Duration::from_secs(300);

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct BalanceArgs {
    /// Ask AI Pass now instead of using the figure from the last 5 minutes.
    #[serde(default, deserialize_with = "args::opt_bool")]
    pub refresh: Option<bool>,
}

#[derive(Serialize, JsonSchema, Clone, Copy, Debug)]
pub struct BalanceOutput {
    /// Spent so far, in USD.
    pub total_cost: f64,
    /// The account's budget, in USD; absent when the account has no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_budget: Option<f64>,
    /// What is left, in USD; absent when the account has no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_budget: Option<f64>,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct WhoamiArgs {}

#[derive(Serialize, JsonSchema)]
pub struct WhoamiOutput {
    /// The user's stable id.
    pub sub: String,
    /// Email address, when shared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Display name, when shared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[tool_router(router = account_router, vis = "pub(crate)")]
impl AipassServer {
    #[tool(
        name = "balance",
        description = "Show the AI Pass budget: spent, total and remaining, in USD. Cached for 5 minutes unless refresh is true. Free.",
        input_schema = input_schema::<BalanceArgs>(),
        output_schema = output_schema::<BalanceOutput>(),
        meta = crate::ui::shown_in_view(),
        annotations(title = "Budget and balance", read_only_hint = true, open_world_hint = true)
    )]
    async fn balance(&self, call: Call) -> CallToolResult {
        self.run(call, Self::balance_impl).await
    }

    #[tool(
        name = "whoami",
        description = "Show the signed-in AI Pass user (id, email, name). Needs the profile:read scope. Free.",
        input_schema = input_schema::<WhoamiArgs>(),
        output_schema = output_schema::<WhoamiOutput>(),
        annotations(title = "Signed-in user", read_only_hint = true, open_world_hint = true)
    )]
    async fn whoami(&self, call: Call) -> CallToolResult {
        self.run(call, Self::whoami_impl).await
    }
}

impl AipassServer {
    async fn whoami_impl(&self, _: WhoamiArgs, _call: CallScope) -> ToolResult<CallToolResult> {
        let user = match self.state.api.userinfo().await {
            Ok(user) => user,
            Err(ApiError::Upstream { status: 403, .. }) => {
                return Err(ToolError {
                    code: ErrorCode::AuthRequired,
                    message:
                        "this sign-in did not grant the profile:read scope, so AI Pass will not \
                              share the user's profile; sign in again with AIPASS_SCOPES including \
                              profile:read"
                            .into(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let field = |name: &str| user.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let output = WhoamiOutput {
            sub: field("sub").unwrap_or_default(),
            email: field("email"),
            name: field("name"),
        };
        let text = format!(
            "Signed in to AI Pass as {}{}",
            output.name.as_deref().unwrap_or(&output.sub),
            output
                .email
                .as_deref()
                .map(|e| format!(" <{e}>"))
                .unwrap_or_default()
        );
        Ok(success(text, &output, Vec::new()))
    }

    async fn balance_impl(
        &self,
        args: BalanceArgs,
        _call: CallScope,
    ) -> ToolResult<CallToolResult> {
        let mut cached = self.state.balance.lock().await;
        let fresh = cached
            .as_ref()
            .filter(|(at, _)| !args.refresh.unwrap_or(false) && at.elapsed() < BALANCE_TTL)
            .map(|(_, summary)| summary.clone());
        let summary = match fresh {
            Some(summary) => summary,
            None => {
                let summary = self.state.api.usage_summary().await?;
                *cached = Some((Instant::now(), summary.clone()));
                summary
            }
        };
        let balance = BalanceOutput {
            total_cost: summary.total_cost,
            max_budget: summary.max_budget,
            remaining_budget: summary.remaining_budget,
        };
        let text = match (balance.remaining_budget, balance.max_budget) {
            (Some(left), Some(max)) => format!(
                "AI Pass budget: ${left:.2} left of ${max:.2} (${:.2} spent).",
                balance.total_cost
            ),
            // `maxBudget: null` is "no limit", not an error.
            _ => format!(
                "AI Pass budget: no limit (${:.2} spent).",
                balance.total_cost
            ),
        };
        Ok(success(text, &balance, Vec::new()))
    }
}
