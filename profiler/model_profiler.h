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
// slices is the speed training gets. Passes (`passes`, default 3): every point is measured once
// per pass over all of them, each time with ceil(repeats / passes) calls at least and a window
// of min_time_ms / passes, and the profile keeps the median of the passes' rank means.
// Checkpointing's recompute is one more forward (the estimator adds it).
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
// point (all ranks at once, window means, averaged over ranks).
//
//   ModelProfile p = profile_model(cfg, comms, ModelProfilerOptions{});
#pragma once

#include <vector>

#include "core/model_config.h"
#include "core/model_profile.h"
#include "executor/comm.h"

namespace paratune::profiler {

struct ModelProfilerOptions {
  std::vector<int> micro_batches = {1, 2, 4};  // local micro-batch sizes (default 1, 2, 4)
  std::vector<int> tps;       // TP degrees; empty: 1, 2, 4, 8 where the model allows (default)
  int warmup = 1;             // untimed runs per point (default 1)
  int repeats = 3;            // timed runs per point at least, over all passes (default 3)
  int passes = 3;             // passes over every point, median of passes kept (default 3)
  double min_time_ms = 300;   // timed forward+backward per point at least, ms (default 300)
  bool progress = true;       // progress bar on rank 0 (default on)
  Status validate(const ModelConfig& cfg) const;
};

/// TP degrees of {1, 2, 4, 8} that divide the layer (heads, kv heads, ffn) and the vocabulary.
std::vector<int> allowed_tps(const ModelConfig& cfg);
/// Collective over comms' world (every rank calls it with the same arguments).
ModelProfile profile_model(const ModelConfig& cfg, executor::Comms& comms,
                           const ModelProfilerOptions& o);

}  // namespace paratune::profiler
