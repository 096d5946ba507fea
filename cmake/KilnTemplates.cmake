# Kiln templates: compile *.kiln files with bin/kilnc at build time (docs/guides/templates.md).
#
#   kiln_templates(TARGET DIR [PREFIX p])
#
# runs kilnc on DIR/*.kiln into build/gen/TARGET/templates.{c,h}, adds the .c to
# TARGET and puts the generated header (#include "templates.h") and DIR/.. on
# its include path, so that templates can @include the app's own headers. The
# generated names are p_NAME_* (default prefix "tpl"). Nothing is parsed at
# request time, and a template error fails the build with file:line:col.
function(kiln_templates target dir)
  cmake_parse_arguments(KT "" "PREFIX" "" ${ARGN})
  if(NOT KT_PREFIX)
    set(KT_PREFIX tpl)
  endif()
  file(GLOB kilns CONFIGURE_DEPENDS ${dir}/*.kiln)
  set(out ${CMAKE_BINARY_DIR}/gen/${target})
  file(MAKE_DIRECTORY ${out})
  add_custom_command(OUTPUT ${out}/templates.c ${out}/templates.h
    COMMAND kilnc -o ${out} -p ${KT_PREFIX} ${kilns}
    DEPENDS kilnc ${kilns}
    COMMENT "kilnc: templates of ${target}"
    VERBATIM)
  target_sources(${target} PRIVATE ${out}/templates.c)
  target_include_directories(${target} PRIVATE ${out} ${dir} ${dir}/..)
endfunction()

# The browser pipeline's default root layout is a template too (src/browser/templates).
if(TARGET kiln_browser)
  kiln_templates(kiln_browser ${CMAKE_SOURCE_DIR}/src/browser/templates PREFIX kiln_browser)
endif()

# An example (examples/NAME) gets its templates/ directory, when it has one.
function(kiln_example_templates target dir)
  if(IS_DIRECTORY ${dir}/templates)
    kiln_templates(${target} ${dir}/templates)
  endif()
endfunction()

# Targets made later in CMakeLists.txt (unit tests, benchmarks) get their
# templates once the whole directory is read, hence the deferred calls.
function(kiln_templates_deferred target dir)
  if(TARGET ${target})
    kiln_templates(${target} ${dir} ${ARGN})
  endif()
endfunction()
function(kiln_template_tests)
  if(TARGET unit_template_test_golden)
    kiln_templates(unit_template_test_golden ${CMAKE_SOURCE_DIR}/tests/unit/template/golden PREFIX g)
    target_compile_definitions(unit_template_test_golden PRIVATE
      KILNC_PATH="$<TARGET_FILE:kilnc>" KILN_GOLDEN_DIR="${CMAKE_SOURCE_DIR}/tests/unit/template/golden"
      KILN_INCLUDE_DIR="${CMAKE_SOURCE_DIR}/include" KILN_CC="${CMAKE_C_COMPILER}")
  endif()
  if(TARGET unit_template_test_errors)
    target_compile_definitions(unit_template_test_errors PRIVATE KILNC_PATH="$<TARGET_FILE:kilnc>")
    add_dependencies(unit_template_test_errors kilnc)
  endif()
endfunction()
cmake_language(DEFER CALL kiln_template_tests)
cmake_language(DEFER CALL kiln_templates_deferred bench_template_render ${CMAKE_SOURCE_DIR}/examples/bench/templates)
