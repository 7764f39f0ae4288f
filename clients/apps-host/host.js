// The minimal MCP Apps host page (bundled for the browser by run.mjs): each view runs in a
// sandboxed iframe (scripts only, opaque origin) behind the official SDK's AppBridge, the way
// real hosts run them. The bridge's tool and resource requests go to `window.hostMcp`, which
// the test runner answers with the real server's replies.
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

const HOST_STYLES = {
  light: { "--color-background-primary": "#ffffff", "--color-text-primary": "#1f2937", "--font-sans": "DejaVu Sans, sans-serif" },
  dark: { "--color-background-primary": "#0f172a", "--color-background-secondary": "#1e293b", "--color-text-primary": "#e2e8f0", "--font-sans": "DejaVu Sans, sans-serif" },
};

window.openView = async ({ id, html, theme, tool, args, result }) => {
  const frame = document.createElement("iframe");
  frame.id = id;
  frame.setAttribute("sandbox", "allow-scripts");
  frame.style.cssText = "width:640px;height:120px;border:1px solid #ccc;display:block;margin:8px 0";
  document.body.append(frame);

  const bridge = new AppBridge(
    null,
    { name: "aipass-apps-test-host", version: "1.0.0" },
    { serverTools: {}, serverResources: {} },
    {
      hostContext: {
        theme,
        styles: { variables: HOST_STYLES[theme] },
        displayMode: "inline",
        containerDimensions: { width: 640, maxHeight: 900 },
        platform: "web",
      },
    },
  );
  bridge.oncalltool = (params) => window.hostMcp(id, "tools/call", params);
  bridge.onreadresource = (params) => window.hostMcp(id, "resources/read", params);
  bridge.onlistresources = (params) => window.hostMcp(id, "resources/list", params);
  bridge.onsizechange = ({ height }) => {
    if (height) frame.style.height = Math.min(height, 900) + "px";
  };
  const initialized = new Promise((resolve) => { bridge.oninitialized = resolve; });
  await bridge.connect(new PostMessageTransport(frame.contentWindow, frame.contentWindow));
  frame.srcdoc = html;
  await initialized;
  await bridge.sendToolInput({ arguments: args });
  await bridge.sendToolResult(result);
  return tool;
};
