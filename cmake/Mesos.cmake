# Finding an installed Mesos for the module library.
#
# Inputs (cache variables):
#   MESOS_ROOT          install prefix of Mesos (has include/mesos/mesos.hpp)
#   MESOS_INCLUDE_DIRS  extra or explicit include directories (build-tree
#                       layouts: <src>/include;<build>/include;3rdparty dirs)
#   MESOS_LIBRARY       explicit path of libmesos.so
# Outputs:
#   SERENITY_WITH_MESOS  TRUE when everything was found
#   Mesos::mesos         INTERFACE target with includes, defines and libmesos
#   MESOS_VERSION_STRING the MESOS_VERSION of the headers

set(MESOS_ROOT "" CACHE PATH "Mesos install prefix (builds libserenity_mesos.so)")
set(MESOS_INCLUDE_DIRS "" CACHE STRING "Mesos include directories (optional)")
set(MESOS_LIBRARY "" CACHE FILEPATH "Path of libmesos.so (optional)")

set(SERENITY_WITH_MESOS FALSE)

if (MESOS_ROOT OR MESOS_INCLUDE_DIRS OR MESOS_LIBRARY)
  # Installed headers, plus the bundled 3rdparty headers that
  # `--enable-install-module-dependencies` installs.
  set(_mesos_hints)
  if (MESOS_ROOT)
    list(APPEND _mesos_hints
      ${MESOS_ROOT}/include
      ${MESOS_ROOT}/lib/mesos/3rdparty/include
      ${MESOS_ROOT}/lib64/mesos/3rdparty/include)
  endif ()

  find_path(MESOS_MESOS_HPP_DIR mesos/mesos.hpp
    HINTS ${MESOS_INCLUDE_DIRS} ${_mesos_hints})
  find_path(MESOS_VERSION_HPP_DIR mesos/version.hpp
    HINTS ${MESOS_INCLUDE_DIRS} ${_mesos_hints})
  find_path(MESOS_PROCESS_DIR process/process.hpp
    HINTS ${MESOS_INCLUDE_DIRS} ${_mesos_hints})
  find_path(MESOS_STOUT_DIR stout/option.hpp
    HINTS ${MESOS_INCLUDE_DIRS} ${_mesos_hints})
  find_path(MESOS_GLOG_DIR glog/logging.h
    HINTS ${MESOS_INCLUDE_DIRS} ${_mesos_hints})
  find_path(MESOS_PROTOBUF_DIR google/protobuf/message.h
    HINTS ${MESOS_INCLUDE_DIRS} ${_mesos_hints})
  find_path(MESOS_BOOST_DIR boost/variant.hpp
    HINTS ${MESOS_INCLUDE_DIRS} ${_mesos_hints})

  if (NOT MESOS_LIBRARY)
    find_library(MESOS_FOUND_LIBRARY mesos
      HINTS ${MESOS_ROOT}/lib ${MESOS_ROOT}/lib64)
  else ()
    set(MESOS_FOUND_LIBRARY ${MESOS_LIBRARY})
  endif ()

  set(_missing)
  foreach (var MESOS_MESOS_HPP_DIR MESOS_VERSION_HPP_DIR MESOS_PROCESS_DIR
               MESOS_STOUT_DIR MESOS_GLOG_DIR MESOS_PROTOBUF_DIR
               MESOS_BOOST_DIR MESOS_FOUND_LIBRARY)
    if (NOT ${var})
      list(APPEND _missing ${var})
    endif ()
  endforeach ()
  if (_missing)
    message(FATAL_ERROR
      "Mesos was requested (MESOS_ROOT=${MESOS_ROOT}) but not found: "
      "${_missing}. Point MESOS_ROOT at a Mesos install (configured with "
      "--enable-install-module-dependencies), or give MESOS_INCLUDE_DIRS "
      "and MESOS_LIBRARY.")
  endif ()

  file(STRINGS ${MESOS_VERSION_HPP_DIR}/mesos/version.hpp _version_line
    REGEX "^#define MESOS_VERSION ")
  string(REGEX REPLACE ".*\"(.*)\".*" "\\1" MESOS_VERSION_STRING "${_version_line}")
  message(STATUS "Mesos ${MESOS_VERSION_STRING}: ${MESOS_FOUND_LIBRARY}")
  message(STATUS
    "The module loads only into a mesos-agent of exactly version "
    "${MESOS_VERSION_STRING} (check with `mesos-agent --version`).")

  set(_includes
    ${MESOS_INCLUDE_DIRS} ${MESOS_MESOS_HPP_DIR} ${MESOS_VERSION_HPP_DIR}
    ${MESOS_PROCESS_DIR} ${MESOS_STOUT_DIR} ${MESOS_GLOG_DIR}
    ${MESOS_PROTOBUF_DIR} ${MESOS_BOOST_DIR})
  list(REMOVE_DUPLICATES _includes)

  add_library(Mesos::mesos INTERFACE IMPORTED)
  set_target_properties(Mesos::mesos PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_includes}"
    # As Mesos's pkg-config file does. (PICOJSON_USE_INT64 is not needed:
    # stout/json.hpp defines it itself before it includes picojson.h.)
    INTERFACE_COMPILE_DEFINITIONS "__STDC_FORMAT_MACROS"
    INTERFACE_LINK_LIBRARIES "${MESOS_FOUND_LIBRARY}")
  set(SERENITY_WITH_MESOS TRUE)
endif ()
