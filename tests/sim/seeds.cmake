# Fixed seed lists and the time-boxed random batch (label "sim"). Budget on the 2-core
# box, RelWithDebInfo: about 45 s + 12 s + 80 s, plus the scenarios (well under 4 min).
# Seeds that once failed stay inside these ranges as regressions (see docs/PAXOS.md).
add_test(NAME sim_seeds_3nodes
         COMMAND paxmq-sim --quiet --seeds 1..1500 --steps 5000 --nodes 3)
add_test(NAME sim_seeds_5nodes
         COMMAND paxmq-sim --quiet --seeds 1001..1300 --steps 5000 --nodes 5)
add_test(NAME sim_random_batch
         COMMAND paxmq-sim --quiet --random-batch 80 --steps 5000)
set_tests_properties(sim_seeds_3nodes sim_seeds_5nodes PROPERTIES LABELS sim TIMEOUT 120)
set_tests_properties(sim_random_batch PROPERTIES LABELS sim TIMEOUT 150)
# The checker must see amnesia in random runs too: with fresh incarnations counted by
# name, a batch of seeds has to report an invariant violation (a few seconds).
add_test(NAME sim_unsafe_fresh_incarnations_caught
         COMMAND paxmq-sim --quiet --seeds 1..60 --steps 5000 --unsafe-count-fresh-incarnations)
set_tests_properties(sim_unsafe_fresh_incarnations_caught PROPERTIES LABELS sim TIMEOUT 60
                     PASS_REGULAR_EXPRESSION "invariant: .*without durable promises")
# The checker must see a stretched lease in random runs too: with a driver that loses the
# ticks a pause skipped (one tick per timer callback), a batch of seeds has to report two
# leases at once or a master elected under a valid lease (a few seconds).
add_test(NAME sim_unsafe_tick_per_callback_caught
         COMMAND paxmq-sim --quiet --seeds 1..40 --steps 5000 --unsafe-tick-per-callback)
set_tests_properties(sim_unsafe_tick_per_callback_caught PROPERTIES LABELS sim TIMEOUT 60
                     PASS_REGULAR_EXPRESSION
                     "invariant: .*(both hold a valid lease|lease for .* is valid)")
