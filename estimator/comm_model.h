// Communication prices from the cluster profile: the alpha-beta model of core/cluster_profile.h
// looked up by (op, group size, placement, consecutiveness) with documented fallbacks, and the
// shape (size, placement, consecutiveness) of a layer's TP and DP groups.
//
//   std::optional<CommFit> f = find_collective(cluster, CollectiveOp::kAllReduce, 4,
//                                              Placement::kIntraIsland, /*consecutive=*/true);
//   Milliseconds t = collective_time(*f, CollectiveOp::kAllReduce, 4, Bytes(64 * kMiB));
#pragma once

#include <optional>
#include <vector>

#include "core/cluster_profile.h"
#include "core/strategy.h"
#include "core/units.h"
#include "estimator/cost_context.h"

namespace paratune::estimator {

/// One alpha-beta pair: latency (alpha) and bandwidth (1 / beta): the bus bandwidth for a
/// collective, the link bandwidth for p2p.
struct CommFit {
  Milliseconds latency;
  BytesPerSecond bandwidth;
  /// The measured samples behind the fit (an exact profile entry's), or null: then the price
  /// is the fit alone (see collective_time()).
  const std::vector<CommSample>* samples = nullptr;
};

/// The fit for a collective, or nullopt when the profile has no collective and no p2p data at
/// all. See comm_model.cpp for the fallback order.
std::optional<CommFit> find_collective(const ClusterProfile& c, CollectiveOp op, int group_size,
                                       Placement placement, bool consecutive);
/// The fit for a point-to-point transfer (bandwidth is the link's, not a bus bandwidth).
std::optional<CommFit> find_p2p(const ClusterProfile& c, Placement placement);

/// The p2p entry's handoff_fraction for `placement` (the other placement's entry when there is
/// none for it; 0 without p2p entries): pipeline.cpp's handoff delay.
double handoff_fraction(const ClusterProfile& c, Placement placement);

/// alpha * latency_calls + algo_factor(op, n) * bytes / bus_bandwidth, with `bytes` the full
/// (unsharded) tensor; 0 when n <= 1 or bytes == 0. With `use_samples` and fit.samples, plus
/// latency_calls x the samples' residual (measured - fit) at bytes / latency_calls (a call's
/// size), interpolated linearly in log2(bytes) between the nearest measured sizes and constant
/// beyond them: at a measured size and one call, the price is the measured time (never < 0).
Milliseconds collective_time(const CommFit& fit, CollectiveOp op, int group_size, Bytes bytes,
                             double latency_calls = 1.0, bool use_samples = false);
/// The samples' residual above (0 without samples).
Milliseconds sample_residual(const CommFit& fit, CollectiveOp op, int group_size, Bytes bytes);
/// alpha + bytes / bandwidth; 0 when bytes == 0.
Milliseconds p2p_transfer_time(const CommFit& fit, Bytes bytes);

/// The communication groups of one layer on one stage.
struct GroupShape {
  int size = 1;
  Placement placement = Placement::kIntraIsland;  // inter when any group spans islands
  bool consecutive = true;                        // groups are runs of consecutive ranks
};
GroupShape tp_group_shape(const CostContext& ctx, StageIdx stage, const LayerStrategy& ls);
GroupShape dp_group_shape(const CostContext& ctx, StageIdx stage, const LayerStrategy& ls);
/// All devices of one stage as one group (resharding's allgather).
GroupShape stage_group_shape(const CostContext& ctx, StageIdx stage);

/// Island of a global rank of the plan (checks rank < cluster devices).
int island_of_rank(const CostContext& ctx, Rank r);

/// Prices collectives for one cost function and remembers the first missing profile entry, so
/// the caller can report the layer infeasible instead of silently pricing it at zero.
class CommPricer {
 public:
  /// `scales` (may be null: all 1, else it must outlive the pricer): the calibration's
  /// multipliers on collectives and waits (TermScales).
  /// `use_samples`: EstimatorOptions::comm_samples (off by default).
  explicit CommPricer(const ClusterProfile& cluster, const TermScales* scales = nullptr,
                      bool use_samples = false)
      : cluster_(cluster), scales_(scales), use_samples_(use_samples) {}
  /// collective_time() over the group `g` times the op's scale; 0 (and missing() set) without
  /// profile data.
  Milliseconds collective(CommUse use, CollectiveOp op, const GroupShape& g, Bytes bytes,
                          double latency_calls = 1.0);
  /// What a collective over `g` called after `compute_before` of compute waits for its slowest
  /// rank (cluster.arrival_waits, comm_model.cpp) times scales.wait; 0 when the profile has none
  /// or the ranks share their host's cores (the profiled compute already holds the wait).
  Milliseconds wait(const GroupShape& g, Milliseconds compute_before) const;
  /// "" when every lookup found data, else the first missing entry in words.
  const std::string& missing() const { return missing_; }

 private:
  const ClusterProfile& cluster_;
  const TermScales* scales_;
  bool use_samples_;
  std::string missing_;
};

}  // namespace paratune::estimator
