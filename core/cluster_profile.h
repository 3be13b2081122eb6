// Cluster profile (cluster.json): islands of devices with fast links, per-device memory and
// compute, measured or spec-sheet collective and p2p costs, compute/communication overlap.
//
// Collective cost model (alpha-beta, per op, group size and placement):
//   time_ms(bytes) = latency_ms + algo_factor(op, n) * bytes / bus_bandwidth_bytes_per_s * 1e3
// with algo_factor = 2(n-1)/n for allreduce and (n-1)/n for allgather, reduce_scatter and
// all2all, `bytes` being the full (unsharded) tensor size — the nccl-tests "bus bandwidth"
// convention. Raw samples are kept so a fit can be checked or redone.
//
//   StatusOr<ClusterProfile> c = load_cluster_profile("configs/clusters/a100-80gb-1x8.json");
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/json_reader.h"
#include "core/status.h"
#include "core/units.h"

namespace paratune {

enum class CollectiveOp { kAllReduce, kAllGather, kReduceScatter, kAllToAll };
const char* to_string(CollectiveOp op);  // "allreduce" | "allgather" | "reduce_scatter" | "all2all"
/// 2(n-1)/n for allreduce, (n-1)/n otherwise; 0 for n <= 1.
double algo_factor(CollectiveOp op, int n);

/// Where a group's devices are: all inside one island, or spanning islands.
enum class Placement { kIntraIsland, kInterIsland };
const char* to_string(Placement p);  // "intra" | "inter"

struct Island {
  std::string name;
  int devices = 0;
  bool operator==(const Island& o) const { return name == o.name && devices == o.devices; }
};

struct DeviceSpec {
  std::string name;
  Bytes memory;                      // usable memory per device
  FlopsPerSecond flops;              // dense matmul throughput in the training dtype
  BytesPerSecond memory_bandwidth;   // device memory bandwidth
  // Per-device memory outside the model's tensors that counts against the limit (CUDA context,
  // allocator slack, communication buffers). nullopt: the estimator's default (1 GiB); a CPU
  // profile measured by paratune says 0 (its tracking allocator counts tensors only).
  std::optional<Bytes> runtime_buffer;
  bool operator==(const DeviceSpec& o) const;
};

struct CommSample {
  Bytes bytes;        // message (full tensor) size
  Milliseconds time;  // median time
  bool operator==(const CommSample& o) const { return bytes == o.bytes && time == o.time; }
};

struct CollectiveFit {
  CollectiveOp op = CollectiveOp::kAllReduce;
  int group_size = 2;
  Placement placement = Placement::kIntraIsland;
  bool consecutive = true;             // group of consecutive ranks (false: strided)
  Milliseconds latency;                // alpha
  BytesPerSecond bus_bandwidth;        // 1 / beta, bus-bandwidth convention
  std::vector<CommSample> samples;     // raw measurements (may be empty for spec-sheet data)
  bool operator==(const CollectiveFit& o) const;
};

struct P2pFit {
  Placement placement = Placement::kIntraIsland;
  Milliseconds latency;
  BytesPerSecond bandwidth;
  std::vector<CommSample> samples;
  // Pipeline handoff (0: not measured or none): a message sent without waiting, by a rank that
  // then computes for c ms, reaches its waiting peer handoff_fraction * c later than an idle
  // send would (every pair of the placement doing the same at once). Gloo on CPU progresses a
  // send on its event-loop thread, which on ranks that share cores (at nice 19) gets a core
  // only when the sender stops computing: about 1. Dedicated devices: about 0.
  double handoff_fraction = 0;
  bool operator==(const P2pFit& o) const;
};

struct OverlapCoefficients {
  double compute_slowdown = 1.0;  // compute time multiplier while communication overlaps (>= 1)
  double comm_slowdown = 1.0;     // communication time multiplier while compute overlaps (>= 1)
  bool operator==(const OverlapCoefficients& o) const {
    return compute_slowdown == o.compute_slowdown && comm_slowdown == o.comm_slowdown;
  }
};

/// Devices that are CPU ranks of one host share its cores: when all of them compute at once each
/// one computes `compute_slowdown` times slower than alone (4 ranks on 2 cores: about 2). GPUs do
/// not share anything this way: ranks_per_host = 0 (absent in the file), and the estimator's
/// pipeline model is the plain 1F1B formula.
struct HostSharing {
  int ranks_per_host = 0;         // consecutive ranks on one host (0: no sharing recorded)
  double compute_slowdown = 1.0;  // all of a host's ranks computing / one alone (>= 1)
  // CPU time (every thread of the rank's process) one rank spends per collective or p2p call
  // (profiled with 1-element calls), every rank calling at once: the hand-off to the backend's threads, their loop, the
  // copies. On shared cores it is taken from the other ranks' compute. 0: not measured.
  double call_cpu_ms = 0.0;
  // The CPU each rank of a host is bound to, by its position on the host (ranks_per_host
  // entries, the same on every host), when every rank is bound to one CPU (`paratune launch
  // --cpu-bind spread` with fewer CPUs than ranks): ranks on one CPU take turns, ranks on
  // different CPUs do not compete. Empty: not bound one CPU each (not recorded).
  std::vector<int> cpus = {};
  bool operator==(const HostSharing& o) const {
    return ranks_per_host == o.ranks_per_host && compute_slowdown == o.compute_slowdown &&
           call_cpu_ms == o.call_cpu_ms && cpus == o.cpus;
  }
  bool shared() const { return ranks_per_host > 1 && compute_slowdown > 1.0; }
};

/// A collective called right after compute waits for the group's slowest rank to arrive. On
/// dedicated devices that wait is small; on ranks that share a host's cores it grows with the
/// compute before the call (a rank descheduled mid-compute arrives a scheduler slice late), but
/// there the estimator charges none: its profiled compute, taken with all of a host's ranks
/// computing, already ends when the last of them does (estimator/comm_model.cpp).
/// Measured per group shape after `load` ms of compute on every rank: where the group's ranks
/// share one clock, the mean time from a rank's arrival at a tiny allreduce to the last one's;
/// elsewhere the mean extra time of the allreduce over the same allreduce without compute.
struct WaitSample {
  Milliseconds load;  // compute before the call, at one rank's speed alone
  Milliseconds wait;  // mean wait for the group's last arrival (>= 0)
  bool operator==(const WaitSample& o) const { return load == o.load && wait == o.wait; }
};
struct ArrivalWait {
  int group_size = 2;
  Placement placement = Placement::kIntraIsland;
  bool consecutive = true;
  std::vector<WaitSample> samples;  // increasing load
  bool operator==(const ArrivalWait& o) const {
    return group_size == o.group_size && placement == o.placement &&
           consecutive == o.consecutive && samples == o.samples;
  }
};

struct ClusterProfile {
  static constexpr int kFormatVersion = 1;
  std::string name;
  std::string source;  // "measured" | "spec-sheet" | "galvatron-import"
  std::string note;    // free text: where the numbers come from
  DeviceSpec device;
  std::vector<Island> islands;
  std::vector<CollectiveFit> collectives;
  std::vector<P2pFit> p2p;
  OverlapCoefficients overlap;
  HostSharing host_sharing;
  std::vector<ArrivalWait> arrival_waits;  // empty: no waits measured (none charged)

  int num_devices() const;
  /// Devices per island (islands are homogeneous; validate() checks it).
  int devices_per_island() const;
  /// Island of global rank r (ranks are numbered island by island).
  int island_of(Rank r) const;
  bool operator==(const ClusterProfile& o) const;
};

Status validate(const ClusterProfile& c, const std::string& file);
StatusOr<ClusterProfile> cluster_profile_from_json(const Json& j, const std::string& file);
StatusOr<ClusterProfile> load_cluster_profile(const std::string& path);
Json to_json(const ClusterProfile& c);
/// Stable short hash of the content ("c-" + 16 hex digits).
std::string fingerprint(const ClusterProfile& c);

}  // namespace paratune
