// Resharding model.
//
// The activation between two layers is one micro-batch of the stage, B_m = B / M samples of
// seq tokens: T = B_m * seq * hidden * e bytes. Under layout (t, d, consecutive, sp) device i
// of the stage holds the block
//   samples [r_d(i) * B_m/d, (r_d(i)+1) * B_m/d)  x  tokens: all (no sp) | chunk r_t(i) of t (sp)
// with r_d, r_t its DP / TP rank (core/device_mesh.h). Blocks are cut on a common grid of
// lcm(d, d') sample blocks x lcm(q, q') token blocks (q = t with sp, else 1), one cell being
// T / cells bytes. Resharding layout X -> Y: device i receives every cell of its Y block that its
// X block lacks, from a holder in its own island when one exists (intra), else across islands
// (inter):
//   time(X -> Y) = max_i [ R_intra(i) / bw_intra + R_inter(i) / bw_inter ] + alpha
// bw = all2all bus bandwidth (comm_model.cpp lookup; per-device received bytes / bus bandwidth
// is the all2all / allgather time in that convention) of min(g, devices per island) intra-island
// devices, resp. of the g devices of the stage across islands; alpha = the larger latency of the
// fits used. switch_cost = time(from -> to) (activation, forward) + time(to -> from) (gradient,
// backward).
#include "estimator/resharding.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <optional>
#include <vector>

#include "core/device_mesh.h"
#include "estimator/comm_model.h"

namespace paratune::estimator {

namespace {

struct Layout {
  int d = 1;                // sample blocks
  int q = 1;                // token blocks
  std::vector<int> sample;  // per local device: its sample block
  std::vector<int> token;   // per local device: its token block
};

Layout layout_of(const CostContext& ctx, StageIdx stage, const LayerStrategy& ls) {
  const int g = ctx.devices_per_stage();
  const Rank first = stage_first_rank(ctx.num_devices, ctx.pp, stage);
  Layout l;
  l.d = ls.dp;
  l.q = ls.sp ? ls.tp : 1;
  l.sample.assign(g, 0);
  l.token.assign(g, 0);
  for (const std::vector<Rank>& group : dp_groups(ctx.num_devices, ctx.pp, stage, ls)) {
    for (size_t j = 0; j < group.size(); ++j) l.sample[group[j] - first] = static_cast<int>(j);
  }
  if (ls.sp) {
    for (const std::vector<Rank>& group : tp_groups(ctx.num_devices, ctx.pp, stage, ls)) {
      for (size_t j = 0; j < group.size(); ++j) l.token[group[j] - first] = static_cast<int>(j);
    }
  }
  return l;
}

bool same_placement(const Layout& a, const Layout& b) {
  return a.d == b.d && a.q == b.q && a.sample == b.sample && a.token == b.token;
}

// Overlap length of [a0, a0 + wa) and [b0, b0 + wb).
long overlap(long a0, long wa, long b0, long wb) {
  return std::max(0L, std::min(a0 + wa, b0 + wb) - std::max(a0, b0));
}

Milliseconds direction(const CostContext& ctx, StageIdx stage, const Layout& x, const Layout& y,
                       Bytes total) {
  const int g = ctx.devices_per_stage();
  const Rank first = stage_first_rank(ctx.num_devices, ctx.pp, stage);
  const long ls = std::lcm(x.d, y.d), lq = std::lcm(x.q, y.q);
  const long xs = ls / x.d, xq = lq / x.q, ys = ls / y.d, yq = lq / y.q;  // block widths
  const double cell = total.value / static_cast<double>(ls * lq);

  std::vector<int> island(g);
  for (int i = 0; i < g; ++i) island[i] = island_of_rank(ctx, first + i);
  // Islands holding each X block (block id = sample * x.q + token).
  std::vector<std::vector<int>> holders(static_cast<size_t>(x.d) * x.q);
  for (int i = 0; i < g; ++i) {
    std::vector<int>& h = holders[static_cast<size_t>(x.sample[i]) * x.q + x.token[i]];
    if (std::find(h.begin(), h.end(), island[i]) == h.end()) h.push_back(island[i]);
  }

  std::vector<double> intra(g, 0), inter(g, 0);  // received cells per device
  bool any_intra = false, any_inter = false;
  for (int i = 0; i < g; ++i) {
    const long s0 = static_cast<long>(y.sample[i]) * ys, q0 = static_cast<long>(y.token[i]) * yq;
    for (long sb = s0 / xs; sb * xs < s0 + ys; ++sb) {
      const long os = overlap(sb * xs, xs, s0, ys);
      for (long qb = q0 / xq; qb * xq < q0 + yq; ++qb) {
        if (sb == x.sample[i] && qb == x.token[i]) continue;  // already held
        const double cells = static_cast<double>(os * overlap(qb * xq, xq, q0, yq));
        if (cells <= 0) continue;
        const std::vector<int>& h = holders[static_cast<size_t>(sb) * x.q + qb];
        if (std::find(h.begin(), h.end(), island[i]) != h.end()) {
          intra[i] += cells;
          any_intra = true;
        } else {
          inter[i] += cells;
          any_inter = true;
        }
      }
    }
  }
  if (!any_intra && !any_inter) return Milliseconds(0);

  const ClusterProfile& c = *ctx.cluster;
  std::optional<CommFit> f_intra, f_inter;
  if (any_intra) {
    f_intra = find_collective(c, CollectiveOp::kAllToAll,
                              std::max(2, std::min(g, c.devices_per_island())),
                              Placement::kIntraIsland, true);
  }
  if (any_inter) {
    f_inter = find_collective(c, CollectiveOp::kAllToAll, g, Placement::kInterIsland, true);
  }
  if ((any_intra && !f_intra) || (any_inter && !f_inter)) {
    return Milliseconds(std::numeric_limits<double>::infinity());
  }
  Milliseconds worst, alpha;
  for (int i = 0; i < g; ++i) {
    Milliseconds t;
    if (intra[i] > 0) t += transfer_time(Bytes(intra[i] * cell), f_intra->bandwidth);
    if (inter[i] > 0) t += transfer_time(Bytes(inter[i] * cell), f_inter->bandwidth);
    worst = std::max(worst, t);
  }
  if (any_intra) alpha = std::max(alpha, f_intra->latency);
  if (any_inter) alpha = std::max(alpha, f_inter->latency);
  return worst + alpha;
}

}  // namespace

Milliseconds switch_cost(const CostContext& ctx, StageIdx stage, const LayerStrategy& from,
                         const LayerStrategy& to) {
  PARATUNE_CHECK(stage >= 0 && stage < ctx.pp);
  const int g = ctx.devices_per_stage();
  PARATUNE_CHECK(from.tp * from.dp == g && to.tp * to.dp == g);
  if (from.tp == to.tp && from.dp == to.dp && from.sp == to.sp &&
      from.tp_consecutive == to.tp_consecutive) {
    return Milliseconds(0);
  }
  const Layout x = layout_of(ctx, stage, from), y = layout_of(ctx, stage, to);
  if (same_placement(x, y)) return Milliseconds(0);
  const ModelConfig& m = *ctx.model;
  const Bytes total(static_cast<double>(ctx.stage_micro_batch()) * m.seq_len * m.hidden *
                    dtype_bytes(m.dtype));
  return direction(ctx, stage, x, y, total) + direction(ctx, stage, y, x, total);
}

}  // namespace paratune::estimator
