# The store layer: unit tests (real LMDB in a temp dir, real writer thread) and a
# standalone throughput/latency measurement that is not a test (docs/STORE.md).
if(TARGET pmq_store)
  pmq_unit_test(test_store SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_store.c
                LIBS pmq_store pmq_base PkgConfig::LMDB PkgConfig::LIBUV)
  add_executable(bench_store ${PROJECT_SOURCE_DIR}/tests/unit/bench_store.c)
  target_link_libraries(bench_store PRIVATE pmq_store pmq_base)
endif()
