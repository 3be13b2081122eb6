// Layer-wise DP of one stage (problem and guarantees in stage_dp.h).
//
// Notation: L layers, S strategies, F = budget - base (bytes), B = memory_buckets,
// q = F / B (bytes per bucket). For a transient cap T (one of the distinct transient values):
//   C_T      = max { k <= B : k q <= F - T }              capacity in buckets (rounded down)
//   w[l][s]  = min { k : k q >= memory_bytes[l][s] }     layer memory in buckets (rounded up)
//   allowed(l, s)  <=>  transient_bytes[l][s] <= T  and  w[l][s] <= C_T
// so an accepted plan has base + sum memory + max transient <= base + C_T q + T <= budget.
//
// dp[l][u][s] = least time (ms) of layers 0..l with layer l under s, using AT MOST u buckets
// (u = 0..C_T). Being "at most u", dp is non-increasing in u.
//   dp[0][u][s] = time[0][s]                                   if allowed(0, s) and u >= w[0][s]
//   g[l][u][s]  = min_p ( dp[l][u][p] + switch[p][s] )          (best predecessor, per column u)
//   dp[l][u][s] = time[l][s] + g[l-1][u - w[l][s]][s]            if allowed(l, s) and u >= w[l][s]
//   (inf otherwise). Prefix n = l + 1 costs min_s dp[l][C_T][s]; the answer is the min over T.
//
// Making it fast (the switch step is S x S per column, the hot part):
//  * switch classes: strategies with identical switch rows and columns (same layout, different
//    dp_type / checkpointing) are merged; g only depends on the class of s, and the min over p
//    becomes a min over classes of h[l][u][c] = min_{s in c} dp[l][u][s]. No switch costs: one
//    class. The work per column drops from S x S to K x K (K classes).
//  * monotone columns: because h[l][u][.] <= h[l][u-1][.],
//      g[l][u][c'] = min( g[l][u-1][c'],  min_{c : h[l][u][c] < h[l][u-1][c]} h[l][u][c] +
//      sw[c][c'] )
//    so only the classes whose value dropped at column u (the Pareto points of (memory, time))
//    are scanned, found from a bitmask; one whose value plus its cheapest switch is not below
//    the largest g of the column is skipped; the scan itself is SIMD and branch-free.
//  * dp is never stored: each dp value is folded into h as it is produced (contiguous in u).
//  * transient caps whose lower bound cannot beat the best found so far for any wanted prefix
//    are not run. Two bounds, the larger counts: a memory-free one (Lagrangian relaxation over
//    the cap's strategies) and the DP with every strategy allowed, read at the cap's capacity
//    (one extra run of all columns serves every cap). On the 96-layer x 1024-device bench the
//    second bound cut the caps run from 77% to 27% of those kept (5.5 s -> 2.6-3.4 s).
//
// Reconstruction: arg[l][u][c'] = the predecessor strategy that gave g[l][u][c'] (2 bytes per
// entry): the first reached in u, then the lowest class, then the lowest index in the class.
// From (layer n-1, u = C_T, lowest optimal s) walk back: u -= w[l][s], s = arg[l-1][u][class(s)].
// Cost per cap that is run: O(L (C_T + 1) (S + K) + changed classes x K) time,
// O(L (C_T + 1) K) bytes x 2 for arg, O((C_T + 1) K) doubles of working arrays.
#include "search/stage_dp.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace paratune::search {

Status StageDpOptions::validate() const {
  if (memory_buckets < 1 || memory_buckets > kMaxMemoryBuckets) {
    return InvalidArgument("stage dp options: memory_buckets must be in 1.." +
                           std::to_string(kMaxMemoryBuckets) + ", got " +
                           std::to_string(memory_buckets));
  }
  return Status::Ok();
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
using ArgIdx = std::uint16_t;  // predecessor strategy in the reconstruction table

// Bucket arithmetic on q = free / buckets; products are checked so the rounding directions hold
// in floating point too.
struct BucketGrid {
  double q = 0;     // bytes per bucket (0 when there is no free memory)
  int buckets = 0;  // B

  // Smallest k with k q >= bytes, or limit + 1 if that exceeds limit.
  int up(double bytes, int limit) const {
    if (bytes <= 0) return 0;
    if (q <= 0) return limit + 1;
    const double k = std::ceil(bytes / q);
    if (k > limit + 1.0) return limit + 1;
    int ki = static_cast<int>(k);
    while (ki > 0 && (ki - 1) * q >= bytes) --ki;
    while (ki <= limit && ki * q < bytes) ++ki;
    return std::min(ki, limit + 1);
  }
  // Largest k <= buckets with k q <= bytes, or -1 if bytes < 0.
  int down(double bytes) const {
    if (bytes < 0) return -1;
    if (q <= 0) return 0;
    int ki = static_cast<int>(std::min<double>(buckets, std::floor(bytes / q)));
    while (ki > 0 && ki * q > bytes) --ki;
    while (ki < buckets && (ki + 1) * q <= bytes) ++ki;
    return ki;
  }
};

// Flattened problem, built once per solve. Strategies with identical switch rows AND columns
// form one switch class (e.g. the same (tp, dp, placement) with different dp_type or
// checkpointing): switch_ms[p][s] = class_switch[class_of[p]][class_of[s]]. Without switch costs
// there is a single class.
struct FlatProblem {
  int layers = 0;
  int strategies = 0;
  std::vector<double> time;          // [l * S + s]
  std::vector<double> memory;        // [l * S + s]
  std::vector<double> transient;     // [l * S + s], zeros when absent
  int classes = 1;                   // K
  std::vector<int> class_of;         // [s], classes numbered by their lowest member
  std::vector<double> class_switch;  // [c * K + c']
};

FlatProblem flatten(const StageProblem& p) {
  FlatProblem f;
  f.layers = p.num_layers();
  f.strategies = p.num_strategies();
  const int n_s = f.strategies;
  const size_t n = static_cast<size_t>(f.layers) * n_s;
  f.time.reserve(n);
  f.memory.reserve(n);
  f.transient.assign(n, 0.0);
  for (int l = 0; l < f.layers; ++l) {
    f.time.insert(f.time.end(), p.time_ms[l].begin(), p.time_ms[l].end());
    f.memory.insert(f.memory.end(), p.memory_bytes[l].begin(), p.memory_bytes[l].end());
    if (!p.transient_bytes.empty()) {
      std::copy(p.transient_bytes[l].begin(), p.transient_bytes[l].end(),
                f.transient.begin() + static_cast<size_t>(l) * n_s);
    }
  }
  f.class_of.assign(n_s, 0);
  if (p.switch_ms.empty()) {
    f.class_switch = {0.0};
    return f;
  }
  const auto& sw = p.switch_ms;
  auto same = [&](int a, int b) {
    for (int x = 0; x < n_s; ++x) {
      if (sw[a][x] != sw[b][x] || sw[x][a] != sw[x][b]) return false;
    }
    return true;
  };
  std::vector<int> reps;  // lowest member of each class
  for (int s = 0; s < n_s; ++s) {
    int c = 0;
    while (c < static_cast<int>(reps.size()) && !same(reps[c], s)) ++c;
    if (c == static_cast<int>(reps.size())) reps.push_back(s);
    f.class_of[s] = c;
  }
  f.classes = static_cast<int>(reps.size());
  for (int a : reps) {
    for (int b : reps) f.class_switch.push_back(sw[a][b]);
  }
  return f;
}

// Best of every prefix for one base over all transient caps, filled cap by cap. Caps may be run
// in any order: a cap replaces the best of a prefix when its value is lower, or equal with a
// lower cap rank (the ascending position of its transient value), so the result is the
// lexicographic minimum of (time, cap rank), i.e. what running the caps in ascending order and
// keeping strict improvements gives.
struct PrefixBest {
  std::vector<double> time;                      // [n - 1], inf = none yet
  std::vector<int> rank;                         // [n - 1], cap rank of the best
  std::vector<std::vector<StrategyIdx>> choice;  // [n - 1]
};

inline int count_trailing_zeros(std::uint64_t m) {
#if defined(__GNUC__)
  return __builtin_ctzll(m);
#else
  int n = 0;
  while (!(m & 1)) {
    m >>= 1;
    ++n;
  }
  return n;
#endif
}

// g[d] = min(g[d], x + row[d]) for d in [0, n), n even; where it drops, ga[d] = p. Returns the
// new max of g. Branch-free; SSE2 (baseline on x86-64) when available.
inline double relax_row(double* g, double* ga, const double* row, double x, double p, int n) {
#if defined(__SSE2__)
  const __m128d xv = _mm_set1_pd(x);
  const __m128d pv = _mm_set1_pd(p);
  __m128d mx = _mm_set1_pd(-std::numeric_limits<double>::infinity());
  for (int d = 0; d < n; d += 2) {
    const __m128d v = _mm_add_pd(xv, _mm_loadu_pd(row + d));
    const __m128d old = _mm_loadu_pd(g + d);
    const __m128d better = _mm_cmplt_pd(v, old);
    const __m128d now = _mm_min_pd(v, old);  // v < old ? v : old
    _mm_storeu_pd(g + d, now);
    mx = _mm_max_pd(mx, now);
    const __m128d a = _mm_loadu_pd(ga + d);
    _mm_storeu_pd(ga + d, _mm_or_pd(_mm_and_pd(better, pv), _mm_andnot_pd(better, a)));
  }
  return std::max(_mm_cvtsd_f64(mx), _mm_cvtsd_f64(_mm_unpackhi_pd(mx, mx)));
#else
  double mx = -std::numeric_limits<double>::infinity();
  for (int d = 0; d < n; ++d) {
    const double v = x + row[d];
    const bool better = v < g[d];
    g[d] = better ? v : g[d];
    ga[d] = better ? p : ga[d];
    mx = std::max(mx, g[d]);
  }
  return mx;
#endif
}

// h[i] = min(h[i], t + g[i]) for i in [0, n). Exact (min of the same sums), so the SIMD and the
// scalar paths agree bit for bit.
inline void relax_shifted(double* h, const double* g, double t, int n) {
  int i = 0;
#if defined(__SSE2__)
  const __m128d tv = _mm_set1_pd(t);
  for (; i + 4 <= n; i += 4) {
    const __m128d v0 = _mm_add_pd(tv, _mm_loadu_pd(g + i));
    const __m128d v1 = _mm_add_pd(tv, _mm_loadu_pd(g + i + 2));
    _mm_storeu_pd(h + i, _mm_min_pd(v0, _mm_loadu_pd(h + i)));
    _mm_storeu_pd(h + i + 2, _mm_min_pd(v1, _mm_loadu_pd(h + i + 2)));
  }
#endif
  for (; i < n; ++i) h[i] = std::min(h[i], t + g[i]);
}

// h[i] = min(h[i], t) for i in [0, n).
inline void relax_constant(double* h, double t, int n) {
  for (int i = 0; i < n; ++i) h[i] = std::min(h[i], t);
}

// The DP for one transient cap, on per-class arrays (K classes):
//   h[c][u]  = min_{s in class c} dp[l][u][s]
//   g[c'][u] = min_c h[c][u] + class_switch[c][c']   (arg: the strategy p that gave it)
// dp itself is never stored: dp[l][u][s] = time[l][s] + g[class_of[s]][u - w[l][s]] is folded
// into h as it is produced; the strategy behind an h entry is recovered on demand (lowest index
// reproducing the value), so the hot loops carry no indices. h and g are class-major (contiguous
// in u) for that fold; the switch step sweeps u with one working column of g. g is
// double-buffered because the recovery for layer l needs the g its h was built from.
//
// One run serves several capacities (one per base memory): the columns u <= C of a run with more
// columns are exactly those of a run with C + 1 columns, arg included (column u only depends on
// columns <= u), so each base reads its own last column.
class CappedDp {
 public:
  CappedDp(const FlatProblem& fp, int max_columns)
      : fp_(fp),
        s_(fp.strategies),
        k_(fp.classes),
        kp_((fp.classes + 1) / 2 * 2),
        w_(static_cast<size_t>(fp.layers) * s_),
        useful_(static_cast<size_t>(fp.layers) * s_),
        useful_end_(fp.layers),
        h_(static_cast<size_t>(max_columns) * k_),
        g_in_(static_cast<size_t>(max_columns) * k_),
        g_out_(static_cast<size_t>(max_columns) * k_),
        g_col_(kp_),
        ga_col_(kp_),
        changed_(static_cast<size_t>(max_columns) * ((k_ + 63) / 64)),
        arg_(new ArgIdx[static_cast<size_t>(std::max(fp.layers - 1, 0)) * max_columns * k_]),
        switch_(static_cast<size_t>(k_) * kp_, kInf),
        row_min_(k_, kInf),
        member_offset_(k_ + 1, 0),
        lb_(k_),
        lb_next_(k_),
        lb_pre_(k_) {
    for (int c = 0; c < k_; ++c) {
      for (int d = 0; d < k_; ++d) {
        switch_[static_cast<size_t>(c) * kp_ + d] = sw(c, d);
        row_min_[c] = std::min(row_min_[c], sw(c, d));
      }
    }
    for (int s = 0; s < s_; ++s) ++member_offset_[fp.class_of[s] + 1];
    for (int c = 0; c < k_; ++c) member_offset_[c + 1] += member_offset_[c];
    members_.resize(s_);
    std::vector<int> fill(member_offset_.begin(), member_offset_.end() - 1);
    for (int s = 0; s < s_; ++s) members_[fill[fp.class_of[s]]++] = s;  // ascending per class
  }

  // Layer memories for transient cap `cap`: strategies with a larger transient, or needing more
  // than `limit` buckets, get limit + 1 (never allowed in a run of at most limit + 1 columns).
  void set_cap(const BucketGrid& grid, double cap, int limit) {
    for (size_t i = 0; i < w_.size(); ++i) {
      w_[i] = fp_.transient[i] <= cap ? grid.up(fp_.memory[i], limit) : limit + 1;
    }
    limit_ = limit;
  }

  // Lower bounds of every prefix under the current cap, one row of L per capacity:
  // lb[i * L + l] <= the DP's value of prefix l + 1 with capacity[i] buckets (capacity < 0: inf).
  // Lagrangian relaxation of the bucket limit: for any lambda >= 0 the memory-free optimum of
  // time + lambda * buckets, minus lambda * C, is a lower bound; lambda = 0 is evaluated with the
  // DP's own association of sums (so it is a bound in floating point too), lambda > 0 keeps a
  // relative margin of 1e-9 for rounding. The lambdas are the slopes of the lower convex hull of
  // layer 0's (buckets, time) points (where the optimum over lambda lies when layers are
  // identical and there are no switch costs; any choice is a valid bound).
  void lower_bounds(const std::vector<int>& capacity, std::vector<double>& lb) {
    const int layers = fp_.layers;
    const int bases = static_cast<int>(capacity.size());
    lb.assign(static_cast<size_t>(bases) * layers, -kInf);
    hull_slopes();
    for (double lambda : lambdas_) {
      for (int l = 0; l < layers; ++l) {
        const double* t = fp_.time.data() + static_cast<size_t>(l) * s_;
        const int* w = w_.data() + static_cast<size_t>(l) * s_;
        for (int d = 0; d < k_; ++d) {
          lb_pre_[d] = 0;
          if (l == 0) continue;
          lb_pre_[d] = kInf;
          for (int c = 0; c < k_; ++c) lb_pre_[d] = std::min(lb_pre_[d], lb_[c] + sw(c, d));
        }
        std::fill(lb_next_.begin(), lb_next_.end(), kInf);
        double layer_min = kInf;
        for (int s = 0; s < s_; ++s) {
          if (w[s] > limit_) continue;
          const int c = fp_.class_of[s];
          const double v = lambda > 0 ? (t[s] + lambda * w[s]) + lb_pre_[c] : t[s] + lb_pre_[c];
          lb_next_[c] = std::min(lb_next_[c], v);
          layer_min = std::min(layer_min, lb_next_[c]);
        }
        lb_.swap(lb_next_);
        for (int i = 0; i < bases; ++i) {
          double& out = lb[static_cast<size_t>(i) * layers + l];
          if (capacity[i] < 0 || layer_min == kInf) {
            out = kInf;
            continue;
          }
          double v = layer_min;
          if (lambda > 0) {
            const double relaxed = lambda * capacity[i];
            v = (layer_min - relaxed) - 1e-9 * (layer_min + relaxed);
          }
          out = std::max(out, v);
        }
      }
    }
  }

  // Runs the DP of the current cap (cap rank `rank`) on `columns` columns up to layer
  // `last_layer` and merges better prefixes of length >= min_layer + 1 into best[i] for every
  // base with 0 <= capacity[i] < columns. set_cap(limit >= columns - 1) must have been called.
  void run(int columns, int last_layer, int min_layer, const std::vector<int>& capacity, int rank,
           std::vector<PrefixBest>& best) {
    cols_ = columns;
    prune_dominated(last_layer);
    const size_t plane = static_cast<size_t>(cols_) * k_;
    layer_minimum(0);
    record(0, min_layer, capacity, rank, best);
    for (int l = 1; l <= last_layer; ++l) {
      best_predecessor(l - 1, arg_.get() + static_cast<size_t>(l - 1) * plane);
      g_in_.swap(g_out_);  // g_in_ now feeds layer l
      layer_minimum(l);
      record(l, min_layer, capacity, rank, best);
    }
  }

  // The same recurrence on `columns` columns for layers 0..last_layer, keeping only
  // column_min[l * columns + u] = min_c h[l][c][u]: the best time of prefix l + 1 in at most u
  // buckets with the strategies the current cap allows. With every strategy allowed this bounds
  // the value of any cap from below at its own capacity: the DP of a cap takes the min of the
  // same sums over a subset of the strategies, and floating-point addition and min are
  // monotone, so the bound holds bit for bit.
  void run_column_minima(int columns, int last_layer, std::vector<double>& column_min) {
    cols_ = columns;
    column_min.assign(static_cast<size_t>(last_layer + 1) * columns, kInf);
    prune_dominated(last_layer);
    const size_t plane = static_cast<size_t>(cols_) * k_;
    for (int l = 0; l <= last_layer; ++l) {
      if (l > 0) {
        best_predecessor(l - 1, arg_.get() + static_cast<size_t>(l - 1) * plane);
        g_in_.swap(g_out_);
      }
      layer_minimum(l);
      double* out = column_min.data() + static_cast<size_t>(l) * columns;
      for (int c = 0; c < k_; ++c) {
        const double* hc = h_.data() + static_cast<size_t>(c) * cols_;
        for (int u = 0; u < cols_; ++u) out[u] = std::min(out[u], hc[u]);
      }
    }
  }

 private:
  double sw(int c, int d) const { return fp_.class_switch[static_cast<size_t>(c) * k_ + d]; }

  // lambdas_ = {0} + slopes of the lower convex hull of layer 0's allowed (w, time) points.
  void hull_slopes() {
    lambdas_.assign(1, 0.0);
    points_.clear();
    for (int s = 0; s < s_; ++s) {
      if (w_[s] <= limit_) points_.emplace_back(w_[s], fp_.time[s]);
    }
    std::sort(points_.begin(), points_.end());
    hull_.clear();
    for (const auto& pt : points_) {
      if (!hull_.empty() && hull_.back().second <= pt.second) continue;  // dominated (or same w)
      while (hull_.size() >= 2) {
        const auto& a = hull_[hull_.size() - 2];
        const auto& b = hull_.back();
        // b is not below the segment a -> pt: drop it.
        const double cross = static_cast<double>(b.first - a.first) * (pt.second - a.second) -
                             (b.second - a.second) * static_cast<double>(pt.first - a.first);
        if (cross <= 0) {
          hull_.pop_back();
        } else {
          break;
        }
      }
      hull_.push_back(pt);
    }
    for (size_t i = 1; i < hull_.size(); ++i) {
      const double slope =
          (hull_[i - 1].second - hull_[i].second) / (hull_[i].first - hull_[i - 1].first);
      if (slope > 0 && std::isfinite(slope)) lambdas_.push_back(slope);
    }
  }

  // useful_: per layer, the allowed strategies not dominated within their switch class (another
  // allowed member with time and buckets both <=, strictly or at a lower index). A dominated
  // strategy never lowers h (g is non-increasing in u), so the fold skips it; class_argmin still
  // scans every member, so ties resolve as without the pruning.
  void prune_dominated(int last_layer) {
    for (int l = 0; l <= last_layer; ++l) {
      const double* t = fp_.time.data() + static_cast<size_t>(l) * s_;
      const int* w = w_.data() + static_cast<size_t>(l) * s_;
      int* out = useful_.data() + static_cast<size_t>(l) * s_;
      int n = 0;
      for (int c = 0; c < k_; ++c) {
        for (int i = member_offset_[c]; i < member_offset_[c + 1]; ++i) {
          const int s = members_[i];
          if (w[s] >= cols_) continue;
          bool dominated = false;
          for (int j = member_offset_[c]; j < member_offset_[c + 1] && !dominated; ++j) {
            const int o = members_[j];
            if (o == s || w[o] >= cols_) continue;
            dominated = t[o] <= t[s] && w[o] <= w[s] && (t[o] < t[s] || w[o] < w[s] || o < s);
          }
          if (!dominated) out[n++] = s;
        }
      }
      useful_end_[l] = n;
    }
  }

  // dp[l][u][s] (u >= w[l][s]) from g_in_.
  double dp_value(int l, int u, int s) const {
    const double t = fp_.time[static_cast<size_t>(l) * s_ + s];
    if (l == 0) return t;
    const int w = w_[static_cast<size_t>(l) * s_ + s];
    return t + g_in_[static_cast<size_t>(fp_.class_of[s]) * cols_ + (u - w)];
  }

  // h of layer l from g_in_ (unused for l = 0), strategy by strategy, branch-free over u.
  void layer_minimum(int l) {
    const double* t = fp_.time.data() + static_cast<size_t>(l) * s_;
    const int* w = w_.data() + static_cast<size_t>(l) * s_;
    const int* useful = useful_.data() + static_cast<size_t>(l) * s_;
    std::fill(h_.begin(), h_.begin() + static_cast<std::ptrdiff_t>(cols_) * k_, kInf);
    for (int i = 0; i < useful_end_[l]; ++i) {
      const int s = useful[i];
      const size_t row = static_cast<size_t>(fp_.class_of[s]) * cols_;
      double* h = h_.data() + row + w[s];
      const int n = cols_ - w[s];
      if (l == 0) {
        relax_constant(h, t[s], n);
      } else {
        relax_shifted(h, g_in_.data() + row, t[s], n);
      }
    }
  }

  // Lowest strategy of class c whose dp[l][u][.] equals h[u][c] (finite).
  int class_argmin(int l, int u, int c) const {
    const double target = h_[static_cast<size_t>(c) * cols_ + u];
    for (int i = member_offset_[c]; i < member_offset_[c + 1]; ++i) {
      const int s = members_[i];
      if (w_[static_cast<size_t>(l) * s_ + s] <= u && dp_value(l, u, s) == target) return s;
    }
    PARATUNE_CHECK_MSG(false, "stage dp: h entry without a strategy");
    return 0;
  }

  // g_out_ and the arg plane from h of layer l, column by column. h is non-increasing in u, so
  // only the classes whose h dropped at column u can lower g there; a class whose value plus its
  // cheapest switch is not below the largest g of the column cannot lower any entry.
  void best_predecessor(int l, ArgIdx* arg) {
    double* gc = g_col_.data();
    double* ga = ga_col_.data();
    std::fill(gc, gc + k_, kInf);
    std::fill(gc + k_, gc + kp_, -kInf);  // padding: never lowered, never the max
    std::fill(ga, ga + kp_, 0.0);
    double g_max = kInf;  // max of the working column (an upper bound of every entry)
    // changed_[u * W + i] bit b: class 64 i + b has a lower h at column u than at u - 1.
    const int words = (k_ + 63) / 64;
    std::fill(changed_.begin(), changed_.begin() + static_cast<std::ptrdiff_t>(cols_) * words, 0);
    for (int c = 0; c < k_; ++c) {
      const double* hc = h_.data() + static_cast<size_t>(c) * cols_;
      std::uint64_t* word = changed_.data() + c / 64;
      const int bit = c % 64;
      word[0] |= static_cast<std::uint64_t>(hc[0] < kInf) << bit;
      for (int u = 1; u < cols_; ++u) {
        word[static_cast<size_t>(u) * words] |= static_cast<std::uint64_t>(hc[u] < hc[u - 1])
                                                << bit;
      }
    }
    for (int u = 0; u < cols_; ++u) {
      for (int i = 0; i < words; ++i) {
        for (std::uint64_t m = changed_[static_cast<size_t>(u) * words + i]; m != 0; m &= m - 1) {
          const int c = 64 * i + count_trailing_zeros(m);
          const double x = h_[static_cast<size_t>(c) * cols_ + u];
          if (x + row_min_[c] >= g_max) continue;  // cannot lower any entry
          const int p = class_argmin(l, u, c);
          g_max = relax_row(gc, ga, switch_.data() + static_cast<size_t>(c) * kp_, x, p, kp_);
        }
      }
      ArgIdx* au = arg + static_cast<size_t>(u) * k_;
      for (int d = 0; d < k_; ++d) {
        g_out_[static_cast<size_t>(d) * cols_ + u] = gc[d];
        au[d] = static_cast<ArgIdx>(ga[d]);
      }
    }
  }

  // Prefix n = l + 1 of every base from h of layer l at the base's last column (g_in_ is the g
  // h was built from).
  void record(int l, int min_layer, const std::vector<int>& capacity, int rank,
              std::vector<PrefixBest>& best) {
    if (l < min_layer) return;
    for (size_t i = 0; i < capacity.size(); ++i) {
      const int u_last = capacity[i];
      if (u_last < 0 || u_last >= cols_) continue;
      PrefixBest& b = best[i];
      double v_best = kInf;
      for (int c = 0; c < k_; ++c)
        v_best = std::min(v_best, h_[static_cast<size_t>(c) * cols_ + u_last]);
      if (!(v_best < b.time[l] || (v_best == b.time[l] && v_best < kInf && rank < b.rank[l]))) {
        continue;
      }
      int s = s_;
      for (int c = 0; c < k_; ++c) {
        if (h_[static_cast<size_t>(c) * cols_ + u_last] == v_best) {
          s = std::min(s, class_argmin(l, u_last, c));
        }
      }
      b.time[l] = v_best;
      b.rank[l] = rank;
      std::vector<StrategyIdx>& choice = b.choice[l];
      choice.assign(l + 1, 0);
      const size_t plane = static_cast<size_t>(cols_) * k_;
      int u = u_last;
      choice[l] = s;
      for (int k = l; k >= 1; --k) {
        u -= w_[static_cast<size_t>(k) * s_ + s];
        PARATUNE_CHECK(u >= 0);
        s = arg_[static_cast<size_t>(k - 1) * plane + static_cast<size_t>(u) * k_ +
                 fp_.class_of[s]];
        choice[k - 1] = s;
      }
    }
  }

  const FlatProblem& fp_;
  const int s_;   // S
  const int k_;   // switch classes K
  const int kp_;  // K rounded up to even (SIMD row length)
  int cols_ = 0;
  int limit_ = 0;             // w_ was computed for at most limit_ + 1 columns
  std::vector<int> w_;        // layer memory in buckets, [l * S + s]; limit + 1 = not allowed
  std::vector<int> useful_;   // [l * S + i], i < useful_end_[l]: strategies the fold visits
  std::vector<int> useful_end_;
  std::vector<double> h_;  // [c * cols + u]
  std::vector<double> g_in_, g_out_;    // [c' * cols + u], g feeding the current / next layer
  std::vector<double> g_col_, ga_col_;  // [c'] (KP long): g and its arg (as a double) at one u
  std::vector<std::uint64_t> changed_;  // [u * W + c / 64] bit c % 64: h of class c dropped at u
  std::unique_ptr<ArgIdx[]> arg_;       // [(l - 1) * cols * K + u * K + c'], l = 1..L-1
  std::vector<double> switch_;          // [c * KP + c'], padding = inf
  std::vector<double> row_min_;         // [c] = min_c' class_switch[c][c']
  std::vector<int> members_;            // strategies by class, ascending within a class
  std::vector<int> member_offset_;      // class c owns members_[offset[c], offset[c + 1])
  std::vector<double> lb_, lb_next_, lb_pre_;  // lower-bound chain, per class
  std::vector<double> lambdas_;                // Lagrange multipliers of the bound
  std::vector<std::pair<int, double>> points_, hull_;  // (buckets, time) of layer 0
};

// Optimum of every prefix of length >= min_prefix (shorter ones stay nullopt), for every base.
std::vector<std::vector<std::optional<StagePlanResult>>> solve_prefixes_from(
    const StageProblem& problem, const std::vector<double>& bases, const StageDpOptions& options,
    int min_prefix) {
  const Status valid = validate_problem(problem);
  PARATUNE_CHECK_MSG(valid.ok(), valid.message());
  const Status valid_options = options.validate();
  PARATUNE_CHECK_MSG(valid_options.ok(), valid_options.message());
  PARATUNE_CHECK_MSG(problem.num_strategies() <= std::numeric_limits<ArgIdx>::max(),
                     "stage dp supports at most 65535 strategies");
  for (double b : bases) {
    PARATUNE_CHECK_MSG(std::isfinite(b) && b >= 0,
                       "stage dp: base memories must be finite and >= 0");
  }

  const int layers = problem.num_layers();
  const int n_bases = static_cast<int>(bases.size());
  std::vector<std::vector<std::optional<StagePlanResult>>> results(
      n_bases, std::vector<std::optional<StagePlanResult>>(layers));
  if (n_bases == 0) return results;
  const double budget = problem.memory_budget_bytes;
  const double free_bytes = budget - *std::min_element(bases.begin(), bases.end());
  if (free_bytes < 0) return results;

  const FlatProblem fp = flatten(problem);
  BucketGrid grid;
  grid.buckets = options.memory_buckets;
  grid.q = free_bytes / options.memory_buckets;

  std::vector<double> caps = fp.transient;
  std::sort(caps.begin(), caps.end());
  caps.erase(std::unique(caps.begin(), caps.end()), caps.end());

  // Capacity of every base under every cap (-1: the base does not fit that cap); caps ascend,
  // so once no base fits, no later cap fits either.
  struct CapRun {
    double cap = 0;
    int limit = -1;             // max capacity over the bases
    std::vector<int> capacity;  // [base]
    std::vector<double> lb;     // [base * L + l], lower bounds (CappedDp::lower_bounds)
  };
  std::vector<CapRun> runs;
  for (double cap : caps) {
    CapRun r;
    r.cap = cap;
    r.capacity.resize(n_bases);
    for (int i = 0; i < n_bases; ++i) {
      r.capacity[i] = grid.down((budget - bases[i]) - cap);
      r.limit = std::max(r.limit, r.capacity[i]);
    }
    if (r.limit < 0) break;
    runs.push_back(std::move(r));
  }
  // A cap is dominated by the next larger one when both leave every base the same capacity:
  // the larger allows a superset of the strategies in the same buckets, so its DP is never
  // worse (ties then go to the larger cap). Dropping dominated caps keeps the optimum exact and
  // matters when many strategies differ in transient by less than a bucket.
  {
    std::vector<CapRun> kept;
    for (size_t j = 0; j < runs.size(); ++j) {
      if (j + 1 < runs.size() && runs[j + 1].capacity == runs[j].capacity) continue;
      kept.push_back(std::move(runs[j]));
    }
    runs = std::move(kept);
  }

  CappedDp dp(fp, options.memory_buckets + 1);
  for (CapRun& r : runs) {
    dp.set_cap(grid, r.cap, r.limit);
    dp.lower_bounds(r.capacity, r.lb);
  }
  // A second bound per cap: the DP with every strategy allowed, read at the cap's capacity
  // (CappedDp::run_column_minima). It is tight for the caps above the optimum's (their extra
  // strategies rarely help while their capacity is smaller); the Lagrangian bound above is
  // tight for the low caps (few strategies, memory to spare). One run of all columns serves
  // every cap; it pays off when several caps remain, so it is skipped below that.
  if (runs.size() >= 4) {
    int limit = 0;
    for (const CapRun& r : runs) limit = std::max(limit, r.limit);
    std::vector<double> column_min;
    dp.set_cap(grid, kInf, limit);
    dp.run_column_minima(limit + 1, layers - 1, column_min);
    for (CapRun& r : runs) {
      for (int i = 0; i < n_bases; ++i) {
        if (r.capacity[i] < 0) continue;
        for (int l = 0; l < layers; ++l) {
          double& lb = r.lb[static_cast<size_t>(i) * layers + l];
          lb = std::max(lb, column_min[static_cast<size_t>(l) * (limit + 1) + r.capacity[i]]);
        }
      }
    }
  }
  // Most promising cap first (lowest bound of the longest prefix of the largest free memory),
  // so that the bounds skip more of the others; the order never changes the result.
  const int first_base = static_cast<int>(std::min_element(bases.begin(), bases.end()) -
                                          bases.begin());
  std::vector<int> order(runs.size());
  for (size_t j = 0; j < runs.size(); ++j) order[j] = static_cast<int>(j);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    const size_t at = static_cast<size_t>(first_base) * layers + (layers - 1);
    return runs[a].lb[at] < runs[b].lb[at];
  });

  std::vector<PrefixBest> best(n_bases);
  for (PrefixBest& b : best) {
    b.time.assign(layers, kInf);
    b.rank.assign(layers, 0);
    b.choice.resize(layers);
  }
  const int min_layer = min_prefix - 1;
  for (int j : order) {
    const CapRun& r = runs[j];
    // Which (base, prefix) may this cap still improve? lb is a bound of the cap's value, so it
    // cannot beat a best below lb, nor tie one of a lower rank.
    int last_layer = -1, columns = 0;
    for (int i = 0; i < n_bases; ++i) {
      if (r.capacity[i] < 0) continue;
      const double* lb = r.lb.data() + static_cast<size_t>(i) * layers;
      const PrefixBest& b = best[i];
      for (int l = layers - 1; l >= min_layer; --l) {
        const bool beaten = lb[l] > b.time[l] || (lb[l] >= b.time[l] && j > b.rank[l]);
        if (lb[l] == kInf || beaten) continue;
        last_layer = std::max(last_layer, l);
        columns = std::max(columns, r.capacity[i] + 1);
        break;
      }
    }
    if (last_layer < 0) continue;
    dp.set_cap(grid, r.cap, columns - 1);
    dp.run(columns, last_layer, min_layer, r.capacity, j, best);
  }

  std::optional<StageProblem> other_base;  // `problem` with another base, made on demand
  for (int i = 0; i < n_bases; ++i) {
    const StageProblem* with_base = &problem;
    for (int l = 0; l < layers; ++l) {
      if (best[i].time[l] == kInf) continue;
      if (bases[i] != problem.base_memory_bytes && with_base == &problem) {
        if (!other_base) other_base = problem;
        other_base->base_memory_bytes = bases[i];
        with_base = &*other_base;
      }
      StagePlanResult res = evaluate_plan(*with_base, best[i].choice[l]);
      res.time_ms = best[i].time[l];
      results[i][l] = std::move(res);
    }
  }
  return results;
}

}  // namespace

std::vector<std::vector<std::optional<StagePlanResult>>> solve_stage_prefixes_multi(
    const StageProblem& problem, const std::vector<double>& bases, const StageDpOptions& options) {
  return solve_prefixes_from(problem, bases, options, 1);
}

std::vector<std::optional<StagePlanResult>> solve_stage_prefixes(const StageProblem& problem,
                                                                 const StageDpOptions& options) {
  return std::move(solve_prefixes_from(problem, {problem.base_memory_bytes}, options, 1)[0]);
}

// Skipping caps or prefixes that cannot improve the full plan never changes it, so this equals
// solve_stage_prefixes(...).back().
std::optional<StagePlanResult> solve_stage(const StageProblem& problem,
                                           const StageDpOptions& options) {
  return solve_prefixes_from(problem, {problem.base_memory_bytes}, options,
                             std::max(problem.num_layers(), 1))[0]
      .back();
}

}  // namespace paratune::search
