// 1F1B pipeline model.
//
// Stage s of pp runs M micro-batches; micro_s = sum over its layers of (forward + backward) +
// resharding + embedding / head + p2p to the next stage (ms per micro-batch).
//   in flight(s) = min(M, pp - s)   activations of that many micro-batches are alive at the
//                                   peak (stage 0 after its warm-up holds pp of them)
//   T = sum_s micro_s + (M - 1) * max_s micro_s + max_s sync_s
// The first term is one micro-batch crossing every stage (fill + drain), the second the steady
// state paced by the slowest stage, the last the exposed gradient synchronisation / optimizer
// step after the last backward (stages sync in parallel). With equal stages this is the usual
// (M + pp - 1) * micro.
// p2p (per micro-batch, forward activation + backward gradient):
//   bytes = (B / M) * seq * hidden * e / g,   p2p = 2 * (alpha + bytes / bw)
// with the p2p fit (comm_model.cpp) of the placement of pairs (s*g + i, (s+1)*g + i).
#include "estimator/pipeline.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "estimator/comm_model.h"

namespace paratune::estimator {

int in_flight_micro_batches(int pp, StageIdx stage, int micro_batches) {
  PARATUNE_CHECK(pp >= 1 && stage >= 0 && stage < pp && micro_batches >= 1);
  return std::min(micro_batches, pp - stage);
}

Milliseconds pipeline_iteration_time(const std::vector<Milliseconds>& stage_micro,
                                     const std::vector<Milliseconds>& stage_sync,
                                     int micro_batches) {
  PARATUNE_CHECK(!stage_micro.empty() && stage_micro.size() == stage_sync.size());
  PARATUNE_CHECK(micro_batches >= 1);
  Milliseconds sum, slowest, sync;
  for (size_t s = 0; s < stage_micro.size(); ++s) {
    sum += stage_micro[s];
    slowest = std::max(slowest, stage_micro[s]);
    sync = std::max(sync, stage_sync[s]);
  }
  return sum + slowest * (micro_batches - 1) + sync;
}

Milliseconds p2p_time(const CostContext& ctx, StageIdx from_stage) {
  PARATUNE_CHECK(from_stage >= 0 && from_stage < ctx.pp);
  if (from_stage == ctx.pp - 1) return Milliseconds(0);
  const int g = ctx.devices_per_stage();
  const ModelConfig& m = *ctx.model;
  const Bytes bytes(static_cast<double>(ctx.stage_micro_batch()) * m.seq_len * m.hidden *
                    dtype_bytes(m.dtype) / g);
  Placement placement = Placement::kIntraIsland;
  for (int i = 0; i < g; ++i) {
    const Rank r = from_stage * g + i;
    if (island_of_rank(ctx, r) != island_of_rank(ctx, r + g)) {
      placement = Placement::kInterIsland;
      break;
    }
  }
  const std::optional<CommFit> fit = find_p2p(*ctx.cluster, placement);
  if (!fit) return Milliseconds(std::numeric_limits<double>::infinity());
  return p2p_transfer_time(*fit, bytes) * 2.0;
}

}  // namespace paratune::estimator
