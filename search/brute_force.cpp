// Exhaustive enumeration in lexicographic order; only strict improvements are kept.
#include "search/brute_force.h"

#include <cmath>
#include <vector>

namespace paratune::search {

std::optional<StagePlanResult> brute_force_stage(const StageProblem& problem) {
  const Status valid = validate_problem(problem);
  PARATUNE_CHECK_MSG(valid.ok(), valid.message());
  const int layers = problem.num_layers();
  const int strategies = problem.num_strategies();
  PARATUNE_CHECK_MSG(std::pow(strategies, layers) <= kMaxBruteForcePlans,
                     "instance too large for brute force");
  std::optional<StagePlanResult> best;
  std::vector<StrategyIdx> choice(layers, 0);
  for (;;) {
    StagePlanResult r = evaluate_plan(problem, choice);
    if (r.memory_bytes <= problem.memory_budget_bytes && (!best || r.time_ms < best->time_ms)) {
      best = std::move(r);
    }
    int l = layers - 1;  // odometer, last layer fastest: lexicographic order
    while (l >= 0 && choice[l] == strategies - 1) choice[l--] = 0;
    if (l < 0) break;
    ++choice[l];
  }
  return best;
}

namespace {

// Every composition of `left` layers into stages s..P-1 (each >= 1), in lexicographic order.
void enumerate_partitions(const PartitionProblem& problem, int s, int left, std::vector<int>& parts,
                          std::optional<PartitionResult>& best) {
  const int stages = problem.num_stages();
  if (s == stages - 1) {
    parts[s] = left;
    const std::optional<double> t = evaluate_partition(problem, parts);
    if (t && (!best || *t < best->iteration_ms)) {
      PartitionResult r;
      r.layers_per_stage = parts;
      r.iteration_ms = *t;
      for (int i = 0; i < stages; ++i) r.stage_costs.push_back(*problem.costs[i][parts[i] - 1]);
      best = std::move(r);
    }
    return;
  }
  for (int n = 1; n <= left - (stages - 1 - s); ++n) {
    parts[s] = n;
    enumerate_partitions(problem, s + 1, left - n, parts, best);
  }
}

}  // namespace

std::optional<PartitionResult> brute_force_partition(const PartitionProblem& problem) {
  const Status valid = validate_partition_problem(problem);
  PARATUNE_CHECK_MSG(valid.ok(), valid.message());
  if (problem.num_layers() < problem.num_stages()) return std::nullopt;
  std::optional<PartitionResult> best;
  std::vector<int> parts(problem.num_stages(), 0);
  enumerate_partitions(problem, 0, problem.num_layers(), parts, best);
  return best;
}

}  // namespace paratune::search
