# Kiln static assets: esbuild bundles and fingerprinted, compressed copies
# (docs/guides/assets.md, ADR 0012).
#
#   kiln_assets(TARGET DIR [ENTRIES file...])
#
# builds TARGET's static files into build/priv/TARGET/static, the directory an
# app serves (kiln_config_t.priv_dir + "/static"), in three steps:
#  1. copies DIR/priv/static there, when it exists;
#  2. bundles each entry (default: DIR/assets/js/app.js and DIR/assets/css/app.css,
#     those that exist; modules they import are bundled into them)
#     with the esbuild pinned in package-lock.json (node_modules/.bin/esbuild,
#     --bundle --minify) into static/assets/NAME.js / NAME.css;
#  3. runs bin/kiln-digest on the directory: NAME-<md5>.EXT copies, their .gz and
#     .br versions, and cache_manifest.json, which kiln_main loads at start so
#     that static_path("/assets/app.css") in a template gives the fingerprinted name.
# The steps are one custom command in the target TARGET_assets (part of ALL, and
# built before TARGET); it reruns when an asset, a priv/static file, the lock
# file or kiln-digest changes. Without node_modules the build stops with a
# message to run scripts/bootstrap.
target_link_libraries(kiln-digest ${BROTLIENC_LIB} ZLIB::ZLIB OpenSSL::Crypto ${JANSSON_LIB})

set(KILN_ESBUILD ${CMAKE_SOURCE_DIR}/node_modules/.bin/esbuild)
# Checked when the assets are built, not at configure time, so that running
# scripts/bootstrap afterwards is enough.
set(_kiln_esbuild_check ${CMAKE_BINARY_DIR}/gen/kiln_esbuild_check.cmake)
file(WRITE ${_kiln_esbuild_check}
  "if(NOT EXISTS \"${KILN_ESBUILD}\")\n"
  "  message(FATAL_ERROR \"esbuild is not installed (${KILN_ESBUILD} is missing): \"\n"
  "    \"run scripts/bootstrap build, which installs the npm packages pinned in package-lock.json (npm ci).\")\n"
  "endif()\n")

function(kiln_assets target dir)
  cmake_parse_arguments(KA "" "" "ENTRIES" ${ARGN})
  if(NOT KA_ENTRIES)
    foreach(e ${dir}/assets/js/app.js ${dir}/assets/css/app.css)
      if(EXISTS ${e})
        list(APPEND KA_ENTRIES ${e})
      endif()
    endforeach()
  endif()
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${dir}/assets/* ${dir}/priv/static/*)
  set(static ${CMAKE_BINARY_DIR}/priv/${target}/static)
  set(stamp ${CMAKE_BINARY_DIR}/gen/${target}/assets.stamp)
  set(copy_priv)
  if(IS_DIRECTORY ${dir}/priv/static)
    set(copy_priv COMMAND ${CMAKE_COMMAND} -E copy_directory ${dir}/priv/static ${static})
  endif()
  set(bundle)
  if(KA_ENTRIES)
    set(bundle COMMAND ${KILN_ESBUILD} ${KA_ENTRIES} --bundle --minify --target=es2020 --log-level=warning
                       --entry-names=[name] --outdir=${static}/assets)
  endif()
  # kiln-digest leaves an unchanged manifest alone, hence the stamp as the output.
  add_custom_command(OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -P ${_kiln_esbuild_check}
    ${copy_priv}
    ${bundle}
    COMMAND kiln-digest ${static}
    COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
    DEPENDS ${sources} kiln-digest ${CMAKE_SOURCE_DIR}/package-lock.json
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
    COMMENT "assets of ${target}: esbuild, kiln-digest"
    VERBATIM)
  add_custom_target(${target}_assets ALL DEPENDS ${stamp})
  add_dependencies(${target} ${target}_assets)
endfunction()

# An example (examples/NAME) with Phoenix's layout, assets/js/app.js and/or
# assets/css/app.css, gets them bundled, and its static files digested.
function(kiln_example_assets target dir)
  if(EXISTS ${dir}/assets/js/app.js OR EXISTS ${dir}/assets/css/app.css)
    kiln_assets(${target} ${dir})
  endif()
endfunction()

# The digest tool's unit test runs bin/kiln-digest and decodes what it wrote.
function(kiln_digest_tests)
  if(TARGET unit_template_test_digest)
    target_link_libraries(unit_template_test_digest ZLIB::ZLIB ${BROTLIDEC_LIB} OpenSSL::Crypto)
    target_compile_definitions(unit_template_test_digest PRIVATE KILN_DIGEST_PATH="$<TARGET_FILE:kiln-digest>")
    add_dependencies(unit_template_test_digest kiln-digest)
  endif()
endfunction()
cmake_language(DEFER CALL kiln_digest_tests)
