// Compute time of one layer for one micro-batch on one device: from the model profile's
// measured points, with the fallbacks of compute_model.cpp, or from FLOPs (analytic).
//
//   ComputeTime t = compute_time(ctx, LayerKind::kTransformer, /*b=*/4, /*tp=*/2);
#pragma once

#include <optional>

#include "core/cluster_profile.h"
#include "core/model_config.h"
#include "core/model_profile.h"
#include "core/units.h"
#include "estimator/cost_context.h"
#include "estimator/layer_kind.h"

namespace paratune::estimator {

/// Forward and backward (no recompute) of one micro-batch on one device, compute only.
/// forward_no_grad: the forward without autograd, as a checkpointed layer runs it first (the
/// profile's forward_no_grad_ms; `forward` where a point has none, and analytically).
struct ComputeTime {
  Milliseconds forward;
  Milliseconds backward;
  Milliseconds forward_no_grad;
};

/// From one layer type's measured points at local micro-batch b and TP degree tp; nullopt when
/// the type has no compute points.
std::optional<ComputeTime> lookup_compute(const LayerTypeProfile& p, int b, int tp);
/// From FLOPs at efficiency * device.flops (transformer, LM head) or from bytes moved at the
/// device's memory bandwidth (embedding); backward = 2 x forward.
ComputeTime analytic_compute(const ModelConfig& m, const ClusterProfile& c, LayerKind kind, int b,
                             int tp, double efficiency);
/// The profile's lookup_compute() when it has the layer type, else analytic_compute(); times
/// ctx.options.scales.compute.
ComputeTime compute_time(const CostContext& ctx, LayerKind kind, int b, int tp);

/// One unit's optimizer step over `params` fp32 parameters on one device, from the model
/// profile's optimizer_step points: the least-squares line a + b * params through them (one
/// point: proportional), never below 0. 0 without points (no profile, an analytic or imported
/// one): not charged. Times ctx.options.scales.compute.
Milliseconds optimizer_step_time(const CostContext& ctx, double params);

}  // namespace paratune::estimator
