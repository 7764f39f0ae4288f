//! The `tools/list` answer, built once per variant (the plain catalogue, and the one for hosts
//! that show the MCP Apps view, whose media tools carry `_meta.ui`) and serialised once.
//!
//! Serialising the 15.8 KB catalogue was the whole cost of `tools/list` above the stdio floor
//! (docs/performance.md). `list_tools` hands rmcp a clone of the cached tools (the schemas are
//! shared `Arc`s); the transport recognises them on the way out ([`serialised`]) and writes the
//! bytes made once instead of serialising the tools again.

use std::sync::{Arc, OnceLock};

use rmcp::model::Tool;

/// One variant: the tools, and the same tools as a JSON array.
struct Variant {
    tools: Vec<Tool>,
    json: Box<[u8]>,
}

fn variant(view: bool) -> &'static Variant {
    static PLAIN: OnceLock<Variant> = OnceLock::new();
    static VIEW: OnceLock<Variant> = OnceLock::new();
    let build = || {
        let tools = crate::ui::for_host(crate::catalogue::router().list_all(), view);
        // A Vec<Tool> always serialises (string keys, finite numbers); empty is never used.
        let json = serde_json::to_vec(&tools).unwrap_or_default().into();
        Variant { tools, json }
    };
    if view {
        VIEW.get_or_init(build)
    } else {
        PLAIN.get_or_init(build)
    }
}

/// The catalogue `tools/list` returns: with the view's metadata or without.
pub fn tools(view: bool) -> Vec<Tool> {
    variant(view).tools.clone()
}

/// The JSON array of `tools`, when they are one of the cached variants as [`tools`] gave them
/// (the same schema objects, names, texts and metadata); `None` for anything else, which is
/// then serialised as usual.
pub fn serialised(tools: &[Tool]) -> Option<&'static [u8]> {
    [false, true]
        .into_iter()
        .map(variant)
        .find(|cached| same_tools(tools, &cached.tools))
        .filter(|cached| !cached.json.is_empty())
        .map(|cached| &*cached.json)
}

/// Equal without walking the schemas: they must be the very objects cached (rmcp replaces an
/// output schema it drops for an older protocol, which this then sees).
fn same_tools(a: &[Tool], b: &[Tool]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            Arc::ptr_eq(&a.input_schema, &b.input_schema)
                && match (&a.output_schema, &b.output_schema) {
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                    (None, None) => true,
                    _ => false,
                }
                && a.name == b.name
                && a.title == b.title
                && a.description == b.description
                && a.annotations == b.annotations
                && a.icons == b.icons
                && a.meta == b.meta
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_bytes_are_the_tools_serialised() {
        for view in [false, true] {
            let tools = tools(view);
            let bytes = serialised(&tools).expect("a cached variant");
            assert_eq!(bytes, serde_json::to_vec(&tools).unwrap().as_slice());
        }
        // The two variants differ (the view's `_meta.ui`), and each is recognised as itself.
        assert_ne!(serialised(&tools(false)), serialised(&tools(true)));
    }

    #[test]
    fn the_plain_variant_is_what_the_router_builds() {
        let built = crate::catalogue::router().list_all();
        assert_eq!(tools(false), crate::ui::for_host(built.clone(), false));
        assert_eq!(
            serialised(&tools(false)).unwrap(),
            serde_json::to_vec(&crate::ui::for_host(built.clone(), false))
                .unwrap()
                .as_slice()
        );
        assert_eq!(tools(true), crate::ui::for_host(built, true));
    }

    #[test]
    fn changed_tools_are_not_taken_for_the_cache() {
        let mut tools = tools(false);
        tools[0].description = Some("something else".into());
        assert!(serialised(&tools).is_none());
        let mut tools = super::tools(false);
        tools.pop();
        assert!(serialised(&tools).is_none());
        // A fresh build has equal schemas but not the cached objects: serialised as usual.
        let fresh = crate::catalogue::build_router().list_all();
        assert!(serialised(&fresh).is_none());
    }
}
