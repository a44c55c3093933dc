# Building the Rust C ABI (rust/ffi) from CMake without Corrosion.
#
# serenity_cargo_staticlib(<target> [FEATURES <features>] [AFTER <target>])
#   Runs `cargo build --release -p serenity-ffi [--features ...]` in the
#   workspace and copies target/release/libserenity_ffi.a into the build
#   tree as lib<target>.a, exposed as an IMPORTED static library <target>
#   that carries the header directory and Rust's system libraries. Cargo
#   decides what to rebuild; CMake re-runs it when a Rust source changes.
#   Variants share cargo's target directory, so AFTER orders them (the copy
#   must take the artifact of its own build): <target> is built after the
#   target named by AFTER, which must be defined too.

find_program(CARGO_EXECUTABLE cargo HINTS $ENV{HOME}/.cargo/bin REQUIRED)
find_package(Threads REQUIRED)

get_filename_component(SERENITY_WORKSPACE_DIR ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)
# cargo's own default, honouring CARGO_TARGET_DIR as cargo does.
if (DEFINED ENV{CARGO_TARGET_DIR} AND NOT "$ENV{CARGO_TARGET_DIR}" STREQUAL "")
  set(_default_target_dir $ENV{CARGO_TARGET_DIR})
else ()
  set(_default_target_dir ${SERENITY_WORKSPACE_DIR}/target)
endif ()
set(SERENITY_CARGO_TARGET_DIR ${_default_target_dir} CACHE PATH
  "cargo's target directory for the Rust static library")

function(serenity_cargo_staticlib target)
  cmake_parse_arguments(ARG "" "FEATURES;AFTER" "" ${ARGN})

  set(features_flag)
  set(features_text)
  if (ARG_FEATURES)
    set(features_flag --features ${ARG_FEATURES})
    set(features_text " --features ${ARG_FEATURES}")
  endif ()

  file(GLOB_RECURSE rust_sources CONFIGURE_DEPENDS
    ${SERENITY_WORKSPACE_DIR}/rust/core/src/*.rs
    ${SERENITY_WORKSPACE_DIR}/rust/probe/src/*.rs
    ${SERENITY_WORKSPACE_DIR}/rust/ffi/src/*.rs)

  set(output ${CMAKE_BINARY_DIR}/cargo/lib${target}.a)

  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CARGO_EXECUTABLE} build --release --locked -p serenity-ffi
      --target-dir ${SERENITY_CARGO_TARGET_DIR} ${features_flag}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/cargo
    COMMAND ${CMAKE_COMMAND} -E copy
      ${SERENITY_CARGO_TARGET_DIR}/release/libserenity_ffi.a ${output}
    WORKING_DIRECTORY ${SERENITY_WORKSPACE_DIR}
    DEPENDS
      ${rust_sources}
      ${SERENITY_WORKSPACE_DIR}/Cargo.toml
      ${SERENITY_WORKSPACE_DIR}/Cargo.lock
      ${SERENITY_WORKSPACE_DIR}/rust/core/Cargo.toml
      ${SERENITY_WORKSPACE_DIR}/rust/probe/Cargo.toml
      ${SERENITY_WORKSPACE_DIR}/rust/ffi/Cargo.toml
    COMMENT "cargo build --release -p serenity-ffi${features_text}"
    USES_TERMINAL
    VERBATIM)

  add_custom_target(${target}_cargo DEPENDS ${output})
  if (ARG_AFTER)
    add_dependencies(${target}_cargo ${ARG_AFTER}_cargo)
  endif ()

  add_library(${target} STATIC IMPORTED GLOBAL)
  set_target_properties(${target} PROPERTIES
    IMPORTED_LOCATION ${output}
    INTERFACE_INCLUDE_DIRECTORIES ${SERENITY_WORKSPACE_DIR}/rust/ffi/include
    # What Rust's std needs on Linux (`--print native-static-libs`).
    INTERFACE_LINK_LIBRARIES "Threads::Threads;${CMAKE_DL_LIBS};m;rt;util")
  add_dependencies(${target} ${target}_cargo)
endfunction()

# serenity_cargo_binary(<target>)
#   Runs `cargo build --release --locked -p serenity-cli` in the workspace
#   (in SERENITY_CARGO_TARGET_DIR, so an existing release build is reused:
#   cargo rebuilds only what changed) as part of `all`, and copies
#   <target dir>/release/serenity into the build tree; the copy's path is
#   SERENITY_CLI_BINARY (in the caller's scope), what install() takes.
function(serenity_cargo_binary target)
  file(GLOB_RECURSE rust_sources CONFIGURE_DEPENDS
    ${SERENITY_WORKSPACE_DIR}/rust/*/src/*.rs)
  file(GLOB rust_manifests CONFIGURE_DEPENDS
    ${SERENITY_WORKSPACE_DIR}/rust/*/Cargo.toml)

  set(output ${CMAKE_BINARY_DIR}/cargo/serenity)

  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CARGO_EXECUTABLE} build --release --locked -p serenity-cli
      --target-dir ${SERENITY_CARGO_TARGET_DIR}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/cargo
    COMMAND ${CMAKE_COMMAND} -E copy
      ${SERENITY_CARGO_TARGET_DIR}/release/serenity ${output}
    WORKING_DIRECTORY ${SERENITY_WORKSPACE_DIR}
    DEPENDS
      ${rust_sources}
      ${rust_manifests}
      ${SERENITY_WORKSPACE_DIR}/Cargo.toml
      ${SERENITY_WORKSPACE_DIR}/Cargo.lock
    COMMENT "cargo build --release -p serenity-cli"
    USES_TERMINAL
    VERBATIM)

  add_custom_target(${target} ALL DEPENDS ${output})
  set(SERENITY_CLI_BINARY ${output} PARENT_SCOPE)
endfunction()
