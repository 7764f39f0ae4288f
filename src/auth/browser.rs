//! Opening the sign-in page: `AIPASS_BROWSER` (a command, or `none`), else the system's opener.
//! The child never inherits stdout, which carries the MCP protocol.

use std::process::Stdio;

/// What happened when we tried to show the sign-in page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserOutcome {
    /// A browser was started (by this command or opener).
    Opened(String),
    /// `AIPASS_BROWSER=none`: the URL is only shown.
    Disabled,
    /// Opening failed (no display, SSH, WSL...): not an error, the URL is shown anyway.
    Failed(String),
    /// Not tried: the MCP client shows the sign-in link to its user (URL elicitation).
    LeftToHost,
}

/// Opens `url`: `AIPASS_BROWSER` (a command line split on whitespace, the URL appended; `none`
/// opens nothing), else `$BROWSER`, else the OS opener. Children get no stdin/stdout/stderr:
/// stdout is the MCP channel.
pub fn open_browser(setting: Option<&str>, url: &str) -> BrowserOutcome {
    let setting = setting.map(str::trim).filter(|s| !s.is_empty());
    if let Some(command) = setting {
        if command.eq_ignore_ascii_case("none") {
            return BrowserOutcome::Disabled;
        }
        return run_browser_command(command, url, "AIPASS_BROWSER");
    }
    if let Some(browser) = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
    {
        // $BROWSER may list alternatives separated by ':'; the first is used.
        let first = browser
            .split(':')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        if !first.is_empty() {
            return run_browser_command(&first, url, "$BROWSER");
        }
    }
    match open::that_detached(url) {
        Ok(()) => BrowserOutcome::Opened("the system browser".into()),
        Err(e) => BrowserOutcome::Failed(format!("cannot open a browser: {e}")),
    }
}

fn run_browser_command(command: &str, url: &str, source: &str) -> BrowserOutcome {
    let mut words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
    if words.is_empty() {
        return BrowserOutcome::Failed(format!("{source} is empty"));
    }
    if words.iter().any(|w| w.contains("%s")) {
        for word in &mut words {
            *word = word.replace("%s", url);
        }
    } else {
        words.push(url.to_owned());
    }
    let program = words.remove(0);
    let mut cmd = std::process::Command::new(&program);
    cmd.args(&words)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: a Ctrl-C meant for us does not reach the browser.
        cmd.process_group(0);
    }
    match cmd.spawn() {
        Ok(mut child) => {
            // Reap it whenever it exits, so it never lingers as a zombie.
            let _ = std::thread::Builder::new()
                .name("aipass-browser".into())
                .spawn(move || {
                    let _ = child.wait();
                });
            BrowserOutcome::Opened(format!("{source} ({program})"))
        }
        Err(e) => BrowserOutcome::Failed(format!("{source} ({program}) did not start: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_none_opens_nothing() {
        assert_eq!(
            open_browser(Some("none"), "http://x"),
            BrowserOutcome::Disabled
        );
        assert_eq!(
            open_browser(Some(" NONE "), "http://x"),
            BrowserOutcome::Disabled
        );
        assert!(matches!(
            open_browser(Some("/nonexistent/browser --flag"), "http://x"),
            BrowserOutcome::Failed(_)
        ));
        assert!(matches!(
            open_browser(Some("true"), "http://x"),
            BrowserOutcome::Opened(_)
        ));
    }
}
