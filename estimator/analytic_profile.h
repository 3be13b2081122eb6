// A model profile computed from the model config and the cluster's device spec instead of
// measured: the search works before (or without) `paratune profile-model`.
//
//   ModelProfile p = analytic_profile(model, cluster);   // p.source == "analytic"
#pragma once

#include "core/cluster_profile.h"
#include "core/model_config.h"
#include "core/model_profile.h"

namespace paratune::estimator {

/// Fraction of peak FLOP/s a transformer layer reaches (typical large-model MFU).
inline constexpr double kDefaultAnalyticEfficiency = 0.5;

/// Layer types "transformer", "embedding", "lm_head" with compute points for micro-batches
/// {1, 2, 4, 8} x tp in {1, 2, 4, 8} dividing heads, kv_heads and ffn_hidden (vocab for the
/// embedding / head), activation points for every such tp (with and without sp for tp > 1),
/// parameter counts from the config. Without device.flops the transformer and LM head get no
/// compute points. Times and bytes as in compute_model.cpp / memory_model.cpp.
ModelProfile analytic_profile(const ModelConfig& m, const ClusterProfile& c,
                              double efficiency = kDefaultAnalyticEfficiency);

}  // namespace paratune::estimator
