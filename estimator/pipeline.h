// The 1F1B pipeline: micro-batches in flight per stage, the iteration time from per-stage
// times, and the point-to-point cost between neighbouring stages.
//
//   int k = in_flight_micro_batches(/*pp=*/4, /*stage=*/1, /*micro_batches=*/8);   // 3
//   Milliseconds t = pipeline_iteration_time({10_ms, 12_ms}, {1_ms, 2_ms}, 8);
#pragma once

#include <vector>

#include "core/strategy.h"
#include "core/units.h"
#include "estimator/cost_context.h"

namespace paratune::estimator {

/// Micro-batches whose activations stage `stage` holds at once under 1F1B: min(M, pp - stage).
int in_flight_micro_batches(int pp, StageIdx stage, int micro_batches);

/// T = sum_s micro_s + (M - 1) * max_s micro_s + max_s sync_s, where micro_s is one micro-batch's
/// forward + backward on stage s (its p2p included) and sync_s its exposed gradient sync.
Milliseconds pipeline_iteration_time(const std::vector<Milliseconds>& stage_micro,
                                     const std::vector<Milliseconds>& stage_sync,
                                     int micro_batches);

/// One stage's times for iteration_time(): per micro-batch the whole time (`micro`, p2p
/// included) and its compute part; per iteration the exposed sync.
struct StageTime {
  Milliseconds micro;
  Milliseconds compute;  // <= micro
  Milliseconds sync;
  Milliseconds waits;  // the arrival waits in micro (LayerCost::waits): they shrink with the
                       // compute when the rest of the host is idle
  // Sets of the stage's ranks on its busiest host that no per-micro-batch collective joins
  // (host_groups): 1 = the ranks run in step; more = one set's communication frees cores for
  // another's compute.
  int groups = 1;
  // Blocking communication calls of one micro-batch on one rank (LayerCost::calls, the p2p
  // sends and receives, 2 per reshard): each takes cluster.host_sharing.call_cpu_ms of CPU
  // from the host's cores (T2).
  double calls = 0;
  // The forward's share of micro (and of its compute and communication): how the stage's
  // micro-batch splits into the two tasks of bound_pipeline_time().
  double forward_share = 1.0 / 3;
  // The communication in micro (waits out) through the host's loopback: TP collectives inside
  // an island (LayerCost::host_comm). With EstimatorOptions::host_comm_holds_cpu the 1F1B
  // schedule on bound CPUs counts it as CPU work of the stage, not as time that frees its CPUs.
  Milliseconds host_comm;
};

/// Blocking p2p calls of one micro-batch on a rank of stage `stage`: 2 (the activation and its
/// gradient) per neighbouring stage.
double p2p_calls(const CostContext& ctx, StageIdx stage);
/// Collective calls of one reshard per micro-batch (the forward's allgather and the gradient's).
inline constexpr double kReshardCalls = 2.0;

/// How many sets of stage `stage`'s ranks on its busiest host (the host with most of them) are
/// not joined by any collective issued per micro-batch: the TP groups of the embedding / head
/// and of every layer in `layers`, their DP groups under ZeRO-2/3 (per-micro-batch
/// reduce-scatters and gathers), and the whole stage when a reshard runs between two of them
/// (`reshards`). 1 without host sharing.
int host_groups(const CostContext& ctx, StageIdx stage, const LayerStrategy& embedding,
                const std::vector<LayerStrategy>& layers, bool reshards);

/// k(n_s) / k (pipeline.cpp): how much of a stage's profiled compute time it takes while the rest
/// of its host waits; 1 without host sharing or when the stage fills its host.
double solo_compute_factor(const CostContext& ctx, StageIdx stage);
/// The least share of a stage's profiled compute (and arrival waits) that it can take at any
/// speed the model gives it: one rank of the host computing alone (max(1, k / R) / k); 1
/// without host sharing. For lower bounds.
double least_solo_compute_factor(const CostContext& ctx);
/// micro - (1 - solo_compute_factor) * (compute + waits): the stage's micro-batch time while the
/// rest of its host waits (== micro without host sharing). The arrival waits shrink like the
/// compute: a peer falls behind because the host's cores are oversubscribed.
Milliseconds solo_micro(const CostContext& ctx, StageIdx stage, const StageTime& s);
/// The stage's micro-batch time with its s.groups sets of ranks sharing the host's cores out of
/// step (pipeline.cpp, processor sharing): solo_micro when s.groups == 1 or without host
/// sharing, less otherwise. What T1 of iteration_time() uses.
Milliseconds shared_micro(const CostContext& ctx, StageIdx stage, const StageTime& s);

/// True when ctx's cluster records the one CPU each rank of a host is bound to
/// (host_sharing.cpus) and its ranks share cores.
bool bound_one_cpu_each(const CostContext& ctx);
/// The 1F1B schedule of ctx's pipeline played out on the CPUs the ranks are bound to
/// (pipeline.cpp): when the last backward ends, plus the largest exposed sync. handoff[s]: the
/// delay (ms) of each message over link s -> s + 1 (pp - 1 entries). Needs
/// bound_one_cpu_each(ctx).
Milliseconds bound_pipeline_time(const CostContext& ctx, const std::vector<StageTime>& stages,
                                 const std::vector<double>& handoff);

/// The iteration time of ctx's pipeline. Without host sharing (cluster.host_sharing.shared()
/// false: GPUs, or one rank per core) and without handoff delays it is
/// pipeline_iteration_time(micro, sync, M). With sharing, max(T1, T2) (pipeline.cpp): the 1F1B
/// formula at solo speed, and the host's compute capacity. Links whose p2p has a
/// handoff_fraction add their delay to the stage's micro-batch time in T1 (pipeline.cpp).
Milliseconds iteration_time(const CostContext& ctx, const std::vector<StageTime>& stages);

/// Per micro-batch: the activation sent from stage `from_stage` to from_stage + 1 in forward plus
/// its gradient sent back in backward; 0 for the last stage. Every device of the stage sends its
/// block of the micro-batch's activation in the layout of the stage's last layer `last` to the
/// device at the same position of the next stage (executor/trainer.cpp): B/M * seq * hidden * e
/// / (dp * seq_split) bytes, seq_split = tp with sequence parallelism and 1 without (TP ranks
/// without SP each send the whole replicated block). Inter-island when any such pair is.
/// Infinite when the cluster profile has no p2p or collective data.
Milliseconds p2p_time(const CostContext& ctx, StageIdx from_stage, const LayerStrategy& last);

}  // namespace paratune::estimator
