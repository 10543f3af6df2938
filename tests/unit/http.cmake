# HTTP layer unit tests (src/http): the pure codec tests link only pmq_http_codec and
# pmq_base, which proves the parser and writers need no libuv or nghttp2.
pmq_unit_test(test_http_parser SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_http_parser.c
              LIBS pmq_http_codec pmq_base)
pmq_unit_test(test_http_json SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_http_json.c
              LIBS pmq_http_codec pmq_base)
pmq_unit_test(test_http_prom SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_http_prom.c
              LIBS pmq_http_codec pmq_base m)

# The integration harness's test server (tests/http/test_http.py drives it).
add_executable(http_testd ${PROJECT_SOURCE_DIR}/tests/http/http_testd.c)
target_link_libraries(http_testd PRIVATE pmq_http)
# White-box router and auth tests: they include the layer's internal header.
pmq_unit_test(test_http_router SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_http_router.c
              LIBS pmq_http pmq_base)
target_include_directories(test_http_router PRIVATE ${PROJECT_SOURCE_DIR}/src/http)
