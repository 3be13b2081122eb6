// Cluster profiler: measures, on every rank at once, what core/cluster_profile.h describes.
//
// Collective over all rank partitions of profiler/group_shapes.h; for each shape and op all
// groups run concurrently (contention is real). Per message size: `warmup` untimed calls, a
// world barrier, `repeats` timed calls; a rank's sample is its median, the shape's sample the
// slowest rank's median (a collective ends with its slowest group). alpha-beta fit per
// (op, n, placement, consecutive) with profiler/fit.h's fit_alpha_beta_robust (one slow size in
// the middle of the sweep is left out of the line); raw samples are kept.
//   allreduce:      in-place allreduce of B bytes
//   allgather:      B/n bytes in, B bytes out (Group::allgather_into)
//   reduce_scatter: B bytes in, B/n out (Group::reduce_scatter: alltoall + local sum, which is
//                   what the executor's ZeRO runs)
//   all2all:        the same alltoall with the local sum's separately timed median subtracted
//                   (the Gloo wrapper exposes alltoall only inside reduce_scatter)
// With load_ms > 0 every timed collective call follows load_ms of compute (GEMMs) on every rank,
// as in training, and the shape's sample is the mean instead of the median.
// Shapes whose every group has a CPU to itself (group_has_cpu_to_itself(): all its ranks bound
// to one CPU that no other rank runs on; e.g. ranks 0 and 2 of two emulated nodes of 2 ranks
// bound [0, 1, 0, 1]) are timed as training calls them: each call after shared_cpu_load_ms of
// GEMMs on every rank (load_ms instead where that is set), from the group's last arrival (stamps)
// to the rank's return, the mean. Back to back such a pair pays a scheduler slice per call (3-4
// ms at 16-64 KiB) that training's calls, which follow compute, do not; where other ranks share
// the CPU they compute during training's calls and the back-to-back time is the closer one
// (docs/accuracy.md, round 15).
// Arrival waits (per shape, all groups at once): a 4 KiB allreduce after 0.5, 2 and 8 ms of
// GEMMs (side 128; the load's measured mean is recorded) on every rank. Where each group of the
// shape runs on one kernel: the last arrival's stamp minus the rank's own (steady clock, stamped
// into the allreduced buffer); otherwise the call's mean time minus the median of the same
// allreduce back to back; means over ranks.
// p2p: ping-pong between the pairs of p2p_pairs() (all pairs at once), one-way = round trip / 2.
// p2p handoff (with waits, where both ranks of every pair run on one kernel, so one clock): per
// round the pair's first rank computes 4 ms (GEMMs, at one rank's speed alone), stamps a 64 KiB
// message, sends it without waiting and computes 4 ms more; the second waits for it. fraction =
// (mean arrival - stamp - the idle one-way time) / mean compute after the send (>= 0), over 40
// rounds (or 4 x repeats), all pairs at once.
// GEMM: fp32 square matmul of side gemm_size on every rank at once, 2 n^3 / mean time over a
// window of min_time_ms (the same call count on every rank; median of 3 windows).
// Host sharing: ranks_per_host = the size of the blocks of consecutive ranks with one boot id
// (one kernel, so one set of cores; emulated nodes share it); compute_slowdown = that window
// with every rank computing over the same window on rank 0 alone (>= 1), the median of 3 pairs
// of windows taken in turn; cpus = the CPU each rank of a host is bound to, when every rank's
// affinity is one CPU and every host binds alike (paratune launch's --cpu-bind spread with
// fewer CPUs than ranks); call_cpu_ms = the
// process CPU time (every thread) per call of a 1-element allreduce over the rank's pair, every
// rank calling at once, the median of 5 batches of 100 (or 10 x repeats) calls after 20 calls
// of warm-up, mean over the ranks (only with 2 or more ranks per host).
// Memory bandwidth: copy of 64 MiB, 2 * bytes / median time. Memory: physical RAM / local ranks.
// Overlap: median GEMM time while a world allreduce (largest size) loops in a second thread,
// over the GEMM alone = compute_slowdown; likewise for the allreduce = comm_slowdown (>= 1).
//
// Passes: the collectives, arrival waits, p2p and handoff run `passes` times over all of them
// (interleaved), and each sample is the median over the passes.
//
// Collective: every rank calls profile_cluster() with the same options; every rank returns the
// same profile (values are reduced over the world).
//
//   ClusterProfile c = profile_cluster(comms, env, ClusterProfilerOptions{});
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/cluster_profile.h"
#include "executor/comm.h"
#include "executor/rendezvous.h"

namespace paratune::profiler {

struct ClusterProfilerOptions {
  std::string name = "measured";  // profile name (default "measured")
  std::vector<CollectiveOp> ops = {CollectiveOp::kAllReduce, CollectiveOp::kAllGather,
                                   CollectiveOp::kReduceScatter,
                                   CollectiveOp::kAllToAll};  // ops to measure (default all four)
  std::vector<int64_t> sizes = {16 << 10, 256 << 10, 1 << 20, 4 << 20,
                                16 << 20};  // message bytes (default 16 KiB .. 16 MiB)
  int warmup = 1;          // untimed calls per size (default 1)
  int repeats = 5;         // timed calls per size, median kept (default 5)
  int passes = 3;          // passes over every measurement, median of passes kept (default 3)
  bool p2p = true;         // measure p2p (default on)
  bool overlap = true;     // measure overlap slowdown (default on)
  int gemm_size = 1024;    // GEMM side (default 1024)
  double min_time_ms = 200;  // GEMM timing window, ms (default 200)
  double load_ms = 0;        // compute before each timed collective call, ms (0: none, medians)
  double shared_cpu_load_ms = 1;  // the same, for groups with a CPU to themselves (0: none)
  bool waits = true;         // measure arrival waits and the p2p handoff (default on)
  bool progress = true;    // progress bar on rank 0's stderr (default on)
  Status validate() const;
};

ClusterProfile profile_cluster(executor::Comms& comms, const executor::DistEnv& env,
                               const ClusterProfilerOptions& o);

/// Whether the ranks `members` (2 or more) run on one kernel (ids: host_id() per rank of the
/// world) and are bound to one and the same CPU (bound: 1 + the CPU per rank, 0 where a rank may
/// run on several) that no other rank of that kernel is bound to.
bool group_has_cpu_to_itself(const std::vector<Rank>& members, const std::vector<double>& bound,
                             const std::vector<double>& ids);

/// This host's kernel, as a number: the first 12 hex digits of the boot id (exact in a double);
/// the hostname's hash when the boot id cannot be read. Emulated nodes share it.
double host_id();

}  // namespace paratune::profiler
