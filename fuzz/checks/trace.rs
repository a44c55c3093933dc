//! Check shared by the `trace` fuzz target and the corpus replay test
//! (rust/cli/tests/fuzz_corpus.rs): any bytes as a JSON trace file. The
//! loader either answers records or an error that says where; it never
//! panics, and what it accepts can be ticked.

use serenity_core::load_trace_bytes;
use serenity_core::model::Snapshot;

/// Panics when an invariant breaks.
pub fn check(data: &[u8]) {
    match load_trace_bytes(data) {
        Ok((_, records)) => {
            for usage in records {
                let snapshot = Snapshot::new(usage);
                assert!(
                    snapshot.executors.len() + snapshot.rejected.len()
                        <= snapshot.usage.executors.len()
                );
            }
        }
        Err(e) => {
            let text = e.to_string();
            assert!(!text.is_empty(), "an error says something");
            if let Some(offset) = e.offset {
                assert!(offset <= data.len(), "{text}: offset past the input");
            }
        }
    }
}
