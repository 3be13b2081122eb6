// Memory per device: model states (params, grads, optimizer) per dp_type and tp, and the
// activations kept for backward, from the model profile with an analytic fallback
// (Korthikanti et al. 2022). Formulas in memory_model.cpp.
//
//   StateBytes k = state_bytes_per_param(ctx);           // 16 bytes/param for Adam
//   Bytes states = model_state_bytes(params / tp, DpType::kZero3, dp, k);
//   Bytes act = activation_per_sample(ctx, LayerKind::kTransformer, tp, sp) * b;
#pragma once

#include <cstdint>

#include "core/model_config.h"
#include "core/model_profile.h"
#include "core/strategy.h"
#include "core/units.h"
#include "estimator/cost_context.h"
#include "estimator/layer_kind.h"

namespace paratune::estimator {

/// Bytes per parameter of each model state (Adam).
struct StateBytes {
  double param = 4;      // the weights the layer computes with
  double grad = 4;       // gradients (also the size of gradient communication)
  double optimizer = 8;  // Adam m, v (+ fp32 master weights under mixed precision)
  double total() const { return param + grad + optimizer; }
};
StateBytes state_bytes_per_param(const ModelConfig& m, const EstimatorOptions& o);
inline StateBytes state_bytes_per_param(const CostContext& ctx) {
  return state_bytes_per_param(*ctx.model, ctx.options);
}

/// Model states on one device for `params` parameters of its TP shard, sharded over dp per
/// dp_type: ddp none, zero2 grads + optimizer, zero3 all three.
Bytes model_state_bytes(double params, DpType dp_type, int dp, const StateBytes& k);

/// Analytic activation bytes kept for backward per local sample per device (no checkpointing).
Bytes analytic_activation_per_sample(const ModelConfig& m, LayerKind kind, int tp, bool sp);
/// Analytic bytes kept by a checkpointed transformer layer per sample at tp = 1: its input.
Bytes analytic_checkpoint_per_sample(const ModelConfig& m);

/// Activation bytes per local sample per device: the profile's ActivationPoint (tp, sp) if
/// present, else the nearest point scaled by the analytic ratio, else analytic.
Bytes activation_per_sample(const CostContext& ctx, LayerKind kind, int tp, bool sp);
/// Checkpointed transformer layer, per local sample per device: the profile's
/// checkpoint_bytes_per_sample (analytic when 0 or absent), divided by tp with sp.
Bytes checkpoint_per_sample(const CostContext& ctx, int tp, bool sp);

}  // namespace paratune::estimator
