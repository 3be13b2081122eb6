// Layer-wise stage DP: golden problems, validation, and seeded properties against brute force.
#include "search/stage_dp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "search/brute_force.h"
#include "search/stage_problem.h"

namespace paratune::search {
namespace {

StageDpOptions buckets(int n) {
  StageDpOptions o;
  o.memory_buckets = n;
  return o;
}

// ---------------------------------------------------------------------------------- golden

// 3 layers, 2 strategies. Without switch costs the best plan alternates [0, 1, 0] (1 + 1.5 + 1);
// a switch cost of 2 each way makes staying on strategy 0 the optimum (1 + 3 + 1 = 5 < 5.5).
TEST(StageDpGolden, SwitchCostChangesTheAnswer) {
  StageProblem p;
  p.time_ms = {{1, 2}, {3, 1.5}, {1, 2}};
  p.memory_bytes = {{0, 0}, {0, 0}, {0, 0}};
  p.memory_budget_bytes = 0;  // no free memory at all: only zero-memory plans fit
  std::optional<StagePlanResult> r = solve_stage(p, StageDpOptions{});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->choice, (std::vector<StrategyIdx>{0, 1, 0}));
  EXPECT_DOUBLE_EQ(r->time_ms, 3.5);

  p.switch_ms = {{0, 2}, {2, 0}};
  r = solve_stage(p, StageDpOptions{});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->choice, (std::vector<StrategyIdx>{0, 0, 0}));
  EXPECT_DOUBLE_EQ(r->time_ms, 5.0);
  EXPECT_DOUBLE_EQ(r->memory_bytes, 0.0);
}

// Strategy 0: fast (1 ms) but 4 bytes; strategy 1: slow (3 ms), 1 byte. Budget 6 admits one fast
// layer ([0,1] and [1,0] tie at 4 ms; the tie rule takes the lowest index at the last layer),
// budget 4 only the all-slow plan, budget 1 nothing.
TEST(StageDpGolden, MemoryLimitForcesSlowerStrategy) {
  StageProblem p;
  p.time_ms = {{1, 3}, {1, 3}};
  p.memory_bytes = {{4, 1}, {4, 1}};
  p.memory_budget_bytes = 6;
  for (int b : {6, 1024}) {
    std::optional<StagePlanResult> r = solve_stage(p, buckets(b));
    ASSERT_TRUE(r) << b;
    EXPECT_EQ(r->choice, (std::vector<StrategyIdx>{1, 0})) << b;
    EXPECT_DOUBLE_EQ(r->time_ms, 4.0);
    EXPECT_DOUBLE_EQ(r->memory_bytes, 5.0);
  }
  p.memory_budget_bytes = 4;
  std::optional<StagePlanResult> r = solve_stage(p, buckets(4));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->choice, (std::vector<StrategyIdx>{1, 1}));
  EXPECT_DOUBLE_EQ(r->time_ms, 6.0);
  EXPECT_DOUBLE_EQ(r->memory_bytes, 2.0);
  p.memory_budget_bytes = 1;
  EXPECT_FALSE(solve_stage(p, buckets(1)));
}

// Base memory counts against the budget.
TEST(StageDpGolden, BaseMemoryCounts) {
  StageProblem p;
  p.time_ms = {{1, 3}, {1, 3}};
  p.memory_bytes = {{4, 1}, {4, 1}};
  p.base_memory_bytes = 2;
  p.memory_budget_bytes = 6;  // 4 free bytes: only [1, 1]
  std::optional<StagePlanResult> r = solve_stage(p, buckets(4));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->choice, (std::vector<StrategyIdx>{1, 1}));
  EXPECT_DOUBLE_EQ(r->memory_bytes, 4.0);
  p.base_memory_bytes = 7;  // base alone exceeds the budget
  EXPECT_FALSE(solve_stage(p, buckets(4)));
}

// Strategy 0 (ZeRO-3-like): 1 ms, 1 byte resident, 4 bytes transient; strategy 1: 2 ms, 2 bytes.
// [0, 0] peaks at 1 + 1 + max(4, 4) = 6 (a sum of transients would give 10), so it fits budget 6;
// at budget 5 every plan with a strategy-0 layer needs >= 6 and only [1, 1] (4 bytes) remains.
TEST(StageDpGolden, TransientIsAMaxNotASum) {
  StageProblem p;
  p.time_ms = {{1, 2}, {1, 2}};
  p.memory_bytes = {{1, 2}, {1, 2}};
  p.transient_bytes = {{4, 0}, {4, 0}};
  p.memory_budget_bytes = 6;
  std::optional<StagePlanResult> r = solve_stage(p, buckets(6));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->choice, (std::vector<StrategyIdx>{0, 0}));
  EXPECT_DOUBLE_EQ(r->time_ms, 2.0);
  EXPECT_DOUBLE_EQ(r->memory_bytes, 6.0);

  p.memory_budget_bytes = 5;
  r = solve_stage(p, buckets(5));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->choice, (std::vector<StrategyIdx>{1, 1}));
  EXPECT_DOUBLE_EQ(r->time_ms, 4.0);
  EXPECT_DOUBLE_EQ(r->memory_bytes, 4.0);
}

// Rounding up is conservative: two layers of 5 bytes fit a 10-byte budget exactly, but with 3
// buckets of 10/3 bytes each layer takes 2 buckets (4 > 3) and the DP rejects the plan; with
// 10 buckets (exact) it accepts it.
TEST(StageDpGolden, DiscretisationIsConservative) {
  StageProblem p;
  p.time_ms = {{1}, {1}};
  p.memory_bytes = {{5}, {5}};
  p.memory_budget_bytes = 10;
  ASSERT_TRUE(brute_force_stage(p));
  EXPECT_FALSE(solve_stage(p, buckets(3)));
  std::optional<StagePlanResult> r = solve_stage(p, buckets(10));
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(r->memory_bytes, 10.0);
}

TEST(StageDpGolden, PrefixesOfIdenticalLayers) {
  // Identical layers: strategy 0 is 1 ms / 3 bytes, strategy 1 is 2 ms / 1 byte, budget 7.
  // n = 1: [0] 1 ms; n = 2: [0, 0] 2 ms (6 bytes); n = 3: two fast layers and a slow one,
  // 3 + 3 + 1 = 7 bytes -> 4 ms; n = 4: only one fast layer fits, 3 + 1 + 1 + 1 = 6 -> 7 ms.
  StageProblem p;
  p.time_ms.assign(4, {1, 2});
  p.memory_bytes.assign(4, {3, 1});
  p.memory_budget_bytes = 7;
  std::vector<std::optional<StagePlanResult>> r = solve_stage_prefixes(p, buckets(7));
  ASSERT_EQ(r.size(), 4u);
  const double want[] = {1, 2, 4, 7};
  for (int n = 1; n <= 4; ++n) {
    ASSERT_TRUE(r[n - 1]) << n;
    EXPECT_EQ(r[n - 1]->choice.size(), static_cast<size_t>(n));
    EXPECT_DOUBLE_EQ(r[n - 1]->time_ms, want[n - 1]) << n;
    EXPECT_LE(r[n - 1]->memory_bytes, 7.0);
  }
}

// ------------------------------------------------------------------------------ validation

StageProblem small_valid() {
  StageProblem p;
  p.time_ms = {{1, 2}, {3, 4}};
  p.memory_bytes = {{1, 1}, {1, 1}};
  p.memory_budget_bytes = 10;
  return p;
}

void expect_rejected(const StageProblem& p, const std::string& needle) {
  const Status st = validate_problem(p);
  ASSERT_FALSE(st.ok()) << needle;
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
}

TEST(StageProblemValidate, AcceptsValid) {
  EXPECT_TRUE(validate_problem(small_valid()).ok());
  StageProblem p = small_valid();
  p.transient_bytes = {{0, 1}, {0, 1}};
  p.switch_ms = {{0, 1}, {1, 0}};
  EXPECT_TRUE(validate_problem(p).ok());
}

TEST(StageProblemValidate, NamesTheOffendingEntry) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  StageProblem p = small_valid();
  p.time_ms[1][0] = nan;
  expect_rejected(p, "time_ms[1][0] is NaN");
  p = small_valid();
  p.memory_bytes[0][1] = -3;
  expect_rejected(p, "memory_bytes[0][1] is negative");
  p = small_valid();
  p.memory_bytes[1] = {1, 1, 1};
  expect_rejected(p, "memory_bytes[1] has 3 entries, expected 2");
  p = small_valid();
  p.time_ms[1] = {1};
  expect_rejected(p, "time_ms[1] has 1 entries, expected 2");
  p = small_valid();
  p.memory_bytes.pop_back();
  expect_rejected(p, "memory_bytes has 1 rows, expected 2");
  p = small_valid();
  p.transient_bytes = {{0, 0}};
  expect_rejected(p, "transient_bytes has 1 rows, expected 2");
  p = small_valid();
  p.switch_ms = {{0, 1}, {1, inf}};
  expect_rejected(p, "switch_ms[1][1] is infinite");
  p = small_valid();
  p.switch_ms = {{0, 1}, {1, 0}, {1, 1}};
  expect_rejected(p, "switch_ms has 3 rows, expected 2 (or none)");
  p = small_valid();
  p.switch_ms = {{0, 1}, {1, 0, 3}};
  expect_rejected(p, "switch_ms[1] has 3 entries, expected 2");
  p = small_valid();
  p.memory_budget_bytes = nan;
  expect_rejected(p, "memory_budget_bytes is NaN");
  p = small_valid();
  p.base_memory_bytes = -1;
  expect_rejected(p, "base_memory_bytes is negative");
  expect_rejected(StageProblem{}, "time_ms is empty");
  p = small_valid();
  p.time_ms = {{}, {}};
  expect_rejected(p, "time_ms[0] is empty");
}

TEST(StageDpOptionsValidate, BucketRange) {
  EXPECT_TRUE(StageDpOptions{}.validate().ok());
  EXPECT_EQ(StageDpOptions{}.memory_buckets, 1024);
  EXPECT_FALSE(buckets(0).validate().ok());
  EXPECT_FALSE(buckets(StageDpOptions::kMaxMemoryBuckets + 1).validate().ok());
  EXPECT_TRUE(buckets(1).validate().ok());
}

TEST(EvaluatePlan, RecomputesTimeAndPeak) {
  StageProblem p;
  p.time_ms = {{1, 2}, {3, 4}, {5, 6}};
  p.memory_bytes = {{10, 20}, {30, 40}, {50, 60}};
  p.transient_bytes = {{7, 1}, {2, 9}, {3, 3}};
  p.switch_ms = {{0, 0.5}, {0.25, 0}};
  p.base_memory_bytes = 100;
  p.memory_budget_bytes = 1000;
  const StagePlanResult r = evaluate_plan(p, {0, 1, 0});
  EXPECT_DOUBLE_EQ(r.time_ms, 1 + 0.5 + 4 + 0.25 + 5);
  EXPECT_DOUBLE_EQ(r.memory_bytes, 100 + 10 + 40 + 50 + 9);
  const StagePlanResult prefix = evaluate_plan(p, {1});  // stage of the first layer only
  EXPECT_DOUBLE_EQ(prefix.time_ms, 2);
  EXPECT_DOUBLE_EQ(prefix.memory_bytes, 100 + 20 + 1);
}

// -------------------------------------------------------------------------- properties

struct RandomInstance {
  StageProblem problem;
  int buckets = 0;
};

// L 1..6, S 1..5. With `bucket_multiples`, the bucket size q is an integer and every memory and
// transient entry a multiple of it (where the DP must be exact); otherwise arbitrary reals.
RandomInstance random_instance(std::mt19937_64& rng, bool bucket_multiples) {
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto real = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  RandomInstance inst;
  StageProblem& p = inst.problem;
  const int layers = uni(1, 6);
  const int strategies = uni(1, 5);
  const bool integer_times = uni(0, 3) == 0;  // provokes ties
  const bool with_transient = uni(0, 1) == 1;
  const bool with_switch = uni(0, 3) != 0;
  inst.buckets = uni(1, 24);
  const double q = uni(1, 5);
  p.base_memory_bytes = uni(0, 10);
  // Budgets from "nothing fits" to "everything fits".
  const double free_bytes = bucket_multiples ? inst.buckets * q : real(0, 8 * layers * q);
  p.memory_budget_bytes = p.base_memory_bytes + free_bytes;
  if (uni(0, 19) == 0 && p.base_memory_bytes > 0) p.memory_budget_bytes = p.base_memory_bytes - 1;
  auto mem = [&] { return bucket_multiples ? q * uni(0, 6) : real(0, 6 * q); };
  p.time_ms.assign(layers, std::vector<double>(strategies));
  p.memory_bytes = p.time_ms;
  for (int l = 0; l < layers; ++l) {
    for (int s = 0; s < strategies; ++s) {
      p.time_ms[l][s] = integer_times ? uni(0, 4) : real(0, 10);
      p.memory_bytes[l][s] = mem();
    }
  }
  if (with_transient) {
    p.transient_bytes = p.memory_bytes;
    for (auto& row : p.transient_bytes) {
      for (double& v : row) v = uni(0, 2) == 0 ? 0 : mem();
    }
  }
  if (with_switch) {
    // Either arbitrary, or by groups (strategies with the same layout switch for free among
    // themselves: equal rows and columns, which the DP merges into one switch class).
    const int groups = uni(0, 1) == 0 ? strategies : uni(1, strategies);
    std::vector<std::vector<double>> between(groups, std::vector<double>(groups));
    for (int a = 0; a < groups; ++a) {
      for (int b = 0; b < groups; ++b) {
        between[a][b] = a == b && uni(0, 3) != 0 ? 0 : (integer_times ? uni(0, 3) : real(0, 4));
      }
    }
    p.switch_ms.assign(strategies, std::vector<double>(strategies));
    for (int a = 0; a < strategies; ++a) {
      for (int b = 0; b < strategies; ++b) p.switch_ms[a][b] = between[a % groups][b % groups];
    }
  }
  return inst;
}

void expect_consistent(const StageProblem& p, const StagePlanResult& r) {
  const StagePlanResult e = evaluate_plan(p, r.choice);
  EXPECT_NEAR(e.time_ms, r.time_ms, 1e-9);
  EXPECT_EQ(e.memory_bytes, r.memory_bytes);
  EXPECT_LE(e.memory_bytes, p.memory_budget_bytes);
}

TEST(StageDpProperty, EqualsBruteForceOnBucketMultiples) {
  std::mt19937_64 rng(20240611);
  int feasible = 0, infeasible = 0;
  for (int iter = 0; iter < 400; ++iter) {
    const RandomInstance inst = random_instance(rng, /*bucket_multiples=*/true);
    SCOPED_TRACE("instance " + std::to_string(iter));
    ASSERT_TRUE(validate_problem(inst.problem).ok());
    const std::optional<StagePlanResult> bf = brute_force_stage(inst.problem);
    const std::optional<StagePlanResult> dp = solve_stage(inst.problem, buckets(inst.buckets));
    ASSERT_EQ(bf.has_value(), dp.has_value());
    if (!dp) {
      ++infeasible;
      continue;
    }
    ++feasible;
    EXPECT_NEAR(dp->time_ms, bf->time_ms, 1e-9);
    expect_consistent(inst.problem, *dp);
  }
  EXPECT_GT(feasible, 100);
  EXPECT_GT(infeasible, 20);
}

TEST(StageDpProperty, ConservativeOnArbitraryInstances) {
  std::mt19937_64 rng(7);
  int feasible = 0, exact = 0;
  for (int iter = 0; iter < 400; ++iter) {
    const RandomInstance inst = random_instance(rng, /*bucket_multiples=*/false);
    SCOPED_TRACE("instance " + std::to_string(iter));
    const std::optional<StagePlanResult> bf = brute_force_stage(inst.problem);
    const std::optional<StagePlanResult> dp = solve_stage(inst.problem, buckets(inst.buckets));
    if (!dp) continue;  // may be rejected by the rounding even if brute force finds a plan
    ++feasible;
    ASSERT_TRUE(bf);  // the DP never invents a plan
    EXPECT_GE(dp->time_ms, bf->time_ms - 1e-9);
    exact += std::abs(dp->time_ms - bf->time_ms) <= 1e-9;
    expect_consistent(inst.problem, *dp);
  }
  EXPECT_GT(feasible, 100);
  EXPECT_GT(exact, feasible / 2);  // coarse buckets lose something, but rarely everything
}

TEST(StageDpProperty, PrefixesEqualSolvingEachPrefix) {
  std::mt19937_64 rng(99);
  for (int iter = 0; iter < 200; ++iter) {
    const RandomInstance inst = random_instance(rng, /*bucket_multiples=*/iter % 2 == 0);
    SCOPED_TRACE("instance " + std::to_string(iter));
    const StageDpOptions opt = buckets(inst.buckets);
    const std::vector<std::optional<StagePlanResult>> all = solve_stage_prefixes(inst.problem, opt);
    ASSERT_EQ(static_cast<int>(all.size()), inst.problem.num_layers());
    for (int n = 1; n <= inst.problem.num_layers(); ++n) {
      const StageProblem prefix = prefix_problem(inst.problem, n);
      const std::optional<StagePlanResult> alone = solve_stage(prefix, opt);
      ASSERT_EQ(all[n - 1].has_value(), alone.has_value()) << n;
      if (!alone) continue;
      EXPECT_EQ(*all[n - 1], *alone) << n;  // same DP, same tie rule: identical plans
      expect_consistent(prefix, *alone);
    }
    EXPECT_EQ(all.back(), solve_stage(inst.problem, opt));
  }
}

// More than 64 switch classes (the changed-class bitmask spans several words) and wide rows.
TEST(StageDpProperty, ManyStrategies) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> real(0, 10);
  std::uniform_int_distribution<int> units(0, 8);
  for (const auto& [layers, strategies] : {std::pair<int, int>{3, 70}, {2, 130}, {3, 65}}) {
    StageProblem p;
    p.time_ms.assign(layers, std::vector<double>(strategies));
    p.memory_bytes = p.time_ms;
    p.transient_bytes = p.time_ms;
    for (int l = 0; l < layers; ++l) {
      for (int s = 0; s < strategies; ++s) {
        p.time_ms[l][s] = real(rng);
        p.memory_bytes[l][s] = 4.0 * units(rng);
        p.transient_bytes[l][s] = s % 7 == 0 ? 4.0 * units(rng) : 0.0;
      }
    }
    p.switch_ms.assign(strategies, std::vector<double>(strategies));
    for (auto& row : p.switch_ms) {
      for (double& v : row) v = real(rng) / 4;
    }
    p.memory_budget_bytes = 4.0 * 12;  // 12 buckets of 4 bytes
    const std::optional<StagePlanResult> bf = brute_force_stage(p);
    const std::optional<StagePlanResult> dp = solve_stage(p, buckets(12));
    ASSERT_TRUE(bf);
    ASSERT_TRUE(dp);
    EXPECT_NEAR(dp->time_ms, bf->time_ms, 1e-9) << layers << " x " << strategies;
    expect_consistent(p, *dp);
  }
}

TEST(StageDpProperty, Deterministic) {
  std::mt19937_64 rng(3);
  for (int iter = 0; iter < 50; ++iter) {
    const RandomInstance inst = random_instance(rng, false);
    EXPECT_EQ(solve_stage_prefixes(inst.problem, buckets(inst.buckets)),
              solve_stage_prefixes(inst.problem, buckets(inst.buckets)));
  }
}

}  // namespace
}  // namespace paratune::search
