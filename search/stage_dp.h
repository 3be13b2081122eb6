// Layer-wise dynamic programming over (layer, memory used, previous strategy) for one stage.
//
// Minimises   sum_l time_ms[l][c_l] + sum_{l>=1} switch_ms[c_{l-1}][c_l]
// subject to  base + sum_l memory_bytes[l][c_l] + max_l transient_bytes[l][c_l] <= budget.
//
// Discretisation (conservative): the free memory F = budget - base is cut into
// `memory_buckets` buckets of size q = F / memory_buckets. Every layer's memory is rounded UP to
// whole buckets and the capacity DOWN, so a plan the DP accepts always fits the real budget; a
// plan using almost all the memory may be rejected. The DP is exact (equals brute force) when
// every memory_bytes and transient_bytes entry is a multiple of q.
//
// Transient memory (a max, not a sum) is handled exactly by an outer loop over the distinct
// transient values T: the DP for cap T allows only strategies with transient <= T and has
// capacity F - T; the answer of a prefix is the best over all T (ties: the lowest T). A cap is
// skipped, or stopped after the last prefix it may still improve, when a lower bound of its value
// (Lagrangian relaxation of the memory limit, see stage_dp.cpp) cannot beat the best found so
// far; caps run most promising first. None of this changes a result.
//
// Determinism: no unordered containers, no threads. Ties (bitwise-equal times) are broken by
// keeping the first candidate reached: the lowest transient cap T; the lowest strategy index at
// the last layer; going backwards, the predecessor that reached that time with the fewest memory
// buckets, then the lowest switch class (classes = strategies with identical switch rows and
// columns, numbered by their lowest member), then the lowest index.
//
// Cost: one DP per distinct transient value that survives the lower-bound tests (plus one
// bounding run over all columns when four or more caps remain), each
// O(L x buckets x (S + K)) plus the switch work on the columns where a class improves
// (strategies dominated in both time and buckets within their switch class are skipped).
// Measured (L = 96, S = 60, 1024 buckets, -O2, one core): ~6 ms without switch costs or with
// 12 switch classes, ~25-30 ms with an arbitrary 60 x 60 switch matrix; times the number of
// distinct transient values that must be run.
//
//   StageDpOptions opt;                        // 1024 buckets
//   PARATUNE_RETURN_IF_ERROR(opt.validate());
//   std::optional<StagePlanResult> plan = solve_stage(problem, opt);
//   if (!plan) return Infeasible("stage does not fit in memory");
#pragma once

#include <optional>
#include <vector>

#include "core/status.h"
#include "search/stage_problem.h"

namespace paratune::search {

/// Options of the layer-wise DP.
struct StageDpOptions {
  /// Buckets the free memory (budget - base) is cut into; default 1024. Time and memory of the
  /// DP grow linearly with it (memory: layers x (buckets + 1) x switch classes x 2 bytes).
  int memory_buckets = 1024;

  static constexpr int kMaxMemoryBuckets = 1 << 16;
  /// 1 <= memory_buckets <= kMaxMemoryBuckets.
  [[nodiscard]] Status validate() const;
};

/// The time-optimal plan of all L layers, or nullopt if none fits (within the discretisation).
/// `problem` must pass validate_problem() and `options` validate() (checked). time_ms is the DP's
/// value, memory_bytes the real peak of the plan (evaluate_plan's formula).
std::optional<StagePlanResult> solve_stage(const StageProblem& problem,
                                           const StageDpOptions& options);

/// result[n - 1] = the optimum of the stage made of the first n layers, n = 1..L, in one pass
/// (solve_stage(problem) == result[L - 1], choices included). Transformer layers are identical,
/// so the best plan for a stage holding n layers is the best prefix of length n.
std::vector<std::optional<StagePlanResult>> solve_stage_prefixes(const StageProblem& problem,
                                                                 const StageDpOptions& options);

/// Like solve_stage_prefixes, for several base memories at once: result[i][n-1] is the best plan
/// of the first n layers when the base memory is bases[i] (problem.base_memory_bytes is ignored;
/// memory_bytes of a plan counts bases[i]). One DP pass per transient cap serves every base: the
/// bucket size is fixed by the smallest base, q = (budget - min(bases)) / memory_buckets, and
/// base i may use C_T(i) = floor((budget - bases[i] - T) / q) buckets, so every returned plan
/// fits its own budget (conservative rounding as before; a base other than the smallest one is
/// rounded on that coarser grid, not on (budget - bases[i]) / memory_buckets).
///
/// Exactness: result[i] equals brute force with base bases[i] whenever every memory_bytes and
/// transient_bytes entry is a multiple of q (the q of the smallest base). More precisely,
/// result[i] is identical (choices and ties included) to solve_stage_prefixes of the problem
/// with base bases[i] whenever that call would use the same q, i.e. when budget - bases[i] is
/// q times its own bucket count; with a single base it is solve_stage_prefixes. Bases must be
/// finite and >= 0 (checked); bases above the budget get no plan. Deterministic.
std::vector<std::vector<std::optional<StagePlanResult>>> solve_stage_prefixes_multi(
    const StageProblem& problem, const std::vector<double>& bases, const StageDpOptions& options);

}  // namespace paratune::search
