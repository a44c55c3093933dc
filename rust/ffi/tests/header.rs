//! The checked-in header is exactly what cbindgen generates from the crate.

use std::path::Path;

#[test]
fn checked_in_header_matches_the_exports() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).expect("utf-8 header");
    let path = dir.join("include/serenity.h");
    if std::env::var_os("SERENITY_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/serenity.h");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/serenity.h is stale: run `SERENITY_BLESS=1 cargo test -p serenity-ffi --test header` and commit it"
    );
}
