# fuzz_http: the HTTP/1.1 request parser (whole vs split feeding) and JSON escaping.
pmq_fuzz_target(fuzz_http SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_http.c
                LIBS pmq_http_codec pmq_base)
