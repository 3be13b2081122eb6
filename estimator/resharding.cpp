// Resharding model.
//
// The activation between two layers is one micro-batch of the stage, B_m = B / M samples of
// seq tokens: T = B_m * seq * hidden * e bytes. Under layout (t, d, consecutive, sp) device i
// of the stage holds the block
//   samples [r_d(i) * B_m/d, (r_d(i)+1) * B_m/d)  x  tokens: all (no sp) | chunk r_t(i) of t (sp)
// with r_d, r_t its DP / TP rank (core/device_mesh.h): T / (d * q) bytes, q = t with sp, else 1.
//
// Priced as the executor moves it (executor/nodes.cpp, move_blocks): when X and Y place some
// device's data differently, every device of the stage allgathers all g blocks of X over the
// stage's devices and keeps its Y block; the gradient goes back the same way (an allgather of the
// Y blocks). So
//   switch_cost = allgather(g x T / (d_X q_X)) + allgather(g x T / (d_Y q_Y)) + 2 call_ms
// over the stage group (size g, inter-island when the stage spans islands), each priced from the
// cluster profile like any allgather of that shape, with the calibration's multiplier for a DP
// allgather over g ranks; call_ms is the calibration's time per blocking call (TermScales, 0 by
// default). (Before round 7 this charged only the cells each device lacks, at
// all2all bandwidth: the least a reshard can move, not what the executor moves; mixed plans with
// layout changes were under-predicted by 13-24%.)
#include "estimator/resharding.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <vector>

#include "core/device_mesh.h"
#include "estimator/comm_model.h"
#include "estimator/pipeline.h"

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

// One direction: every device contributes its block of layout x (total / (x.d * x.q) bytes)
// to an allgather over the stage; the gathered tensor is g such blocks.
Milliseconds direction(const CostContext& ctx, StageIdx stage, const Layout& x, Bytes total) {
  const int g = ctx.devices_per_stage();
  const Bytes block(total.value / static_cast<double>(x.d * x.q));
  CommPricer price(*ctx.cluster, &ctx.options.scales, ctx.options.comm_samples);
  const Milliseconds t =
      price.collective(CommUse::kData, CollectiveOp::kAllGather, stage_group_shape(ctx, stage),
                       Bytes(block.value * g));
  if (!price.missing().empty()) return Milliseconds(std::numeric_limits<double>::infinity());
  return t;
}

// The two layouts of a reshard from `from` to `to` on `stage` and the stage's micro-batch
// activation T in bytes; nullopt when both place every device's data alike (no reshard).
struct Reshard {
  Layout from, to;
  double total = 0;
};

std::optional<Reshard> reshard_of(const CostContext& ctx, StageIdx stage,
                                  const LayerStrategy& from, const LayerStrategy& to) {
  PARATUNE_CHECK(stage >= 0 && stage < ctx.pp);
  const int g = ctx.devices_per_stage();
  PARATUNE_CHECK(from.tp * from.dp == g && to.tp * to.dp == g);
  if (from.tp == to.tp && from.dp == to.dp && from.sp == to.sp &&
      from.tp_consecutive == to.tp_consecutive) {
    return std::nullopt;
  }
  Reshard r{layout_of(ctx, stage, from), layout_of(ctx, stage, to), 0.0};
  if (same_placement(r.from, r.to)) return std::nullopt;
  const ModelConfig& m = *ctx.model;
  r.total = static_cast<double>(ctx.stage_micro_batch()) * m.seq_len * m.hidden *
            dtype_bytes(m.dtype);
  return r;
}

}  // namespace

Bytes switch_transient(const CostContext& ctx, StageIdx stage, const LayerStrategy& from,
                       const LayerStrategy& to) {
  const std::optional<Reshard> r = reshard_of(ctx, stage, from, to);
  if (!r) return Bytes(0);
  const double g = ctx.devices_per_stage();
  const double bx = r->total / (r->from.d * r->from.q), by = r->total / (r->to.d * r->to.q);
  const auto one_way = [&](double src, double dst) {
    return std::max(2.0 * g * src, g * src + r->total + dst);
  };
  return Bytes(std::max(one_way(bx, by), one_way(by, bx)));
}

Milliseconds switch_cost(const CostContext& ctx, StageIdx stage, const LayerStrategy& from,
                         const LayerStrategy& to) {
  const std::optional<Reshard> r = reshard_of(ctx, stage, from, to);
  if (!r) return Milliseconds(0);
  // Two blocking allgathers (kReshardCalls), each charged the calibration's per-call time.
  return direction(ctx, stage, r->from, Bytes(r->total)) +
         direction(ctx, stage, r->to, Bytes(r->total)) +
         Milliseconds(kReshardCalls * ctx.options.scales.call_ms);
}

}  // namespace paratune::estimator
