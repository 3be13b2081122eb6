// Model profiler: per layer type (transformer layer, embedding, LM head), forward and backward
// time of one micro-batch over micro-batch sizes and TP shard shapes, parameter count, and
// activation bytes measured through the executor's tracking allocator.
//
// A tp-sharded layer is timed on this rank's shard shapes (ShardShapeHooks: tp communication
// replaced by identity, so the time is the local compute the estimator prices separately from
// communication). Every rank runs the same measurement at the same time (a world barrier
// before each point) so core and memory-bandwidth contention is what training sees; times are
// averaged over ranks. Per point: `warmup` untimed forward+backward, then timed ones: at least
// `repeats`, and as many as fill `min_time_ms` (the same count on every rank), means. Means, not
// medians: ranks that share cores take turns in scheduler slices, so most short calls run
// undisturbed and their median is the speed of a rank alone; the mean over a window of many
// slices is the speed training gets. Passes (`passes`, default 15): every point is measured once
// per pass over all of them, each time with ceil(repeats / passes) calls at least and a window
// of min_time_ms / passes, and the profile keeps the mean of the two smallest of the passes'
// rank means (`keep`, default), their lower quartile (with 5 passes the second smallest), their
// median or their smallest. On this project's shared vCPUs a pass of a point runs slow far more
// often than fast (a spell of the machine, or the point's window falling in the ranks' slow mode
// of sharing a CPU), so the low end of the passes is what two runs agree on; the median of 3
// passes moved a point by 15-35% when two passes fell in such spells (docs/profilers.md, round
// 16). Round 20: scored on the same runs' pass tables with the speed probe's ratio taken out
// (what --speed-reference does), the two smallest's mean of 5 passes made runs agree better
// than their lower quartile in each of five sets of runs, at the median pair and at the worst;
// and 15 passes of 100 ms (the default since) better than their first 5: in two sittings,
// 13 of 20 pairs had every point within 10% (5 passes: 6), the worst pair 107 of 116 (5
// passes: 96). A run takes about 3x as long (gpt-mini, 4 ranks: 140 s). The points run in the
// same order in every pass (`order`, default kFixed) or, with kShuffled, each pass in its own
// permutation; shuffling did not make runs agree better (round 20).
// Checkpointing's recompute is one more forward (the estimator adds it). The transformer layer
// is also timed forward under no_grad in the same loop (`forward_no_grad_ms`): a checkpointed
// layer's first forward records no graph, which on small layers costs far less.
//
// Clock (`clock`): kWall keeps the wall-clock means above. kCpu, for ranks that outnumber their
// host's cores (time-shared; one compute thread each), times every call twice, by the wall clock
// and by the calling thread's CPU clock, and keeps per point
//   time = CPU-time mean x R,  R = (sum of all wall times) / (sum of all CPU times) of the pass
// (ranks' means; the optimizer step, timed in the same passes, uses its pass's R too). What a
// call computes, and
// the memory-bandwidth and cache contention of the ranks running beside it, is in its CPU time;
// which rank the scheduler runs in which slice is not, and that share is R, one figure over the
// whole pass. With 4 ranks on 2 cores the wall means of a point moved 10-70% between runs while
// its CPU time moves a few percent (docs/profilers.md). The profile's `device` names the clock
// and R. kAuto (default): kCpu when the ranks on this host (the same kernel: emulated nodes
// count together) x compute threads > cores, else kWall.
//
// Speed probe: a reference call (the model's transformer layer at tp 1, micro-batch 1, forward
// and backward) run after every 40 ms of the points' timed calls, outside their stopwatches, so
// that it samples the machine's speed all through the run; its time per pass (the profile's
// clock, ranks' mean, x R with the CPU clock) is kept like a point (`speed_probe` in the
// profile). On this project's vCPUs a whole run can go 10-25% faster or slower than the one
// before it, every point with it; the probe's run-level time moves with them about as much as
// the points' median does (docs/profilers.md, round 19). With `reference_probe_ms`
// (profile-model --speed-reference EARLIER.json) every time is multiplied by reference /
// measured probe, so that the profile is on the earlier one's speed (the scale is recorded).
// The probe takes about 10% of the timed loops' time (gpt-mini on 4 ranks: 4.6 ms per 40 ms).
//
// Activation bytes kept for backward, per sample (allocator's live bytes):
//   A(b) = live(after forward, output alive) - live(before) - output bytes + input bytes
// (the input counts: the layer's norm keeps it; the output is the next layer's input), and
// bytes_per_sample = (A(b_max) - A(b_min)) / (b_max - b_min) (A(b)/b with one micro-batch size).
// Measured for every tp and, for tp > 1, also with sequence parallel (the SP hooks gather and
// scatter the sequence locally). checkpoint_bytes_per_sample: the same measure for a forward
// under no_grad at tp = 1 (only the input stays).
//
// The optimizer step of one unit (optimizer_step): the executor's per-unit work after the
// gradient sync (gradient square sum, clipping, Adam, zeroing) on n fp32 parameters, for n =
// the largest unit's parameters and / 4 down to 1024 (at most 4 sizes), timed like a compute
// point (all ranks at once, window means, averaged over ranks, in every pass after the points,
// kept like the points).
//
//   ModelProfile p = profile_model(cfg, comms, ModelProfilerOptions{});
#pragma once

#include <string>
#include <vector>

#include "core/model_config.h"
#include "core/model_profile.h"
#include "executor/comm.h"

namespace paratune::profiler {

enum class ProfileClock { kAuto, kWall, kCpu };
/// Which value of a point's passes the profile keeps.
enum class PassKeep { kTwoSmallest, kLowerQuartile, kMedian, kMin };
/// The order of the timed points (and optimizer sizes) in a pass: kFixed runs them kind by kind,
/// tp by tp, micro-batch by micro-batch in every pass; kShuffled runs each pass in its own
/// seeded permutation of that order (the same on every rank), so that a slow spell of the
/// machine longer than one point falls on different points in different passes.
enum class PointOrder { kFixed, kShuffled };

struct ModelProfilerOptions {
  std::vector<int> micro_batches = {1, 2, 4};  // local micro-batch sizes (default 1, 2, 4)
  std::vector<int> tps;       // TP degrees; empty: 1, 2, 4, 8 where the model allows (default)
  int warmup = 1;             // untimed runs per point (default 1)
  int repeats = 3;            // timed runs per point at least, over all passes (default 3)
  int passes = 15;            // passes over every point (default 15)
  PassKeep keep = PassKeep::kTwoSmallest;  // the passes' value kept (default the two smallest's mean)
  PointOrder order = PointOrder::kFixed;     // the points' order in each pass (see above)
  double min_time_ms = 1500;  // timed forward+backward per point at least, ms, over all passes
                              // (default 1500: 100 ms a pass)
  bool progress = true;       // progress bar on rank 0 (default on)
  ProfileClock clock = ProfileClock::kAuto;  // see above (default auto)
  double reference_probe_ms = 0;  // > 0: put the times on the speed at which the probe takes
                                  // this long (see above; default 0: as measured)
  Status validate(const ModelConfig& cfg) const;
};

/// "auto", "wall" or "cpu"; an error naming --clock otherwise.
StatusOr<ProfileClock> parse_clock(const std::string& s);
/// The clock kAuto resolves to for `host_ranks` ranks of `threads` compute threads each on
/// `cores` cores (kCpu when they outnumber the cores); kWall / kCpu stay as they are.
ProfileClock resolve_clock(ProfileClock c, int host_ranks, int threads, int cores);

/// "two-smallest", "lower-quartile", "median" or "min"; an error naming --keep otherwise.
StatusOr<PassKeep> parse_keep(const std::string& s);

/// "fixed" or "shuffled"; an error naming --order otherwise.
StatusOr<PointOrder> parse_order(const std::string& s);

/// The order in which pass `pass` runs `n` points: 0 .. n-1 for kFixed; for kShuffled a
/// permutation drawn from a generator seeded by the pass alone (every rank, every run and every
/// build draw the same one; pass 0 is shuffled too).
std::vector<size_t> pass_order(size_t n, int pass, PointOrder order);

/// Every pass's value of every timed point (the ranks' means), for a look at the machine's noise
/// (`profile-model --passes-csv`). Rows in the fixed order (see PointOrder); `kept` is what the profile holds.
struct PassTable {
  std::vector<std::string> points;  // e.g. "transformer tp 2 mb 4 backward", "optimizer 1024"
  std::vector<std::vector<double>> passes;  // [pass][point], ms
  std::vector<double> kept;                 // [point], ms, before the reference_probe_ms scale
                                            // (the last point is the speed probe)
  std::string to_csv() const;
};

/// TP degrees of {1, 2, 4, 8} that divide the layer (heads, kv heads, ffn) and the vocabulary.
std::vector<int> allowed_tps(const ModelConfig& cfg);
/// Collective over comms' world (every rank calls it with the same arguments).
/// `table`, when given, receives every pass's values.
ModelProfile profile_model(const ModelConfig& cfg, executor::Comms& comms,
                           const ModelProfilerOptions& o, PassTable* table = nullptr);

}  // namespace paratune::profiler
