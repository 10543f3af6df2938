# fuzz_stomp: arbitrary bytes through stomp_parse (whole and split), plus the
# encode/re-parse round trip of every parsed frame. Links the pure codec only.
pmq_fuzz_target(fuzz_stomp SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_stomp.c
                LIBS pmq_stomp_codec pmq_base)
