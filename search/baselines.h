// Baseline planners on the same estimator, so every searched plan can be compared to them:
//   pure DP      pp 1, every layer tp 1 / dp N / DDP
//   ZeRO-3 only  pp 1, every layer tp 1 / dp N / ZeRO-3
//   Megatron     TP inside a node (tp = devices per island, capped by what the heads allow),
//                PP across nodes (pp = islands used), DP for the rest, even stages; full
//                activation checkpointing is switched on when the plan does not fit without.
// Each tries every micro-batch count (dividing the batch, at most max) and keeps the fastest
// plan that fits; a baseline with no fitting plan says so.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "search/planner.h"

namespace paratune::search {

struct BaselineResult {
  std::string name;                       // "pure-dp" | "zero3" | "megatron"
  std::optional<Strategy> strategy;       // nullopt: nothing fits
  std::optional<estimator::PlanEstimate> estimate;
  std::string why_not;                    // when nothing fits
};

/// All three baselines for the global batch `batch`.
std::vector<BaselineResult> run_baselines(const ModelConfig& model, const ClusterProfile& cluster,
                                          const ModelProfile& profile,
                                          const SearchOptions& options, int num_devices,
                                          int batch);

}  // namespace paratune::search
