// Exhaustive reference solvers: the oracles the DP and the partition search are tested against.
// Exponential; for tiny instances only (S^L plans, C(L-1, P-1) partitions).
//
//   std::optional<StagePlanResult> ref = brute_force_stage(problem);  // L <= ~8, S <= ~6
#pragma once

#include <optional>

#include "search/pipeline_partition.h"
#include "search/stage_problem.h"

namespace paratune::search {

/// Every plan is scored with evaluate_plan; the feasible one (memory <= budget) with the least
/// time wins, ties to the lexicographically smallest choice. nullopt if none is feasible.
/// Checks (PARATUNE_CHECK) that the problem is valid and S^L <= kMaxBruteForcePlans.
std::optional<StagePlanResult> brute_force_stage(const StageProblem& problem);

/// Every composition of L into P positive parts is scored with evaluate_partition; least T
/// wins, ties to the lexicographically smallest partition. nullopt if none is feasible.
std::optional<PartitionResult> brute_force_partition(const PartitionProblem& problem);

inline constexpr double kMaxBruteForcePlans = 1e7;  // refuse larger enumerations

}  // namespace paratune::search
