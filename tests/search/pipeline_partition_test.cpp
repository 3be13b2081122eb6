// Pipeline partition: golden problems, validation, and a seeded property against brute force
// over all compositions.
#include "search/pipeline_partition.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <string>

#include "search/brute_force.h"

namespace paratune::search {
namespace {

using Row = std::vector<std::optional<StageCost>>;

// micro[n-1], sync[n-1] per stage; a negative micro marks an infeasible entry.
Row row(const std::vector<double>& micro, const std::vector<double>& sync) {
  Row r;
  for (size_t i = 0; i < micro.size(); ++i) {
    if (micro[i] < 0) {
      r.push_back(std::nullopt);
    } else {
      r.push_back(StageCost{micro[i], sync[i]});
    }
  }
  return r;
}

// Stage 0 is 3x slower per layer than stage 1 (e.g. it also holds the embedding work).
// L = 4, M = 4:  even [2, 2]: 6 + 2 + 3 * 6 = 26;  [1, 3]: 3 + 3 + 3 * 3 = 15;  [3, 1]: 37.
TEST(PartitionGolden, UnevenSplitBeatsEven) {
  PartitionProblem p;
  p.num_micro_batches = 4;
  p.costs = {row({3, 6, 9, 12}, {0, 0, 0, 0}), row({1, 2, 3, 4}, {0, 0, 0, 0})};
  const std::optional<PartitionResult> r = solve_partition(p);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->layers_per_stage, (std::vector<int>{1, 3}));
  EXPECT_DOUBLE_EQ(r->iteration_ms, 15.0);
  EXPECT_EQ(r->stage_costs, (std::vector<StageCost>{{3, 0}, {3, 0}}));
  EXPECT_DOUBLE_EQ(*evaluate_partition(p, {2, 2}), 26.0);
  EXPECT_DOUBLE_EQ(*evaluate_partition(p, {3, 1}), 37.0);
}

// Equal micro costs; stage 1 holding a single layer pays a 10 ms sync.
// L = 3, M = 2: [1, 2]: 3 + 2 + max(0, 1) = 6;  [2, 1]: 3 + 2 + max(0, 10) = 15.
TEST(PartitionGolden, SyncBottleneckDecides) {
  PartitionProblem p;
  p.num_micro_batches = 2;
  p.costs = {row({1, 2, 3}, {0, 0, 0}), row({1, 2, 3}, {10, 1, 1})};
  const std::optional<PartitionResult> r = solve_partition(p);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->layers_per_stage, (std::vector<int>{1, 2}));
  EXPECT_DOUBLE_EQ(r->iteration_ms, 6.0);
}

// With one micro-batch T = sum + max sync: a sync of 5 on stage 0 with 2 layers, 0 with 1.
// L = 3, M = 1: [1, 2]: 1 + 4 + 0 = 5;  [2, 1]: 2 + 1 + 5 = 8.
TEST(PartitionGolden, SingleMicroBatch) {
  PartitionProblem p;
  p.num_micro_batches = 1;
  p.costs = {row({1, 2, 9}, {0, 5, 5}), row({1, 4, 9}, {0, 0, 0})};
  const std::optional<PartitionResult> r = solve_partition(p);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->layers_per_stage, (std::vector<int>{1, 2}));
  EXPECT_DOUBLE_EQ(r->iteration_ms, 5.0);
}

// Stage 0 cannot hold more than one layer (out of memory): the slow split is forced.
TEST(PartitionGolden, InfeasibleEntriesForceTheSplit) {
  PartitionProblem p;
  p.num_micro_batches = 3;
  p.costs = {row({1, -1, -1, -1}, {0, 0, 0, 0}), row({5, 5, 5, 100}, {0, 0, 0, 0})};
  std::optional<PartitionResult> r = solve_partition(p);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->layers_per_stage, (std::vector<int>{1, 3}));
  EXPECT_DOUBLE_EQ(r->iteration_ms, 1 + 5 + 2 * 5);
  EXPECT_FALSE(evaluate_partition(p, {2, 2}));

  p.costs[1][2] = std::nullopt;  // now nothing fits
  EXPECT_FALSE(solve_partition(p));
  EXPECT_FALSE(brute_force_partition(p));
}

TEST(PartitionGolden, FewerLayersThanStages) {
  PartitionProblem p;
  p.costs = {row({1}, {0}), row({1}, {0})};  // P = 2, L = 1
  EXPECT_FALSE(solve_partition(p));
  EXPECT_FALSE(brute_force_partition(p));
}

TEST(PartitionGolden, SingleStage) {
  PartitionProblem p;
  p.num_micro_batches = 4;
  p.costs = {row({1, 2, 3}, {0.5, 0.5, 0.5})};
  const std::optional<PartitionResult> r = solve_partition(p);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->layers_per_stage, (std::vector<int>{3}));
  EXPECT_DOUBLE_EQ(r->iteration_ms, 3 + 3 * 3 + 0.5);
}

// ------------------------------------------------------------------------------ validation

void expect_rejected(const PartitionProblem& p, const std::string& needle) {
  const Status st = validate_partition_problem(p);
  ASSERT_FALSE(st.ok()) << needle;
  EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
}

TEST(PartitionValidate, NamesTheOffendingEntry) {
  PartitionProblem p;
  p.num_micro_batches = 2;
  p.costs = {row({1, 2}, {0, 0}), row({1, 2}, {0, 0})};
  EXPECT_TRUE(validate_partition_problem(p).ok());
  PartitionProblem q = p;
  q.costs[1][1]->sync_ms = std::numeric_limits<double>::quiet_NaN();
  expect_rejected(q, "costs[1][1].sync_ms is NaN");
  q = p;
  q.costs[0][1]->micro_ms = -1;
  expect_rejected(q, "costs[0][1].micro_ms is negative");
  q = p;
  q.costs[1].pop_back();
  expect_rejected(q, "costs[1] has 1 entries, expected 2");
  q = p;
  q.num_micro_batches = 0;
  expect_rejected(q, "num_micro_batches");
  expect_rejected(PartitionProblem{}, "costs is empty");
}

// -------------------------------------------------------------------------- property

// P 1..max_stages, L P..max_layers, M 1..5 (or 8, 32); per stage micro and sync either roughly
// linear in n (the realistic shape) or arbitrary; ~15% infeasible entries; integer costs
// sometimes (ties).
PartitionProblem random_partition_problem(std::mt19937_64& rng, int max_stages, int max_layers) {
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto real = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  PartitionProblem p;
  const int stages = uni(1, max_stages);
  const int layers = uni(stages, max_layers);
  const int micro_batches[] = {1, 2, 3, 4, 5, 8, 32};
  p.num_micro_batches = micro_batches[uni(0, 6)];
  const bool integer = uni(0, 2) == 0;
  const bool linear = uni(0, 1) == 0;
  auto value = [&](double hi) { return integer ? double(uni(0, int(hi))) : real(0, hi); };
  p.costs.assign(stages, Row(layers));
  for (int s = 0; s < stages; ++s) {
    const double per_layer = value(4) + 0.5;
    const double fixed = value(3);
    const double sync_per_layer = value(2);
    for (int n = 1; n <= layers; ++n) {
      if (uni(0, 6) == 0) continue;  // infeasible
      StageCost c;
      c.micro_ms = linear ? fixed + per_layer * n : value(10);
      c.sync_ms = linear ? sync_per_layer * n + value(1) : value(6);
      p.costs[s][n - 1] = c;
    }
  }
  return p;
}

void expect_equals_brute_force(int iterations, int max_stages, int max_layers, unsigned seed) {
  std::mt19937_64 rng(seed);
  int feasible = 0, infeasible = 0;
  for (int iter = 0; iter < iterations; ++iter) {
    const PartitionProblem p = random_partition_problem(rng, max_stages, max_layers);
    SCOPED_TRACE("instance " + std::to_string(iter));
    ASSERT_TRUE(validate_partition_problem(p).ok());
    const std::optional<PartitionResult> bf = brute_force_partition(p);
    const std::optional<PartitionResult> r = solve_partition(p);
    ASSERT_EQ(bf.has_value(), r.has_value());
    if (!r) {
      ++infeasible;
      continue;
    }
    ++feasible;
    EXPECT_NEAR(r->iteration_ms, bf->iteration_ms, 1e-9);
    const std::optional<double> t = evaluate_partition(p, r->layers_per_stage);
    ASSERT_TRUE(t);
    EXPECT_EQ(*t, r->iteration_ms);
    ASSERT_EQ(r->stage_costs.size(), r->layers_per_stage.size());
    for (size_t s = 0; s < r->stage_costs.size(); ++s) {
      EXPECT_EQ(r->stage_costs[s], *p.costs[s][r->layers_per_stage[s] - 1]);
    }
    EXPECT_EQ(*r, *solve_partition(p));  // deterministic
  }
  EXPECT_GT(feasible, iterations / 2);
  EXPECT_GT(infeasible, iterations / 100);
}

TEST(PartitionProperty, EqualsBruteForce) {
  expect_equals_brute_force(600, 4, 8, 424242);
}

// Larger instances, where the branch and bound actually prunes and splits intervals.
TEST(PartitionProperty, EqualsBruteForceLarger) {
  expect_equals_brute_force(300, 6, 16, 1717);
}

}  // namespace
}  // namespace paratune::search
