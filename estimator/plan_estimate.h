// The predicted time and memory of a whole plan, layer by layer: the estimator's independent
// evaluation of a Strategy (the planner's objective recomputed from the per-layer functions, and
// what `paratune estimate` prints).
//
//   StatusOr<PlanEstimate> e = estimate_plan(ctx, strategy);
//   if (e.ok()) std::cout << e->iteration.value << " ms, " << e->samples_per_s << " samples/s\n";
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "core/strategy.h"
#include "core/units.h"
#include "estimator/cost_context.h"
#include "estimator/layer_cost.h"
#include "estimator/pipeline.h"
#include "estimator/resharding.h"

namespace paratune::estimator {

struct LayerEstimate {
  LayerIdx layer = 0;
  LayerStrategy strategy;
  LayerCost cost;
  Milliseconds switch_in;  // resharding into this layer, per micro-batch: from the previous
                           // layer; at a stage's first layer from the embedding (stage 0) or the
                           // previous stage's last layer
};

struct StageEstimate {
  Milliseconds micro_batch_time;  // sum(layer fwd + bwd) + sum(switch_in) + switch_out +
                                  // embedding/head + p2p
  Milliseconds switch_out;        // last stage: resharding from the last layer into the LM head
  Milliseconds micro_batch_compute;  // the compute part of micro_batch_time (LayerCost::compute)
  Milliseconds micro_batch_waits;    // the arrival waits in micro_batch_time (LayerCost::waits)
  int host_sets = 1;                 // host_groups(): sets of its ranks out of step (pipeline.h)
  double calls = 0;                  // blocking calls per micro-batch on one rank (StageTime)
  Milliseconds shared_micro;         // micro_batch_time at the speed the host's shared cores
                                     // give it (pipeline.h shared_micro; equal without sharing)
  Milliseconds sync_exposed;      // sum of the layers' and embedding/head's grad_sync_exposed
  Milliseconds p2p;               // p2p_time(ctx, stage) (included in micro_batch_time)
  int in_flight = 1;              // in_flight_micro_batches(pp, stage, M)
  Bytes model_states;             // sum of the transformer layers' model states
  Bytes activations;              // in_flight * (sum of activation_per_micro_batch, embedding /
                                  // head included)
  Bytes transient;                // embedding / head transient + max transient of the layers
  Bytes base;                     // runtime buffers + embedding / head model states
  Bytes peak_memory;              // base + model_states + activations + transient
};

struct PlanEstimate {
  Milliseconds iteration;    // iteration_time(ctx, stages) (pipeline.h)
  double samples_per_s = 0;  // global_batch / iteration
  std::vector<StageEstimate> stages;
  std::vector<LayerEstimate> layers;  // every transformer layer, in order
  LayerCost embedding_first;          // embedding_cost(ctx, 0, embedding strategy)
  LayerCost lm_head_last;      // embedding_cost(ctx, pp - 1, ...) (== embedding_first if pp == 1:
                               // one combined cost, counted once)
  std::string profile_source;  // ctx.profile_source()
};

/// Validates the context and the strategy (and that they agree on devices, pp, micro-batches
/// and batch), then composes the per-layer functions as documented in plan_estimate.cpp.
/// Infeasible when a layer's strategy is (the message names the layer and why).
StatusOr<PlanEstimate> estimate_plan(const CostContext& ctx, const Strategy& s);

/// The figures a strategy.json stores about itself.
Prediction to_prediction(const PlanEstimate& e);

}  // namespace paratune::estimator
