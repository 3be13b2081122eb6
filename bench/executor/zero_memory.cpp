// Per-rank memory of DDP vs ZeRO-2 vs ZeRO-3 over d ranks, measured by the executor: each
// variant runs `paratune launch --nproc-per-node d -- paratune train ... --metrics`, which reports
// every rank's persistent state (params + grads + Adam m/v) and its tracked peak (the tracking
// c10 allocator: state + activations + transient gathered params + communication buffers).
//
//   bench_zero_memory [--ranks 4] [--hidden 512] [--layers 4] [--steps 2]
//
// Expected state bytes per rank, N parameters (fp32): DDP 16N; ZeRO-2 4N + 12N/d (full params,
// sharded grads and Adam); ZeRO-3 16N/d. The printed ratios DDP / ZeRO-x are measured.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/executor/bench_util.h"

using namespace paratune;

namespace {

struct Measured {
  double max_state = 0, max_peak = 0, max_live = 0;  // max over ranks
};

double max_of(const Json& a) {
  double m = 0;
  for (const Json& v : a) m = std::max(m, v.get<double>());
  return m;
}

Measured run(const std::string& dir, const std::string& name, const Strategy& plan, int ranks,
             int steps) {
  const std::string p = dir + "/" + name + ".json", m = dir + "/" + name + ".metrics.json";
  bench::write_or_die(p, to_json(plan));
  const std::string cmd = std::string(PARATUNE_BIN) + " launch --nproc-per-node " +
                          std::to_string(ranks) + " -- " + PARATUNE_BIN + " train --strategy " + p +
                          " --model " + dir + "/model.json --data synthetic --steps " +
                          std::to_string(steps) + " --metrics " + m + " > " + dir + "/" + name +
                          ".log 2>&1";
  if (bench::run_shell(cmd) != 0) {
    std::fprintf(stderr, "bench_zero_memory: %s failed (log: %s/%s.log)\n", name.c_str(),
                 dir.c_str(), name.c_str());
    std::exit(1);
  }
  Json j = bench::read_metrics(m);
  Measured r;
  r.max_state = max_of(j["state_bytes"]);
  r.max_peak = max_of(j["peak_memory_bytes"]);
  r.max_live = max_of(j["live_bytes_after_steps"]);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int ranks = 4, hidden = 512, layers = 4, steps = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (k == "--ranks") ranks = v;
    else if (k == "--hidden") hidden = v;
    else if (k == "--layers") layers = v;
    else if (k == "--steps") steps = v;
    else {
      std::fprintf(stderr, "bench_zero_memory: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  if (ranks < 2 || (ranks & (ranks - 1)) || steps < 1) {
    std::fprintf(stderr, "bench_zero_memory: --ranks must be a power of two >= 2, --steps >= 1\n");
    return 2;
  }
  ModelConfig cfg;
  cfg.name = "bench-zero-memory";
  cfg.num_layers = layers;
  cfg.hidden = hidden;
  cfg.heads = 8;
  cfg.kv_heads = 8;
  cfg.ffn_hidden = 4 * hidden;
  cfg.seq_len = 32;
  cfg.vocab = 256;
  cfg.norm = NormKind::kLayerNorm;
  cfg.activation = ActivationKind::kGelu;
  cfg.position = PositionKind::kLearned;
  cfg.tied_embeddings = true;
  cfg.bias = true;
  bench::TempDir dir;
  bench::write_or_die(dir.path() + "/model.json", to_json(cfg));
  const int batch = 2 * ranks;
  std::printf("bench_zero_memory: %d layers, hidden %d, seq %d, batch %d, %d ranks (dp %d), "
              "%d steps\n", layers, hidden, cfg.seq_len, batch, ranks, ranks, steps);
  LayerStrategy ls;
  ls.dp = ranks;
  struct Variant {
    const char* name;
    DpType type;
  };
  const Variant variants[] = {{"ddp", DpType::kDdp}, {"zero2", DpType::kZero2},
                              {"zero3", DpType::kZero3}};
  std::vector<Measured> got;
  for (const Variant& v : variants) {
    ls.dp_type = v.type;
    got.push_back(run(dir.path(), v.name, uniform_strategy(ranks, 1, ls, layers, batch, 1),
                      ranks, steps));
  }
  const double mib = 1024.0 * 1024.0;
  // live: tracked bytes between steps (measured); state: the units' own byte count (computed);
  // peak: tracked peak within a step (state + activations + transients, measured).
  std::printf("%-6s %15s %15s %15s %12s %12s\n", "", "live MiB/rank", "state MiB/rank",
              "peak MiB/rank", "DDP/x live", "DDP/x peak");
  for (size_t i = 0; i < got.size(); ++i) {
    std::printf("%-6s %15.2f %15.2f %15.2f %12.2f %12.2f\n", variants[i].name,
                got[i].max_live / mib, got[i].max_state / mib, got[i].max_peak / mib,
                got[0].max_live / got[i].max_live, got[0].max_peak / got[i].max_peak);
  }
  const double r3 = got[0].max_live / got[2].max_live;
  std::printf("measured: ZeRO-3 shrinks params + grads + Adam state by %.2fx over %d ranks "
              "(ideal %d; within 10%%: %s)\n", r3, ranks, ranks,
              r3 >= 0.9 * ranks && r3 <= 1.1 * ranks ? "yes" : "NO");
  return 0;
}
