// Exact pipeline partition search (problem in pipeline_partition.h).
//
// T(n) = Sum(n) + (M - 1) X(n) + Y(n) with Sum = sum_s micro[s][n_s], X = max_s micro[s][n_s],
// Y = max_s sync[s][n_s]. For bounds (B1, B2) let
//   minsum(B1, B2) = min { Sum(n) : micro[s][n_s] <= B1 and sync[s][n_s] <= B2 for all s },
// solved by a DP over (stage, layers used) restricted to the allowed counts of each stage:
//   h[P][0] = 0,  h[s][k] = min_{n allowed for s} micro[s][n] + h[s+1][k - n],  minsum = h[0][L]
// (suffix form, so the forward reconstruction can take the smallest n first: the
// lexicographically smallest minimum-sum partition). Cost O(L * sum_s |allowed_s|). The same DP
// with max instead of + gives the least possible bottleneck ("minimax").
//
// Every optimal partition n* has X* = some micro value and Y* = some sync value, and
//   T* >= minsum(X*, Y*) + (M - 1) X* + Y*,
// with equality reached by the partition minsum(X*, Y*) returns (its X <= X*, Y <= Y*). So
//   T* = min over candidate pairs (B1, B2) of  minsum(B1, B2) + (M - 1) B1 + B2,
// and every partition the DPs return is scored with its real T. The pairs are searched by
// branch and bound, both levels over sorted distinct candidate values:
//   outer, B1 over the micro values >= X0 (X0 = minimax micro, the least feasible bottleneck):
//     F1(B1) = minsum(B1, inf) and Y1(B1) = minimax sync under micro <= B1 are non-increasing,
//     so for B1 strictly between two evaluated values a < b:  T >= (M - 1) next(a) + F1(b) + Y1(b)
//     (the global minimax sync Ymin stands in for Y1(b) where that was not computed).
//     Intervals whose bound is >= best are dropped, the others are split at the middle.
//   inner, at an evaluated B1, over the sync values in [minimax sync under micro <= B1, Y of
//     the minsum(B1, inf) partition]: responsible only for partitions with X = B1 (the others
//     belong to other B1), so T >= minsum(B1, B2) + (M - 1) B1 + B2 with minsum(B1, .)
//     non-increasing: the same interval bound. When minsum(B1, v) returns a partition with max
//     sync y <= v, minsum is constant on [y, v] and nothing there beats it: the interval shrinks.
// With M = 1 the X term vanishes: the outer level is the single value B1 = inf.
// Deterministic (explicit stacks, fixed split order); only strict improvements are kept, which
// fixes the tie rule stated in the header.
#include "search/pipeline_partition.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

namespace paratune::search {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Status bad(const std::string& what) {
  return InvalidArgument("partition problem: " + what);
}

Status check_value(double v, size_t s, size_t n, const char* field) {
  if (std::isfinite(v) && v >= 0) return Status::Ok();  // the common case builds no string
  std::ostringstream name;
  name << "costs[" << s << "][" << n << "]." << field;
  if (std::isnan(v)) return bad(name.str() + " is NaN");
  if (std::isinf(v)) return bad(name.str() + " is infinite");
  if (v < 0) {
    name << " is negative (" << v << ")";
    return bad(name.str());
  }
  return Status::Ok();
}

// Flat tables, the DPs and the branch and bound of the search.
class PartitionSearch {
 public:
  explicit PartitionSearch(const PartitionProblem& p)
      : stages_(p.num_stages()),
        layers_(p.num_layers()),
        stride_(layers_ + 1),
        extra_(p.num_micro_batches - 1.0),
        micro_(static_cast<size_t>(stages_) * stride_, kInf),
        sync_(static_cast<size_t>(stages_) * stride_, kInf),
        h_(static_cast<size_t>(stages_ + 1) * stride_, kInf),
        offset_(stages_ + 1) {
    for (int s = 0; s < stages_; ++s) {
      for (int n = 1; n <= layers_; ++n) {
        const std::optional<StageCost>& c = p.costs[s][n - 1];
        if (!c) continue;
        micro_[index(s, n)] = c->micro_ms;
        sync_[index(s, n)] = c->sync_ms;
        sync_values_.push_back(c->sync_ms);
      }
    }
    allowed_.reserve(static_cast<size_t>(stages_) * layers_);
    std::sort(sync_values_.begin(), sync_values_.end());
    sync_values_.erase(std::unique(sync_values_.begin(), sync_values_.end()), sync_values_.end());
    f_sync_.assign(sync_values_.size(), kInf);
  }

  // Requires L >= P.
  std::optional<PartitionResult> solve(const PartitionProblem& p) {
    const double x0 = run_dp<true>(kInf, kInf, micro_);
    if (x0 == kInf) return std::nullopt;
    y_min_ = run_dp<true>(kInf, kInf, sync_);
    if (p.num_micro_batches == 1) {
      evaluate_bottleneck(kInf, /*x_term=*/0.0);
    } else {
      std::vector<double> b1;  // candidate micro bottlenecks, ascending
      for (double v : micro_) {
        if (v < kInf && v >= x0) b1.push_back(v);
      }
      std::sort(b1.begin(), b1.end());
      b1.erase(std::unique(b1.begin(), b1.end()), b1.end());
      search_bottlenecks(b1);
    }
    PARATUNE_CHECK(!best_partition_.empty());
    PartitionResult r;
    r.layers_per_stage = best_partition_;
    r.iteration_ms = best_;
    for (int s = 0; s < stages_; ++s) r.stage_costs.push_back(*p.costs[s][best_partition_[s] - 1]);
    return r;
  }

 private:
  size_t index(int s, int n) const { return static_cast<size_t>(s) * stride_ + n; }

  // Outer branch and bound over B1 = b1[i] (see the file comment).
  void search_bottlenecks(const std::vector<double>& b1) {
    std::vector<Bound> f(b1.size());  // at evaluated indices
    auto evaluate = [&](int i) { f[i] = evaluate_bottleneck(b1[i], extra_ * b1[i]); };
    const int last = static_cast<int>(b1.size()) - 1;
    evaluate(0);
    if (last > 0) evaluate(last);
    std::vector<std::pair<int, int>> stack = {{0, last}};
    while (!stack.empty()) {
      const auto [a, b] = stack.back();
      stack.pop_back();
      if (b - a <= 1 || extra_ * b1[a + 1] + f[b].sum + f[b].sync >= best_) continue;
      const int m = a + (b - a) / 2;
      evaluate(m);
      stack.push_back({m, b});
      stack.push_back({a, m});  // popped first: small bottlenecks first
    }
  }

  // Lower bounds of Sum and Y over the partitions with micro <= some B1 (both non-increasing
  // in B1).
  struct Bound {
    double sum = kInf;   // minsum(B1, inf)
    double sync = kInf;  // minimax sync under micro <= B1 (or the global one, a weaker bound)
  };

  // Candidates with micro <= b1 (x_term = (M - 1) b1, or 0 for M = 1).
  Bound evaluate_bottleneck(double b1, double x_term) {
    std::vector<int> partition;
    const double f_hi = min_sum(b1, kInf, &partition);
    if (f_hi == kInf || x_term + f_hi + y_min_ >= best_) return {f_hi, y_min_};
    const double y_hi = max_sync(partition);
    const double y_lo = run_dp<true>(b1, kInf, sync_);
    if (x_term + f_hi + y_lo >= best_) return {f_hi, y_lo};
    // Inner branch and bound over B2 = sync_values_[j], j in [lo, hi].
    const int lo = sync_index(y_lo);
    const int hi = sync_index(y_hi);
    f_sync_[hi] = f_hi;
    if (lo < hi) f_sync_[lo] = min_sum(b1, sync_values_[lo], &partition);
    std::vector<std::pair<int, int>> stack = {{lo, hi}};
    while (!stack.empty()) {
      const auto [a, b] = stack.back();
      stack.pop_back();
      if (b - a <= 1 || x_term + f_sync_[b] + sync_values_[a + 1] >= best_) continue;
      const int m = a + (b - a) / 2;
      const double f = min_sum(b1, sync_values_[m], &partition);
      PARATUNE_CHECK(f < kInf);  // feasible at lo, so at every larger bound
      // minsum is constant on [y, sync_values_[m]]: keep (a, j) with F(j) known, drop (j, m).
      const int j = std::max(a, sync_index(max_sync(partition)));
      f_sync_[m] = f;
      f_sync_[j] = f;
      stack.push_back({m, b});
      stack.push_back({a, j});
    }
    return {f_hi, y_lo};
  }

  // minsum(b1, b2); scores the partition it returns.
  double min_sum(double b1, double b2, std::vector<int>* partition) {
    const double v = run_dp<false>(b1, b2, micro_);
    if (v == kInf) return v;
    reconstruct(partition);
    consider(*partition);
    return v;
  }

  void consider(const std::vector<int>& partition) {
    double sum = 0, max_micro = 0, max_sync = 0;
    for (int s = 0; s < stages_; ++s) {
      const size_t i = index(s, partition[s]);
      sum += micro_[i];
      max_micro = std::max(max_micro, micro_[i]);
      max_sync = std::max(max_sync, sync_[i]);
    }
    const double t = sum + extra_ * max_micro + max_sync;  // evaluate_partition's formula
    if (t < best_) {
      best_ = t;
      best_partition_ = partition;
    }
  }

  double max_sync(const std::vector<int>& partition) const {
    double y = 0;
    for (int s = 0; s < stages_; ++s) y = std::max(y, sync_[index(s, partition[s])]);
    return y;
  }

  int sync_index(double y) const {
    const auto it = std::lower_bound(sync_values_.begin(), sync_values_.end(), y);
    PARATUNE_CHECK(it != sync_values_.end() && *it == y);
    return static_cast<int>(it - sync_values_.begin());
  }

  // Allowed counts of each stage (ascending): present, micro <= b1, sync <= b2.
  void build_allowed(double b1, double b2) {
    allowed_.clear();
    for (int s = 0; s < stages_; ++s) {
      offset_[s] = static_cast<int>(allowed_.size());
      for (int n = 1; n <= layers_ - stages_ + 1; ++n) {
        const size_t i = index(s, n);
        if (micro_[i] < kInf && micro_[i] <= b1 && sync_[i] <= b2) allowed_.push_back(n);
      }
    }
    offset_[stages_] = static_cast<int>(allowed_.size());
  }

  // Suffix DP over the allowed counts; kBottleneck combines with max instead of +. h[0][L].
  template <bool kBottleneck>
  double run_dp(double b1, double b2, const std::vector<double>& table) {
    build_allowed(b1, b2);
    std::fill(h_.begin() + static_cast<std::ptrdiff_t>(stages_) * stride_, h_.end(), kInf);
    h_[static_cast<size_t>(stages_) * stride_] = 0.0;  // no stage left, no layer left
    for (int s = stages_ - 1; s >= 0; --s) {
      const int rest = stages_ - 1 - s;  // stages after s, each needs >= 1 layer
      const int k_lo = s == 0 ? layers_ : stages_ - s;
      const int k_hi = layers_ - s;
      double* hs = h_.data() + static_cast<size_t>(s) * stride_;
      const double* hn = h_.data() + static_cast<size_t>(s + 1) * stride_;
      const double* c = table.data() + static_cast<size_t>(s) * stride_;
      const int* first = allowed_.data() + offset_[s];
      const int* end = allowed_.data() + offset_[s + 1];
      std::fill(hs, hs + stride_, kInf);
      for (int k = k_lo; k <= k_hi; ++k) {
        double best = kInf;
        for (const int* it = first; it != end && *it <= k - rest; ++it) {
          const int n = *it;
          const double v = kBottleneck ? std::max(c[n], hn[k - n]) : c[n] + hn[k - n];
          best = v < best ? v : best;
        }
        hs[k] = best;
      }
    }
    return h_[layers_];
  }

  // Lexicographically smallest partition attaining h[0][L] of the last sum DP.
  void reconstruct(std::vector<int>* partition) const {
    partition->assign(stages_, 0);
    int k = layers_;
    for (int s = 0; s < stages_; ++s) {
      const int rest = stages_ - 1 - s;
      const double target = h_[static_cast<size_t>(s) * stride_ + k];
      const double* hn = h_.data() + static_cast<size_t>(s + 1) * stride_;
      const double* c = micro_.data() + static_cast<size_t>(s) * stride_;
      int chosen = 0;
      for (int i = offset_[s]; i < offset_[s + 1]; ++i) {
        const int n = allowed_[i];
        if (n > k - rest) break;
        if (c[n] + hn[k - n] == target) {
          chosen = n;
          break;
        }
      }
      PARATUNE_CHECK(chosen > 0);
      (*partition)[s] = chosen;
      k -= chosen;
    }
    PARATUNE_CHECK(k == 0);
  }

  const int stages_;
  const int layers_;
  const int stride_;           // L + 1: tables are indexed [s * stride + n], n = 1..L
  const double extra_;         // M - 1
  std::vector<double> micro_;  // inf where infeasible
  std::vector<double> sync_;   // inf where infeasible
  std::vector<double> h_;      // DP table [s * stride + k], s = 0..P
  std::vector<int> allowed_;   // allowed counts, stage s at [offset_[s], offset_[s + 1])
  std::vector<int> offset_;
  std::vector<double> sync_values_;  // distinct sync values, ascending
  std::vector<double> f_sync_;       // inner-level minsum at evaluated sync indices
  double y_min_ = 0;                 // minimax sync
  double best_ = kInf;
  std::vector<int> best_partition_;
};

}  // namespace

Status validate_partition_problem(const PartitionProblem& p) {
  if (p.num_micro_batches < 1) {
    return bad("num_micro_batches must be >= 1, got " + std::to_string(p.num_micro_batches));
  }
  if (p.costs.empty()) return bad("costs is empty (need at least one stage)");
  const size_t layers = p.costs[0].size();
  if (layers == 0) return bad("costs[0] is empty (need at least one layer)");
  for (size_t s = 0; s < p.costs.size(); ++s) {
    if (p.costs[s].size() != layers) {
      return bad("costs[" + std::to_string(s) + "] has " + std::to_string(p.costs[s].size()) +
                 " entries, expected " + std::to_string(layers));
    }
    for (size_t n = 0; n < layers; ++n) {
      if (!p.costs[s][n]) continue;
      PARATUNE_RETURN_IF_ERROR(check_value(p.costs[s][n]->micro_ms, s, n, "micro_ms"));
      PARATUNE_RETURN_IF_ERROR(check_value(p.costs[s][n]->sync_ms, s, n, "sync_ms"));
    }
  }
  return Status::Ok();
}

std::optional<double> evaluate_partition(const PartitionProblem& p,
                                         const std::vector<int>& layers_per_stage) {
  PARATUNE_CHECK_MSG(static_cast<int>(layers_per_stage.size()) == p.num_stages(),
                     "one layer count per stage");
  double sum = 0, max_micro = 0, max_sync = 0;
  int total = 0;
  for (int s = 0; s < p.num_stages(); ++s) {
    const int n = layers_per_stage[s];
    PARATUNE_CHECK_MSG(n >= 1 && n <= p.num_layers(), "layer count out of range");
    total += n;
    const std::optional<StageCost>& c = p.costs[s][n - 1];
    if (!c) return std::nullopt;
    sum += c->micro_ms;
    max_micro = std::max(max_micro, c->micro_ms);
    max_sync = std::max(max_sync, c->sync_ms);
  }
  PARATUNE_CHECK_MSG(total == p.num_layers(), "layer counts must sum to the number of layers");
  return sum + (p.num_micro_batches - 1) * max_micro + max_sync;
}

std::optional<PartitionResult> solve_partition(const PartitionProblem& p) {
  const Status valid = validate_partition_problem(p);
  PARATUNE_CHECK_MSG(valid.ok(), valid.message());
  if (p.num_layers() < p.num_stages()) return std::nullopt;
  PartitionSearch search(p);
  return search.solve(p);
}

}  // namespace paratune::search
