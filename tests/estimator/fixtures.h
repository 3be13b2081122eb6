// Tiny models, clusters and profiles built in code for the estimator tests. Numbers are chosen
// so that golden values can be computed by hand: 1 GB/s = 1e-6 ms per byte, 0 latency unless a
// test sets one.
#pragma once

#include <string>
#include <vector>

#include "core/cluster_profile.h"
#include "core/model_config.h"
#include "core/model_profile.h"
#include "core/strategy.h"
#include "estimator/cost_context.h"

namespace paratune::estimator::testing {

/// 4 layers, hidden 64, 4 heads, ffn 256, seq 16, vocab 128.
inline ModelConfig tiny_model(DType dtype = DType::kFp32) {
  ModelConfig m;
  m.name = "tiny";
  m.num_layers = 4;
  m.hidden = 64;
  m.heads = 4;
  m.kv_heads = 4;
  m.ffn_hidden = 256;
  m.seq_len = 16;
  m.vocab = 128;
  m.dtype = dtype;
  return m;
}

inline CollectiveFit fit(CollectiveOp op, int n, Placement p, bool consecutive, double gbps,
                         double latency_ms = 0) {
  CollectiveFit f;
  f.op = op;
  f.group_size = n;
  f.placement = p;
  f.consecutive = consecutive;
  f.latency = Milliseconds(latency_ms);
  f.bus_bandwidth = BytesPerSecond(gbps * 1e9);
  return f;
}

inline P2pFit p2p(Placement p, double gbps, double latency_ms = 0) {
  P2pFit f;
  f.placement = p;
  f.bandwidth = BytesPerSecond(gbps * 1e9);
  f.latency = Milliseconds(latency_ms);
  return f;
}

/// `islands` islands of `per_island` devices. Intra-island collectives 10 GB/s bus bandwidth,
/// inter-island 1 GB/s, p2p 10 / 1 GB/s, all with zero latency; no overlap slowdown.
inline ClusterProfile two_level_cluster(int islands = 2, int per_island = 4) {
  ClusterProfile c;
  c.name = "test-cluster";
  c.source = "spec-sheet";
  c.device.name = "test-device";
  c.device.memory = Bytes(16 * kGiB);
  c.device.flops = FlopsPerSecond(1e12);
  c.device.memory_bandwidth = BytesPerSecond(1e11);
  for (int i = 0; i < islands; ++i)
    c.islands.push_back(Island{"node" + std::to_string(i), per_island});
  for (int n = 2; n <= per_island; n *= 2) {
    for (bool cons : {true, false}) {
      c.collectives.push_back(fit(CollectiveOp::kAllReduce, n, Placement::kIntraIsland, cons, 10));
    }
  }
  for (int n = 2; n <= islands * per_island; n *= 2) {
    for (bool cons : {true, false}) {
      c.collectives.push_back(fit(CollectiveOp::kAllReduce, n, Placement::kInterIsland, cons, 1));
    }
  }
  c.p2p.push_back(p2p(Placement::kIntraIsland, 10));
  c.p2p.push_back(p2p(Placement::kInterIsland, 1));
  return c;
}

/// Measured-style profile for tiny_model: transformer forward = 1 + b/tp ms, backward twice
/// that, at b in {1, 2, 4} x tp in {1, 2}; embedding 0.1 / 0.2 ms and LM head 0.5 / 1 ms per
/// sample at tp 1; activations 1000 bytes per sample at tp 1 (600 at tp 2, 500 with sp);
/// checkpoint 100 bytes per sample.
inline ModelProfile tiny_profile() {
  ModelProfile p;
  p.model = "tiny";
  p.source = "measured";
  p.device = "test-device";
  p.seq_len = 16;
  LayerTypeProfile t;
  t.name = "transformer";
  for (int tp : {1, 2}) {
    for (int b : {1, 2, 4}) {
      const double f = 1.0 + static_cast<double>(b) / tp;
      t.compute.push_back(ComputePoint{b, tp, Milliseconds(f), Milliseconds(2 * f)});
    }
  }
  t.activation = {ActivationPoint{1, false, Bytes(1000)}, ActivationPoint{2, false, Bytes(600)},
                  ActivationPoint{2, true, Bytes(500)}};
  t.checkpoint_bytes_per_sample = Bytes(100);
  LayerTypeProfile e;
  e.name = "embedding";
  e.compute = {ComputePoint{1, 1, Milliseconds(0.1), Milliseconds(0.2)},
               ComputePoint{2, 1, Milliseconds(0.2), Milliseconds(0.4)}};
  LayerTypeProfile h;
  h.name = "lm_head";
  h.compute = {ComputePoint{1, 1, Milliseconds(0.5), Milliseconds(1.0)},
               ComputePoint{2, 1, Milliseconds(1.0), Milliseconds(2.0)}};
  p.layer_types = {t, e, h};
  return p;
}

inline CostContext context(const ModelConfig& m, const ClusterProfile& c, const ModelProfile* p,
                           int devices, int pp, int micro_batches, int global_batch) {
  CostContext ctx;
  ctx.model = &m;
  ctx.cluster = &c;
  ctx.profile = p;
  ctx.num_devices = devices;
  ctx.pp = pp;
  ctx.micro_batches = micro_batches;
  ctx.global_batch = global_batch;
  ctx.options.grad_bucket_bytes = 0;  // one latency per collective: simpler golden values
  return ctx;
}

inline LayerStrategy strategy(int tp, int dp, DpType type = DpType::kDdp, bool ckpt = false,
                              bool tp_consecutive = true, bool sp = false) {
  LayerStrategy s;
  s.tp = tp;
  s.dp = dp;
  s.dp_type = type;
  s.checkpoint = ckpt;
  s.tp_consecutive = tp_consecutive;
  s.sp = sp;
  return s;
}

}  // namespace paratune::estimator::testing
