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

}  // namespace paratune::estimator
