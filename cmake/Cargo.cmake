# Building the Rust C ABI (rust/ffi) from CMake without Corrosion.
#
# serenity_cargo_staticlib(<target> PACKAGE <package>)
#   Runs `cargo build --release --locked -p <package>` in the workspace and
#   copies its static library (target/release/lib<crate>.a, <crate> being
#   the package name with `_` for `-`) into the build tree as lib<target>.a,
#   exposed as an IMPORTED static library <target> that carries the header
#   directory and Rust's system libraries. Cargo decides what to rebuild;
#   CMake re-runs it when a Rust source changes. The shipped library is
#   package serenity-ffi, the wrapper tests' serenity-ffi-testing: two
#   packages, so two artifacts that never overwrite each other.

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
  cmake_parse_arguments(ARG "" "PACKAGE" "" ${ARGN})
  if (NOT ARG_PACKAGE)
    message(FATAL_ERROR "serenity_cargo_staticlib(${target}): PACKAGE is required")
  endif ()
  string(REPLACE "-" "_" crate ${ARG_PACKAGE})

  file(GLOB_RECURSE rust_sources CONFIGURE_DEPENDS
    ${SERENITY_WORKSPACE_DIR}/rust/core/src/*.rs
    ${SERENITY_WORKSPACE_DIR}/rust/probe/src/*.rs
    ${SERENITY_WORKSPACE_DIR}/rust/ffi/src/*.rs
    ${SERENITY_WORKSPACE_DIR}/rust/ffi-testing/src/*.rs)

  set(output ${CMAKE_BINARY_DIR}/cargo/lib${target}.a)

  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CARGO_EXECUTABLE} build --release --locked -p ${ARG_PACKAGE}
      --target-dir ${SERENITY_CARGO_TARGET_DIR}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/cargo
    COMMAND ${CMAKE_COMMAND} -E copy
      ${SERENITY_CARGO_TARGET_DIR}/release/lib${crate}.a ${output}
    WORKING_DIRECTORY ${SERENITY_WORKSPACE_DIR}
    DEPENDS
      ${rust_sources}
      ${SERENITY_WORKSPACE_DIR}/Cargo.toml
      ${SERENITY_WORKSPACE_DIR}/Cargo.lock
      ${SERENITY_WORKSPACE_DIR}/rust/core/Cargo.toml
      ${SERENITY_WORKSPACE_DIR}/rust/probe/Cargo.toml
      ${SERENITY_WORKSPACE_DIR}/rust/ffi/Cargo.toml
      ${SERENITY_WORKSPACE_DIR}/rust/ffi-testing/Cargo.toml
    COMMENT "cargo build --release -p ${ARG_PACKAGE}"
    USES_TERMINAL
    VERBATIM)

  add_custom_target(${target}_cargo DEPENDS ${output})

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
