// The statistics the executor benchmarks report: the interleaved measurement order, Kendall's
// tau, the run-to-run noise of repeated measurements and the noise floor under any model.
#include "bench/executor/bench_util.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>
#include <vector>

namespace paratune::bench {
namespace {

TEST(InterleavedOrder, EveryJobOncePerRoundAlternatingDirection) {
  const auto order = interleaved_order(3, 3);
  const std::vector<std::pair<int, int>> want{{0, 0}, {0, 1}, {0, 2}, {1, 2}, {1, 1},
                                              {1, 0}, {2, 0}, {2, 1}, {2, 2}};
  EXPECT_EQ(order, want);
  EXPECT_TRUE(interleaved_order(0, 3).empty());
  EXPECT_EQ(interleaved_order(2, 1), (std::vector<std::pair<int, int>>{{0, 0}, {0, 1}}));
}

TEST(KendallTau, OrderedReversedAndTies) {
  EXPECT_DOUBLE_EQ(kendall_tau({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(kendall_tau({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  // Pairs (1,2) (1,3) (2,3): concordant, concordant, discordant -> (2 - 1) / 3.
  EXPECT_DOUBLE_EQ(kendall_tau({1, 2, 3}, {1, 3, 2}), 1.0 / 3.0);
  // A tie in one series leaves that pair out.
  EXPECT_DOUBLE_EQ(kendall_tau({1, 1, 2}, {1, 2, 3}), 1.0);
  EXPECT_DOUBLE_EQ(kendall_tau({}, {}), 0.0);
}

Measured runs(std::vector<double> ms) {
  Measured m;
  m.ok = true;
  m.runs_ms = std::move(ms);
  m.ms = median(m.runs_ms);
  return m;
}

TEST(RunToRunNoise, SecondRunScoredAgainstTheFirst) {
  // Run 2 vs run 1: +10%, -20%, 0%  -> mean 10%, max 20%; ranking (100, 200, 300) vs
  // (110, 160, 300) keeps every pair: tau 1. Spreads (max - min) / median: 20/110, 40/180,
  // 30/300.
  std::vector<Measured> m{runs({100, 110, 120}), runs({200, 160, 180}), runs({300, 300, 330})};
  Measured failed;  // not ok: left out
  failed.runs_ms = {1, 2};
  m.push_back(failed);
  m.push_back(runs({50}));  // one run: left out
  const RunToRunNoise n = run_to_run_noise(m);
  EXPECT_EQ(n.plans, 3);
  EXPECT_NEAR(n.mape, 0.10, 1e-12);
  EXPECT_NEAR(n.max_ape, 0.20, 1e-12);
  EXPECT_DOUBLE_EQ(n.tau, 1.0);
  EXPECT_NEAR(n.median_spread, 20.0 / 110.0, 1e-12);
  EXPECT_NEAR(n.max_spread, 40.0 / 180.0, 1e-12);
  EXPECT_NE(describe(n, 3).find("3 plans"), std::string::npos);
}

TEST(RunToRunNoise, NeedsTwoRuns) {
  const RunToRunNoise n = run_to_run_noise({runs({100}), runs({200})});
  EXPECT_EQ(n.plans, 0);
  EXPECT_NE(describe(n, 1).find("--repeats >= 2"), std::string::npos);
}

// Runs that never move: a perfect model scores 0 / 0 and keeps every pair in order.
TEST(NoiseCeiling, SteadyRunsScoreZero) {
  const NoiseCeiling c = noise_ceiling({runs({100, 100, 100}), runs({200, 200}), runs({50})});
  EXPECT_EQ(c.plans, 2);  // one run: left out
  EXPECT_DOUBLE_EQ(c.mape, 0.0);
  EXPECT_DOUBLE_EQ(c.max_ape, 0.0);
  EXPECT_NEAR(c.tau, 1.0, 1e-9);
  EXPECT_NE(describe(c, 3).find("2 plans"), std::string::npos);
  EXPECT_NE(describe(noise_ceiling({runs({1})}), 1).find("--repeats >= 2"), std::string::npos);
}

// Plan {100, 140}: truth 120; a resampled median of 2 runs is 100, 120 or 140 with probability
// 1/4, 1/2, 1/4, so its expected error is 1/2 x 1/6 = 1/12. With two steady plans beside it
// (far apart, so the order never changes): mean error 1/36, tau 1. 4000 draws put the mean
// within a few thousandths.
TEST(NoiseCeiling, ExpectedErrorOfAResampledMedian) {
  const NoiseCeiling c =
      noise_ceiling({runs({100, 140}), runs({1000, 1000}), runs({5000, 5000})}, 4000, 7);
  EXPECT_EQ(c.plans, 3);
  EXPECT_NEAR(c.mape, 1.0 / 36, 0.003);
  EXPECT_NEAR(c.tau, 1.0, 1e-9);
  // The same seed gives the same draws; scaling every run scales nothing.
  const NoiseCeiling again =
      noise_ceiling({runs({200, 280}), runs({2000, 2000}), runs({10000, 10000})}, 4000, 7);
  EXPECT_DOUBLE_EQ(again.mape, c.mape);
  EXPECT_DOUBLE_EQ(again.max_ape, c.max_ape);
}

// Two plans {100, 130, 160} and {1000, 1300, 1600}: truths 130 and 1300; a resampled median of
// 3 runs is off by 30 / 130 unless it lands on the middle run (probability 13/27). A draw's max
// is 0 only when both land there (0.23), so the median over draws of the max is 30 / 130; the
// mean error is 14/27 x 30/130.
TEST(NoiseCeiling, MaxIsTheMedianOverDraws) {
  const NoiseCeiling c = noise_ceiling({runs({100, 130, 160}), runs({1000, 1300, 1600})}, 4000, 3);
  EXPECT_NEAR(c.max_ape, 30.0 / 130, 1e-12);
  EXPECT_NEAR(c.mape, 14.0 / 27 * 30 / 130, 0.005);
  EXPECT_NEAR(c.tau, 1.0, 1e-9);
}

TEST(MedianRatioInterval, SteadyRunsGiveTheRatioItself) {
  const auto [lo, hi] = median_ratio_interval({100, 100, 100, 100}, {80, 80, 80});
  EXPECT_DOUBLE_EQ(lo, 1.25);
  EXPECT_DOUBLE_EQ(hi, 1.25);
}

TEST(MedianRatioInterval, SeparatedRunsExcludeOneOverlappingRunsDoNot) {
  // 4 runs each, 20% apart and tight: the whole interval lies above 1.
  const auto [lo, hi] = median_ratio_interval({118, 120, 121, 123}, {98, 100, 101, 102});
  EXPECT_GT(lo, 1.1);
  EXPECT_LT(hi, 1.3);
  EXPECT_LE(lo, hi);
  // Row Z's 10.6 MiB confirmation: 4 runs of the searched plan against 4 of the best uniform plan,
  // a median ratio of 1.30 that the runs do not settle.
  const auto [zlo, zhi] = median_ratio_interval({113, 74, 149, 147}, {92, 137, 97, 103});
  EXPECT_LT(zlo, 1.0);
  EXPECT_GT(zhi, 1.3);
  // Deterministic for a seed; empty input gives {0, 0}.
  EXPECT_EQ(median_ratio_interval({113, 74, 149, 147}, {92, 137, 97, 103}),
            median_ratio_interval({113, 74, 149, 147}, {92, 137, 97, 103}));
  EXPECT_EQ(median_ratio_interval({}, {1.0}), std::make_pair(0.0, 0.0));
}

}  // namespace
}  // namespace paratune::bench
