// Cost of resharding activations between two consecutive layers of one stage whose layouts
// (tp, dp, which side is consecutive, sp) differ.
//
//   Milliseconds t = switch_cost(ctx, /*stage=*/0, prev_layer_strategy, next_layer_strategy);
#pragma once

#include "core/strategy.h"
#include "core/units.h"
#include "estimator/cost_context.h"

namespace paratune::estimator {

/// Per micro-batch: forward resharding of the activation from `from`'s layout to `to`'s plus the
/// backward resharding of its gradient back; 0 when both place every device's data alike
/// (dp_type and checkpoint never matter). Infinite when the cluster profile has no
/// communication data at all. Cost O(devices per stage x blocks each device receives): callers
/// that ask often (the planner) should cache by (stage, from, to).
Milliseconds switch_cost(const CostContext& ctx, StageIdx stage, const LayerStrategy& from,
                         const LayerStrategy& to);

/// Temporary memory per device while the executor reshards one micro-batch from `from`'s layout
/// to `to`'s (executor/nodes.cpp move_blocks): first the g gathered source blocks and Gloo's own
/// flat output of the allgather (ProcessGroupGloo gathers into one new g x block tensor and
/// copies it out), 2 g b_src; then the gathered blocks, the assembled micro-batch T and the kept
/// block, g b_src + T + b_dst. The larger of the two, in the forward (activation) or the backward
/// (its gradient, the other way round), whichever is larger; 0 without a reshard.
/// (tp 8 without SP into tp 8 with SP gathers 8 copies of the replicated activation: 16 T.)
Bytes switch_transient(const CostContext& ctx, StageIdx stage, const LayerStrategy& from,
                       const LayerStrategy& to);

}  // namespace paratune::estimator
