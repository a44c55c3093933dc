//! `serenity agent` is wired to the node agent crate (docs/agent.md); its
//! behaviour is tested there. Here: the subcommand exists and fails cleanly.
#![cfg(target_os = "linux")]

mod common;
use common::*;

#[test]
fn agent_help_has_an_example() {
    let o = serenity(&["agent", "--help"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("serenity agent --config agent.toml --once"));
}

#[test]
fn a_missing_agent_configuration_is_an_error_naming_the_file() {
    let o = serenity(&["agent", "--config", "/nonexistent/agent.toml", "--once"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("/nonexistent/agent.toml"), "{err}");
}
