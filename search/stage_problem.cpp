// Validation and the reference evaluator of StageProblem (formulas in stage_problem.h).
#include "search/stage_problem.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

namespace paratune::search {
namespace {

Status bad(const std::string& what) {
  return InvalidArgument("stage problem: " + what);
}

// A finite, non-negative number, or an error naming it (`name`, or `name[i][j]` with i >= 0).
Status check_value(double v, const char* name, long i = -1, long j = -1) {
  if (std::isfinite(v) && v >= 0) return Status::Ok();  // the common case builds no string
  std::ostringstream os;
  os << name;
  if (i >= 0) os << "[" << i << "][" << j << "]";
  if (std::isnan(v)) {
    os << " is NaN";
  } else if (std::isinf(v)) {
    os << " is infinite";
  } else {
    os << " is negative (" << v << ")";
  }
  return bad(os.str());
}

// rows x cols table (or, with `optional`, an empty one) of finite non-negative numbers.
Status check_table(const std::vector<std::vector<double>>& t, const char* name, size_t rows,
                   size_t cols, bool optional) {
  if (optional && t.empty()) return Status::Ok();
  if (t.size() != rows) {
    std::ostringstream os;
    os << name << " has " << t.size() << " rows, expected " << rows;
    if (optional) os << " (or none)";
    return bad(os.str());
  }
  for (size_t i = 0; i < rows; ++i) {
    if (t[i].size() != cols) {
      std::ostringstream os;
      os << name << "[" << i << "] has " << t[i].size() << " entries, expected " << cols;
      return bad(os.str());
    }
    for (size_t j = 0; j < cols; ++j) {
      PARATUNE_RETURN_IF_ERROR(
          check_value(t[i][j], name, static_cast<long>(i), static_cast<long>(j)));
    }
  }
  return Status::Ok();
}

}  // namespace

Status validate_problem(const StageProblem& p) {
  if (p.time_ms.empty()) return bad("time_ms is empty (need at least one layer)");
  if (p.time_ms[0].empty()) return bad("time_ms[0] is empty (need at least one strategy)");
  const size_t layers = p.time_ms.size();
  const size_t strategies = p.time_ms[0].size();
  PARATUNE_RETURN_IF_ERROR(check_table(p.time_ms, "time_ms", layers, strategies, false));
  PARATUNE_RETURN_IF_ERROR(check_table(p.memory_bytes, "memory_bytes", layers, strategies, false));
  PARATUNE_RETURN_IF_ERROR(
      check_table(p.transient_bytes, "transient_bytes", layers, strategies, true));
  PARATUNE_RETURN_IF_ERROR(check_table(p.switch_ms, "switch_ms", strategies, strategies, true));
  PARATUNE_RETURN_IF_ERROR(check_value(p.base_memory_bytes, "base_memory_bytes"));
  PARATUNE_RETURN_IF_ERROR(check_value(p.memory_budget_bytes, "memory_budget_bytes"));
  return Status::Ok();
}

StagePlanResult evaluate_plan(const StageProblem& p, const std::vector<StrategyIdx>& choice) {
  const int n = static_cast<int>(choice.size());
  PARATUNE_CHECK_MSG(n >= 1 && n <= p.num_layers(), "plan length must be in 1..num_layers");
  StagePlanResult r;
  r.choice = choice;
  double sum_memory = 0;
  double max_transient = 0;
  for (int l = 0; l < n; ++l) {
    const StrategyIdx s = choice[l];
    PARATUNE_CHECK_MSG(s >= 0 && s < p.num_strategies(), "strategy index out of range");
    r.time_ms += p.time_ms[l][s];
    if (l > 0 && !p.switch_ms.empty()) r.time_ms += p.switch_ms[choice[l - 1]][s];
    sum_memory += p.memory_bytes[l][s];
    if (!p.transient_bytes.empty())
      max_transient = std::max(max_transient, p.transient_bytes[l][s]);
  }
  r.memory_bytes = p.base_memory_bytes + sum_memory + max_transient;
  return r;
}

StageProblem prefix_problem(const StageProblem& p, int n) {
  PARATUNE_CHECK_MSG(n >= 1 && n <= p.num_layers(), "prefix length must be in 1..num_layers");
  StageProblem q = p;
  q.time_ms.resize(n);
  q.memory_bytes.resize(n);
  if (!q.transient_bytes.empty()) q.transient_bytes.resize(n);
  return q;
}

}  // namespace paratune::search
