//! `--help`: every subcommand lists its own options before the global ones.

mod common;
use common::*;

#[test]
fn global_options_come_after_each_subcommands_own_options_in_help() {
    let mut subcommands = vec!["check", "replay", "record", "simulate", "score", "bench"];
    if cfg!(target_os = "linux") {
        subcommands.extend(["agent", "hints"]);
    }
    for sub in subcommands {
        for flag in ["-h", "--help"] {
            let o = serenity(&[sub, flag]);
            assert!(o.status.success(), "{sub} {flag}: {}", stderr(&o));
            let text = stdout(&o);
            let own = text
                .find("\nOptions:\n")
                .unwrap_or_else(|| panic!("{sub} {flag}: no Options heading:\n{text}"));
            let global = text
                .find("\nGlobal options:\n")
                .unwrap_or_else(|| panic!("{sub} {flag}: no Global options heading:\n{text}"));
            assert!(own < global, "{sub} {flag}: global options first:\n{text}");
            let verbose = text.find("-v, --verbose").expect("-v is listed");
            let quiet = text.find("-q, --quiet").expect("-q is listed");
            assert!(
                verbose > global && quiet > global,
                "{sub} {flag}: -v/-q are not under Global options:\n{text}"
            );
            // Nothing but the global options follows the heading, up to the examples.
            let section = &text[global..];
            let section = section.split("\n\n").nth(1).unwrap_or_default();
            assert!(
                !section.contains("--help"),
                "{sub} {flag}: an own option is listed under Global options:\n{text}"
            );
        }
    }
}
