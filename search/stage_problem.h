// StageProblem: one pipeline stage's layer-wise strategy choice as a flat, validated numeric
// problem (XLA auto-sharding style: the solver never sees the cost model, only these numbers).
//
// A plan `choice` gives every layer l a strategy choice[l] in 0..S-1 (the same candidate list for
// every layer). Its cost and peak memory are
//   time   = sum_l time_ms[l][c_l] + sum_{l>=1} switch_ms[c_{l-1}][c_l]                    (ms)
//   memory = base_memory_bytes + sum_l memory_bytes[l][c_l] + max_l transient_bytes[l][c_l] (bytes)
// and it is feasible when memory <= memory_budget_bytes.
//
//   StageProblem p;
//   p.time_ms = {{3, 1}, {3, 1}};  p.memory_bytes = {{1, 4}, {1, 4}};
//   p.memory_budget_bytes = 6;
//   PARATUNE_RETURN_IF_ERROR(validate_problem(p));
//   StagePlanResult r = evaluate_plan(p, {1, 0});  // r.time_ms == 4, r.memory_bytes == 5
#pragma once

#include <vector>

#include "core/status.h"
#include "core/units.h"

namespace paratune::search {

/// The flat problem of one stage. L = time_ms.size() layers, S = time_ms[0].size() strategies.
struct StageProblem {
  std::vector<std::vector<double>> time_ms;  // [l][s]: cost of layer l under strategy s, ms >= 0
  // [l][s]: memory layer l adds to the stage peak under s, bytes >= 0; additive across layers.
  std::vector<std::vector<double>> memory_bytes;
  // [l][s]: temporary memory while layer l runs (e.g. ZeRO-3 gathered parameters), bytes >= 0.
  // Only the MAX over layers adds to the peak. Empty = all zero.
  std::vector<std::vector<double>> transient_bytes;
  // [a][b]: cost between consecutive layers with strategies a then b, ms >= 0 (S x S).
  // Empty = all zero.
  std::vector<std::vector<double>> switch_ms;
  double base_memory_bytes = 0;    // fixed memory of the stage (embedding, buffers), bytes
  double memory_budget_bytes = 0;  // limit on base + sum(memory) + max(transient), bytes

  int num_layers() const { return static_cast<int>(time_ms.size()); }
  int num_strategies() const { return time_ms.empty() ? 0 : static_cast<int>(time_ms[0].size()); }
};

/// Checks sizes (L >= 1, S >= 1, every table L x S, switch S x S, optional tables empty or full),
/// and that every number is finite and non-negative. The message names the offending entry,
/// e.g. "stage problem: time_ms[3][7] is NaN".
[[nodiscard]] Status validate_problem(const StageProblem& problem);

/// A plan of a stage and what it costs.
struct StagePlanResult {
  std::vector<StrategyIdx> choice;  // strategy of each layer
  double time_ms = 0;               // time formula above, ms
  double memory_bytes = 0;          // peak memory formula above, bytes

  bool operator==(const StagePlanResult& o) const {
    return choice == o.choice && time_ms == o.time_ms && memory_bytes == o.memory_bytes;
  }
  bool operator!=(const StagePlanResult& o) const { return !(*this == o); }
};

/// Independent evaluator (shares no code with the solvers): recomputes time and peak memory of
/// `choice` from the problem. choice.size() = n with 1 <= n <= L evaluates the stage made of the
/// first n layers (the prefixes solve_stage_prefixes reports). Feasibility is
/// `result.memory_bytes <= problem.memory_budget_bytes`. A wrong size or index is a broken
/// invariant (PARATUNE_CHECK), the problem must be valid.
StagePlanResult evaluate_plan(const StageProblem& problem, const std::vector<StrategyIdx>& choice);

/// The stage made of the first n layers of `problem` (1 <= n <= L), same strategies and budget.
StageProblem prefix_problem(const StageProblem& problem, int n);

}  // namespace paratune::search
