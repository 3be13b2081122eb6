// Overhead of the executor: `paratune train` with a one-rank, no-parallelism strategy versus a
// plain libtorch training loop of the same model (same layer code, full parameters as autograd
// leaves, torch::optim::Adam and torch::nn::utils::clip_grad_norm_), same data, same threads.
//
//   bench_train_overhead [--rounds 3] [--steps 8] [--hidden 256] [--layers 4] [--seq 128]
//                        [--batch 8]
//
// Rounds alternate plain / paratune so machine noise hits both alike. Per round each side's
// figure is the median step time over the steady-state steps (the first 2 are warm-up); the
// printed figure is the median over rounds, and the ratio paratune / plain (target <= 1.05),
// both for wall time and for the process CPU time of the steps (all threads; less sensitive to
// other processes loading the machine, which on a shared 2-core box dominates wall time).
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "bench/executor/bench_util.h"
#include "executor/data.h"
#include "executor/rendezvous.h"
#include "models/init.h"
#include "models/param_spec.h"
#include "models/transformer.h"

using namespace paratune;

namespace {

constexpr int kWarmup = 2;

struct Flags {
  int rounds = 3, steps = 8, hidden = 256, layers = 4, seq = 128, batch = 8;
};

ModelConfig bench_model(const Flags& f) {
  ModelConfig m;
  m.name = "bench-overhead";
  m.num_layers = f.layers;
  m.hidden = f.hidden;
  m.heads = 8;
  m.kv_heads = 8;
  m.ffn_hidden = 4 * f.hidden;
  m.seq_len = f.seq;
  m.vocab = 256;
  m.norm = NormKind::kLayerNorm;
  m.activation = ActivationKind::kGelu;
  m.position = PositionKind::kLearned;
  m.tied_embeddings = true;
  m.bias = true;
  return m;
}

// The plain loop: the whole model as leaves, libtorch's Adam and clipping.
double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct Times {
  std::vector<double> wall, cpu;  // per step, ms
};

Times plain_loop(const ModelConfig& cfg, const executor::TokenSource& data, int batch,
                 int steps) {
  using models::UnitKind;
  std::vector<models::ParamMap> units;
  std::vector<torch::Tensor> params;
  auto make = [&](UnitKind kind, int layer) {
    models::ParamMap pm;
    for (const models::ParamSpec& s : models::unit_params(cfg, kind)) {
      torch::Tensor t = models::init_full_param(s, 1, models::unit_name(kind, layer));
      t.set_requires_grad(true);
      pm[s.name] = t;
      params.push_back(t);
    }
    units.push_back(std::move(pm));
  };
  make(UnitKind::kEmbedding, 0);
  for (int l = 0; l < cfg.num_layers; ++l) make(UnitKind::kLayer, l);
  make(UnitKind::kHead, 0);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(1e-3));
  models::TpHooks none;
  Times out;
  for (int i = 0; i < steps; ++i) {
    torch::Tensor b = data.batch(i, batch, cfg.seq_len + 1);
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = process_cpu_ms();
    opt.zero_grad();
    torch::Tensor in = b.narrow(1, 0, cfg.seq_len), tgt = b.narrow(1, 1, cfg.seq_len);
    torch::Tensor x = models::embedding_forward(cfg, units.front(), in, none);
    for (int l = 0; l < cfg.num_layers; ++l) x = models::layer_forward(cfg, units[1 + l], x, none);
    torch::Tensor loss = models::head_forward(cfg, units.back(), units.front().at("tok"), x, tgt,
                                              none) / double(batch * cfg.seq_len);
    loss.backward();
    torch::nn::utils::clip_grad_norm_(params, 1.0);
    opt.step();
    (void)loss.item<double>();  // paratune train also reads the loss every step
    out.wall.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    out.cpu.push_back(process_cpu_ms() - c0);
  }
  return out;
}

double steady_median(const std::vector<double>& ms) {
  return bench::median(std::vector<double>(ms.begin() + kWarmup, ms.end()));
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (k == "--rounds") f.rounds = v;
    else if (k == "--steps") f.steps = v;
    else if (k == "--hidden") f.hidden = v;
    else if (k == "--layers") f.layers = v;
    else if (k == "--seq") f.seq = v;
    else if (k == "--batch") f.batch = v;
    else {
      std::fprintf(stderr, "bench_train_overhead: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  if (f.steps <= kWarmup || f.rounds < 1) {
    std::fprintf(stderr, "bench_train_overhead: need --steps > %d and --rounds >= 1\n", kWarmup);
    return 2;
  }
  const int threads = executor::use_compute_threads(1);
  const ModelConfig cfg = bench_model(f);
  bench::TempDir dir;
  const std::string model = dir.path() + "/model.json", plan = dir.path() + "/single.json",
                    metrics = dir.path() + "/metrics.json";
  bench::write_or_die(model, to_json(cfg));
  bench::write_or_die(plan, to_json(uniform_strategy(1, 1, LayerStrategy{}, cfg.num_layers,
                                                        f.batch, 1)));
  auto data = executor::TokenSource::from_file(executor::kDefaultCorpus, cfg.vocab, 1);
  const executor::TokenSource src = data.ok() ? *data : executor::TokenSource::synthetic(cfg.vocab, 1);
  std::printf("bench_train_overhead: %d layers, hidden %d, seq %d, batch %d, %d threads, "
              "%d rounds x %d steps (first %d are warm-up)\n",
              cfg.num_layers, cfg.hidden, cfg.seq_len, f.batch, threads, f.rounds, f.steps,
              kWarmup);
  std::vector<double> plain, ours, plain_cpu, ours_cpu;
  for (int r = 0; r < f.rounds; ++r) {
    const Times t = plain_loop(cfg, src, f.batch, f.steps);
    plain.push_back(steady_median(t.wall));
    plain_cpu.push_back(steady_median(t.cpu));
    const std::string cmd = std::string(PARATUNE_BIN) + " train --strategy " + plan + " --model " +
                            model + " --steps " + std::to_string(f.steps) + " --seed 1 --metrics " +
                            metrics + " > /dev/null";
    if (bench::run_shell(cmd) != 0) {
      std::fprintf(stderr, "bench_train_overhead: paratune train failed: %s\n", cmd.c_str());
      return 1;
    }
    std::vector<double> ms, cpu;
    const Json m = bench::read_metrics(metrics);
    for (const Json& s : m["steps"]) {
      ms.push_back(s["ms"].get<double>());
      cpu.push_back(s["cpu_ms"].get<double>());
    }
    ours.push_back(steady_median(ms));
    ours_cpu.push_back(steady_median(cpu));
    std::printf("  round %d: plain libtorch %.1f ms/step (cpu %.1f), paratune train %.1f ms/step "
                "(cpu %.1f)\n", r + 1, plain.back(), plain_cpu.back(), ours.back(),
                ours_cpu.back());
  }
  const double p = bench::median(plain), o = bench::median(ours);
  const double pc = bench::median(plain_cpu), oc = bench::median(ours_cpu);
  const double tokens = double(f.batch) * cfg.seq_len;
  std::printf("plain libtorch loop   %8.1f ms/step  %8.0f tokens/s  cpu %8.1f ms/step\n", p,
              tokens / (p / 1e3), pc);
  std::printf("paratune train        %8.1f ms/step  %8.0f tokens/s  cpu %8.1f ms/step\n", o,
              tokens / (o / 1e3), oc);
  std::printf("overhead ratio (paratune / plain): wall %.3f, cpu %.3f  (target <= 1.05: "
              "wall %s, cpu %s)\n", o / p, oc / pc, o / p <= 1.05 ? "met" : "NOT met",
              oc / pc <= 1.05 ? "met" : "NOT met");
  return 0;
}
