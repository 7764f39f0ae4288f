//! The one path every tool call takes: [`AipassServer::run`] parses the typed arguments, sets up
//! the call's scope (the client's roots, allowed folders, all-or-nothing saves, progress ticks,
//! cancellation, a declined sign-in), runs the tool body and shapes its result (a
//! `model_not_found` names close matches). A tool writes its name once, in `#[tool(name = …)]`;
//! the path reads it from the request through [`Call`].

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{CallToolResult, JsonObject};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde::de::DeserializeOwned;

use super::parse_args;
pub use super::progress::CallScope;
use super::progress::{Activity, Progress, supervise};
use crate::error::{ErrorCode, ToolError, ToolResult};
use crate::state::AipassServer;

/// One tool call as it arrives: the request, the called tool's name and its raw arguments.
/// Every `#[tool]` method takes this and hands it to [`AipassServer::run`].
pub struct Call {
    context: RequestContext<RoleServer>,
    name: Cow<'static, str>,
    arguments: JsonObject,
}

impl FromContextPart<ToolCallContext<'_, AipassServer>> for Call {
    fn from_context_part(
        context: &mut ToolCallContext<'_, AipassServer>,
    ) -> Result<Self, ErrorData> {
        Ok(Self {
            context: context.request_context.clone(),
            name: context.name.clone(),
            arguments: context.arguments.take().unwrap_or_default(),
        })
    }
}

impl AipassServer {
    /// Runs one tool call along the one path (see the module doc). `body` gets the parsed
    /// arguments and the call's scope; bad arguments come back as `invalid_input` results,
    /// never as protocol errors.
    pub(crate) async fn run<'a, T, F, Fut>(&'a self, call: Call, body: F) -> CallToolResult
    where
        T: DeserializeOwned,
        F: FnOnce(&'a Self, T, CallScope) -> Fut,
        Fut: Future<Output = ToolResult<CallToolResult>> + 'a,
    {
        let Call {
            context,
            name,
            arguments,
        } = call;
        let outcome = match parse_args::<T>(arguments) {
            Ok(args) => {
                let activity = Activity::new(name, self.state.sign_in.clone())
                    .with_folders(self.state.always_allowed.clone());
                let scope = CallScope {
                    progress: Progress::new(&context),
                    activity: Arc::new(activity),
                    context,
                };
                supervise(&scope, body(self, args, scope.clone())).await
            }
            Err(error) => Err(error),
        };
        match outcome {
            Ok(result) => result,
            Err(error) if error.code == ErrorCode::ModelNotFound => {
                self.state.models.explain(error).await.into_result()
            }
            Err(error) => ToolError::into_result(error),
        }
    }
}
