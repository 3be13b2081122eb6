// Compute model (ms per micro-batch per device).
//
// Measured points ComputePoint(micro_batch b_i, tp t_i) -> (forward_i, backward_i,
// forward_no_grad_i; a point without the last uses forward_i for it). For a query (b, t), each
// of the three separately, first hit wins:
//   1. the exact point (b, t)
//   2. the points of tp t: >= 2 distinct b: least-squares line y = a + c*b over them, evaluated
//      at b (interpolation or extrapolation, floored at 0); exactly one point b0: y0 * b / b0
//   3. the nearest measured tp t' (closest log2, then smaller t'), value at (b, t') from 1-2,
//      scaled by t'/t (a tp shard does 1/t of the matmul work; the same with sequence parallel)
//   4. no points for the layer type at all: the analytic model below
// Analytic (profile "analytic", or a layer type missing from a measured profile):
//   transformer: forward = b * layer_forward_flops_per_sample / t / (efficiency * device.flops)
//   LM head:     forward = b * head_forward_flops_per_sample  / t / (efficiency * device.flops)
//   embedding:   forward = 2 * b*s*h*e bytes (gather rows, write output) / memory_bandwidth
//                (0 when the cluster gives no memory bandwidth)
//   backward = 2 * forward (weight and input gradients).
// Activation checkpointing and TP communication are added by layer_cost.cpp, not here.
// The result is multiplied by the calibration's scales.compute and by (b / t)^(-granularity),
// b / t clamped to the sizes it was fitted over (TermScales::granularity, 0 = no change).
#include "estimator/compute_model.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>
#include <utility>
#include <vector>

namespace paratune::estimator {

namespace {

Milliseconds no_grad_of(const ComputePoint& q) { return q.forward_no_grad.value_or(q.forward); }

ComputeTime scaled(const ComputeTime& t, double r) {
  return ComputeTime{t.forward * r, t.backward * r, t.forward_no_grad * r};
}

// Steps 1-2 for one tp: nullopt when tp has no points.
std::optional<ComputeTime> at_tp(const LayerTypeProfile& p, int b, int tp) {
  std::vector<const ComputePoint*> pts;
  for (const ComputePoint& q : p.compute) {
    if (q.tp != tp || q.micro_batch < 1) continue;
    if (q.micro_batch == b) return ComputeTime{q.forward, q.backward, no_grad_of(q)};
    pts.push_back(&q);
  }
  if (pts.empty()) return std::nullopt;
  std::set<int> sizes;
  for (const ComputePoint* q : pts) sizes.insert(q->micro_batch);
  if (sizes.size() == 1) {
    const ComputePoint& q = *pts.front();
    return scaled(ComputeTime{q.forward, q.backward, no_grad_of(q)},
                  static_cast<double>(b) / q.micro_batch);
  }
  // Least-squares line y = a + c * b over the points, evaluated at b, floored at 0.
  auto line = [&](auto value) {
    double mb = 0, my = 0;
    for (const ComputePoint* q : pts) mb += q->micro_batch, my += value(*q);
    const double n = static_cast<double>(pts.size());
    mb /= n, my /= n;
    double sbb = 0, sby = 0;
    for (const ComputePoint* q : pts) {
      const double db = q->micro_batch - mb;
      sbb += db * db;
      sby += db * (value(*q) - my);
    }
    return Milliseconds(std::max(0.0, my + sby / sbb * (b - mb)));
  };
  return ComputeTime{line([](const ComputePoint& q) { return q.forward.value; }),
                     line([](const ComputePoint& q) { return q.backward.value; }),
                     line([](const ComputePoint& q) { return no_grad_of(q).value; })};
}

}  // namespace

std::optional<ComputeTime> lookup_compute(const LayerTypeProfile& p, int b, int tp) {
  PARATUNE_CHECK(b >= 1 && tp >= 1);
  if (auto t = at_tp(p, b, tp)) return t;
  int best = 0;
  auto dist = [&](int t) { return std::abs(std::log2(static_cast<double>(t) / tp)); };
  for (const ComputePoint& q : p.compute) {
    if (q.tp < 1 || q.micro_batch < 1) continue;
    if (best == 0 || dist(q.tp) < dist(best) || (dist(q.tp) == dist(best) && q.tp < best)) {
      best = q.tp;
    }
  }
  if (best == 0) return std::nullopt;
  std::optional<ComputeTime> t = at_tp(p, b, best);
  PARATUNE_CHECK(t.has_value());
  return scaled(*t, static_cast<double>(best) / tp);
}

ComputeTime analytic_compute(const ModelConfig& m, const ClusterProfile& c, LayerKind kind, int b,
                             int tp, double efficiency) {
  PARATUNE_CHECK(b >= 1 && tp >= 1);
  Milliseconds fwd;
  if (kind == LayerKind::kEmbedding) {
    const double bytes = 2.0 * b * m.seq_len * m.hidden * dtype_bytes(m.dtype);
    if (c.device.memory_bandwidth.value > 0) {
      fwd = transfer_time(Bytes(bytes), c.device.memory_bandwidth);
    }
  } else {
    PARATUNE_CHECK_MSG(c.device.flops.value > 0 && efficiency > 0,
                       "analytic compute needs device.flops of cluster \"" + c.name + "\"");
    const double per_sample = kind == LayerKind::kTransformer ? m.layer_forward_flops_per_sample()
                                                              : m.head_forward_flops_per_sample();
    fwd = paratune::compute_time(per_sample * b / tp, c.device.flops * efficiency);
  }
  return ComputeTime{fwd, fwd * 2.0, fwd};
}

ComputeTime compute_time(const CostContext& ctx, LayerKind kind, int b, int tp) {
  ComputeTime t;
  std::optional<ComputeTime> measured;
  if (ctx.profile != nullptr) {
    if (const LayerTypeProfile* p = ctx.profile->find(profile_name(kind))) {
      measured = lookup_compute(*p, b, tp);
    }
  }
  t = measured ? *measured
               : analytic_compute(*ctx.model, *ctx.cluster, kind, b, tp,
                                  ctx.options.analytic_efficiency);
  // The calibration's granularity exponent (TermScales::granularity, 0 unless set), over the
  // samples a rank computes per micro-batch over its tp, held to the range it was fitted over.
  const TermScales& sc = ctx.options.scales;
  double by_size = 1;
  if (sc.granularity != 0) {
    const double g = std::clamp(static_cast<double>(b) / tp, sc.granularity_lo, sc.granularity_hi);
    by_size = std::pow(g, -sc.granularity);
  }
  return scaled(t, sc.compute * by_size);
}

Milliseconds optimizer_step_time(const CostContext& ctx, double params) {
  if (ctx.profile == nullptr || ctx.profile->optimizer_step.empty() || params <= 0)
    return Milliseconds(0);
  const std::vector<OptimizerPoint>& pts = ctx.profile->optimizer_step;
  const double n = double(pts.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const OptimizerPoint& p : pts) {
    const double x = double(p.params), y = p.time.value;
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  const double den = n * sxx - sx * sx;
  double slope = 0, intercept = 0;
  if (pts.size() < 2 || !(std::fabs(den) > 0)) {
    slope = sxx > 0 ? sxy / sxx : 0;  // through the origin
  } else {
    slope = (n * sxy - sx * sy) / den;
    intercept = (sy - slope * sx) / n;
  }
  return Milliseconds(std::max(0.0, intercept + slope * params) * ctx.options.scales.compute);
}

}  // namespace paratune::estimator
