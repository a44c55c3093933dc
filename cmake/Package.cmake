# The Debian package (CPack's DEB generator), with -DSERENITY_PACKAGE=ON:
#
#   cmake -S . -B build/deb -DSERENITY_PACKAGE=ON -DSERENITY_TESTS=OFF \
#     -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr [-DMESOS_ROOT=...]
#   cmake --build build/deb && (cd build/deb && cpack -G DEB)
#
# Adds to `all` the release `serenity` binary (serenity_cargo_binary) and
# installs, next to what the project installs anyway (the pipelines, the C
# header and C++ wrapper, and with Mesos the module library and its
# modules.json):
#   <bindir>/serenity
#   <prefix>/lib/systemd/system/serenity-agent.service  (dry run)
#   <sysconfdir>/serenity/agent.toml                     (a conffile)
#   <docdir>: README.md, docs/**/*.md, the Grafana dashboard (grafana/),
#             copyright
# Every path written into the unit, agent.toml and modules.json is the
# installed one, and CPack packages under the same prefix, so they match.

serenity_cargo_binary(serenity_cli)
install(PROGRAMS ${SERENITY_CLI_BINARY} DESTINATION ${CMAKE_INSTALL_BINDIR})
# install(PROGRAMS) has no strip step of its own: do what install(TARGETS)
# does under `cmake --install --strip` and CPACK_STRIP_FILES (the release
# profile keeps line tables: 70 MB unstripped, about 10 stripped).
if (CMAKE_STRIP)
  install(CODE "
    if (CMAKE_INSTALL_DO_STRIP)
      execute_process(COMMAND \"${CMAKE_STRIP}\"
        \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/serenity\")
    endif ()")
endif ()

install(FILES README.md packaging/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}
  FILES_MATCHING PATTERN "*.md" PATTERN "*.json")

set(SERENITY_SYSTEMD_UNITDIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system CACHE PATH
  "where the package puts serenity-agent.service")
configure_file(packaging/serenity-agent.service.in
  ${CMAKE_CURRENT_BINARY_DIR}/serenity-agent.service @ONLY)
configure_file(packaging/agent.toml.in ${CMAKE_CURRENT_BINARY_DIR}/agent.toml @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/serenity-agent.service
  DESTINATION ${SERENITY_SYSTEMD_UNITDIR})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/agent.toml
  DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/serenity)
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/debian/conffiles
  "${CMAKE_INSTALL_FULL_SYSCONFDIR}/serenity/agent.toml\n")

# The package's version is the `serenity` binary's (Cargo's workspace
# version); the project() version must agree.
file(STRINGS ${CMAKE_CURRENT_SOURCE_DIR}/Cargo.toml _cargo_version
  REGEX "^version = \"[^\"]+\"" LIMIT_COUNT 1)
string(REGEX REPLACE "^version = \"([^\"]+)\".*" "\\1" _cargo_version "${_cargo_version}")
if (NOT _cargo_version STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR
    "Cargo.toml's workspace version ${_cargo_version} differs from "
    "project(serenity VERSION ${PROJECT_VERSION}) in CMakeLists.txt")
endif ()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME serenity)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "Serenity in Rust")
set(CPACK_PACKAGE_CONTACT "Serenity in Rust maintainers <serenity-rs@example.invalid>")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(_summary "oversubscription for Mesos and plain Linux hosts (QoS and slack)")
set(_description
  "Serenity estimates the allocated but idle capacity of a node (slack) that\n"
  " best-effort work may borrow, and revokes best-effort work when it hurts\n"
  " production work, from signal pipelines declared in TOML. This package\n"
  " holds the `serenity` command (check, replay, record, simulate, score,\n"
  " bench), the standalone node agent `serenity agent` with a systemd unit\n"
  " (dry run by default), the shipped pipelines and the documentation.")
if (SERENITY_WITH_MESOS)
  # The module loads only into a Mesos agent of exactly this version.
  set(CPACK_DEBIAN_PACKAGE_VERSION "${PROJECT_VERSION}+mesos${MESOS_VERSION_STRING}")
  string(APPEND _description
    "\n .\n This build also holds libserenity_mesos.so, the resource estimator and\n"
    " QoS controller modules for a Mesos ${MESOS_VERSION_STRING} agent, and the\n"
    " modules.json for its --modules flag (libmesos comes from that agent).")
endif ()
string(REPLACE ";" "" _description "${_description}")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "${_summary}\n ${_description}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY ${_summary})

# Depends: what the `serenity` binary needs, from dpkg-shlibdeps (dpkg-dev)
# run on it alone at cpack time (cmake/PackageDepends.cmake), plus procps
# (the unit's ExecReload runs its /bin/kill), plus, with the module,
# libstdc++6 unversioned: the module needs the C++ runtime of the
# Mesos agent that loads it, which that agent already has, like libmesos
# (no Debian package, so not in Depends). CPack's own
# CPACK_DEBIAN_PACKAGE_SHLIBDEPS would scan the module too: a minute spent
# on its thousands of libmesos/protobuf symbols, to learn nothing more.
find_program(DPKG_SHLIBDEPS_EXECUTABLE dpkg-shlibdeps)
set(SERENITY_DEB_FIXED_DEPENDS "libc6 (>= 2.34), libgcc-s1 (>= 4.2)")
set(SERENITY_DEB_EXTRA_DEPENDS ", procps")
if (SERENITY_WITH_MESOS)
  set(SERENITY_DEB_EXTRA_DEPENDS "${SERENITY_DEB_EXTRA_DEPENDS}, libstdc++6")
endif ()
if (NOT DPKG_SHLIBDEPS_EXECUTABLE)
  message(STATUS "dpkg-shlibdeps not found (Debian: dpkg-dev): Depends: ${SERENITY_DEB_FIXED_DEPENDS}")
endif ()
configure_file(cmake/PackageDepends.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/PackageDepends.cmake @ONLY)
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_CURRENT_BINARY_DIR}/PackageDepends.cmake)

set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_CURRENT_BINARY_DIR}/debian/conffiles
  ${CMAKE_CURRENT_SOURCE_DIR}/packaging/debian/postinst
  ${CMAKE_CURRENT_SOURCE_DIR}/packaging/debian/prerm
  ${CMAKE_CURRENT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
