// Pipeline partition: how many layers each of the P stages holds (need not be even), minimising
// the real 1F1B iteration time instead of Galvatron's "even split, minimise a sum".
//
// Input per stage s and layer count n (from the per-stage DP): micro_ms (one micro-batch forward
// + backward through the stage) and sync_ms (per-iteration time not overlapped: gradient sync,
// optimizer step), or nullopt when stage s cannot hold n layers. With M micro-batches and a
// partition n_0..n_{P-1} (n_s >= 1, sum = L):
//   T = sum_s micro_ms[s][n_s] + (M - 1) max_s micro_ms[s][n_s] + max_s sync_ms[s][n_s]   (ms)
//
//   PartitionProblem pp;
//   pp.num_micro_batches = 8;
//   pp.costs = {{StageCost{1, 0}, StageCost{2, 0}}, {StageCost{1, 0}, StageCost{2, 0}}};  //
//   P=2,L=2 std::optional<PartitionResult> r = solve_partition(pp);  // r->layers_per_stage == {1,
//   1}
#pragma once

#include <optional>
#include <vector>

#include "core/status.h"

namespace paratune::search {

/// Optimal cost of one stage holding a given number of layers.
struct StageCost {
  double micro_ms = 0;  // one micro-batch forward + backward through the stage, ms
  double sync_ms = 0;   // per-iteration time not overlapped (gradient sync, optimizer), ms

  bool operator==(const StageCost& o) const {
    return micro_ms == o.micro_ms && sync_ms == o.sync_ms;
  }
  bool operator!=(const StageCost& o) const { return !(*this == o); }
};

/// The flat partition problem. P = costs.size() stages, L = costs[s].size() layers.
struct PartitionProblem {
  int num_micro_batches = 1;  // M >= 1
  // costs[s][n - 1]: stage s holding n layers, n = 1..L; nullopt = infeasible (out of memory).
  std::vector<std::vector<std::optional<StageCost>>> costs;

  int num_stages() const { return static_cast<int>(costs.size()); }
  int num_layers() const { return costs.empty() ? 0 : static_cast<int>(costs[0].size()); }
};

/// P >= 1, L >= 1, every row of length L, M >= 1, every present number finite and >= 0.
/// The message names the entry, e.g. "partition problem: costs[1][3].sync_ms is NaN".
[[nodiscard]] Status validate_partition_problem(const PartitionProblem& problem);

/// A partition and its cost.
struct PartitionResult {
  std::vector<int> layers_per_stage;   // n_s >= 1, sum = L
  double iteration_ms = 0;             // T above, ms
  std::vector<StageCost> stage_costs;  // costs[s][n_s - 1] of the chosen partition

  bool operator==(const PartitionResult& o) const {
    return layers_per_stage == o.layers_per_stage && iteration_ms == o.iteration_ms &&
           stage_costs == o.stage_costs;
  }
  bool operator!=(const PartitionResult& o) const { return !(*this == o); }
};

/// T of a partition (formula above), nullopt if a stage's entry is infeasible. A wrong size, a
/// count < 1 or a sum != L is a broken invariant (PARATUNE_CHECK).
std::optional<double> evaluate_partition(const PartitionProblem& problem,
                                         const std::vector<int>& layers_per_stage);

/// The partition minimising T exactly, or nullopt if none is feasible (e.g. L < P).
/// `problem` must pass validate_partition_problem() (checked). Ties (bitwise-equal T): the first
/// optimum met by the deterministic branch and bound (pipeline_partition.cpp), where every
/// constrained sub-problem returns its lexicographically smallest minimum-sum partition; not
/// necessarily the lexicographically smallest optimum overall.
/// Cost: a few DPs of O(L x allowed counts) each on realistic (roughly linear in n) costs, ~1-2 ms
/// for P = 64, L = 128; adversarial random tables can need thousands.
std::optional<PartitionResult> solve_partition(const PartitionProblem& problem);

}  // namespace paratune::search
