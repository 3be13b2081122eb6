// Time and memory of one layer under one LayerStrategy on one pipeline stage: the numbers the
// planner's per-stage dynamic programme is built from (time[l][s], mem[l][s]).
//
//   LayerCost c = transformer_layer_cost(ctx, /*stage=*/0, LayerStrategy{.tp = 2, .dp = 4});
//   if (!c.feasible) std::cerr << c.why_not;
//   Milliseconds per_micro_batch = c.forward + c.backward;
#pragma once

#include <string>

#include "core/strategy.h"
#include "core/units.h"
#include "estimator/cost_context.h"

namespace paratune::estimator {

struct LayerCost {
  bool feasible = true;
  std::string why_not;               // e.g. "micro-batch 2 not divisible by dp 4"
  Milliseconds forward;              // one micro-batch on one device, incl. TP/SP comm and
                                     // ZeRO-3 parameter allgather
  Milliseconds backward;             // one micro-batch, incl. recompute forward if checkpoint,
                                     // TP comm and ZeRO-3 parameter allgather
  Milliseconds grad_sync;            // per iteration: DP allreduce / ZeRO-2 reduce_scatter +
                                     // allgather / ZeRO-3 reduce_scatter, standalone comm time
  Milliseconds grad_sync_exposed;    // per iteration: what the sync adds to the iteration after
                                     // overlapping with the last micro-batch's backward, plus
                                     // the optimizer step below
  Milliseconds optimizer;            // per iteration: this unit's optimizer step on its local
                                     // parameters (model profile optimizer_step; 0 without)
  Bytes model_states;                // params + grads + optimizer state per device
  Bytes activation_per_micro_batch;  // kept for backward per in-flight micro-batch per device
  Bytes transient;                   // temporary peak while the layer runs (recompute, ZeRO-3
                                     // gathered params + grads, fp32 logits-sized buffers of the loss)

  // Breakdown, already included in forward / backward above (for `paratune estimate`).
  Milliseconds compute;       // the compute of one micro-batch, fwd + bwd (recompute included),
                              // no communication: what ranks sharing a host's cores compete for
  Milliseconds tp_comm;       // TP/SP collectives of one micro-batch, fwd + bwd
  Milliseconds zero3_gather;  // ZeRO-3 allgathers of one micro-batch as they add to the
                              // compute, fwd + bwd
  Milliseconds waits;         // arrival waits of one micro-batch (TP and ZeRO collectives), fwd +
                              // bwd: like compute, an effect of ranks sharing a host's cores
  Milliseconds host_comm;     // the part of tp_comm (waits out) whose TP group is inside one
                              // island: copies through the host's loopback, which hold the
                              // ranks' CPUs (pipeline.cpp, EstimatorOptions::host_comm_holds_cpu)
  double calls = 0;           // blocking collective calls of one micro-batch on one rank, fwd +
                              // bwd (TP / SP, ZeRO's gathers and reduce-scatters): each takes
                              // cluster.host_sharing.call_cpu_ms of CPU (pipeline.cpp)

  Milliseconds micro_batch_time() const { return forward + backward; }
};

/// A feasible = false cost with its reason.
LayerCost infeasible_cost(std::string why_not);

/// One transformer layer of stage `stage`.
LayerCost transformer_layer_cost(const CostContext& ctx, StageIdx stage, const LayerStrategy& ls);
/// The embedding on the first stage, the final norm + LM head + loss on the last, both when
/// pp == 1; all zero (feasible) on middle stages. ls.tp is the vocab-parallel degree. With tied
/// embeddings and pp > 1 the last stage holds its own copy of the embedding matrix (Megatron).
LayerCost embedding_cost(const CostContext& ctx, StageIdx stage, const LayerStrategy& ls);

}  // namespace paratune::estimator
