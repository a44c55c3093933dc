//! Check shared by the `agent_config` fuzz target and the corpus replay
//! test: any bytes as the node agent's configuration file. Validation
//! answers a configuration or problems with their place; it never panics,
//! and an accepted best-effort prefix is a plain relative path (not
//! empty, not the root, no `..`).

use serenity_agent::config::AgentConfig;
use std::path::Path;

/// Panics when an invariant breaks.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match AgentConfig::parse(Path::new("/etc/serenity/agent.toml"), text) {
        Ok(config) => {
            let prefix = &config.cgroups.best_effort;
            assert!(
                !prefix.as_os_str().is_empty()
                    && prefix.is_relative()
                    && prefix
                        .components()
                        .all(|c| matches!(c, std::path::Component::Normal(_))),
                "an unsafe best-effort prefix was accepted: {prefix:?}"
            );
        }
        Err(problems) => assert!(!problems.to_string().is_empty()),
    }
}
