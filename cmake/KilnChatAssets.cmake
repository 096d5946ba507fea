# examples/chat's browser bundle: the official phoenix client from
# node_modules and examples/chat/assets/app.js, bundled by esbuild into
# build/priv/chat/static/app.js (served at /static/app.js). Skipped with a
# note when `npm ci` has not run (scripts/bootstrap runs it).
set(_chat_esbuild ${CMAKE_SOURCE_DIR}/node_modules/.bin/esbuild)
set(_chat_out ${CMAKE_BINARY_DIR}/priv/chat/static/app.js)
if(EXISTS ${_chat_esbuild} AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/phoenix/package.json)
  add_custom_command(OUTPUT ${_chat_out}
    COMMAND ${_chat_esbuild} ${CMAKE_SOURCE_DIR}/examples/chat/assets/app.js --bundle --minify
            --format=iife --target=es2020 --log-level=warning --outfile=${_chat_out}
    DEPENDS ${CMAKE_SOURCE_DIR}/examples/chat/assets/app.js ${CMAKE_SOURCE_DIR}/node_modules/phoenix/package.json
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
    COMMENT "esbuild: examples/chat bundle with the official phoenix client")
  add_custom_target(chat_assets ALL DEPENDS ${_chat_out})
else()
  message(STATUS "examples/chat: node_modules missing, the chat page bundle is not built (run npm ci)")
endif()
