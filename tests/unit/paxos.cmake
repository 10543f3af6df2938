# Paxos core unit tests: they link only pmq_paxos, pmq_base and cmocka, so a call to
# libuv or LMDB from the core would fail the link (STYLE §1 "purity is checked by the
# linker").
pmq_unit_test(test_quorum SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_quorum.c
              LIBS pmq_paxos pmq_base)
pmq_unit_test(test_paxos_codec SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_paxos_codec.c
              LIBS pmq_paxos pmq_base)
pmq_unit_test(test_paxos SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_paxos.c
              LIBS pmq_paxos pmq_base)
