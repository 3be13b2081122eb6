// Search-speed benchmark: wall time of `search()` and the size of the space it covered.
//
//   PARATUNE_SOURCE_DIR=$PWD build/bench/bench_search_speed [--quick] [--only SUBSTRING]
//
// Cases (issue targets on a 2-core machine: <= 1 s for llama2-7b on 8 GPUs, <= 5 s for a
// 96-layer model on 1024 devices):
//   * llama2-7b on Galvatron's A800 8-GPU profiles (../shared/data/galvatron-a800), 36 GB,
//     global batch 16 and 64 (Galvatron's own search takes minutes on the same inputs);
//   * 32-, 80- and 96-layer models (llama2-7b, llama2-70b, a GPT-3-175B-shaped model) on
//     spec-sheet A100 clusters of 64, 512, 1024 and 4096 devices, 80 GB, global batch 2 x devices.
// Each line prints the wall time, the ratio to the target where the issue sets one, and the
// space: outer configs (batch x pp x micro-batches x embedding strategy), pruned configs,
// per-layer strategies, stage DPs run, and log10 of the number of distinct plans.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/galvatron.h"
#include "estimator/analytic_profile.h"
#include "search/planner.h"

using namespace paratune;

namespace {

std::string source_dir() {
  const char* d = std::getenv("PARATUNE_SOURCE_DIR");
  return d ? d : ".";
}

ClusterProfile scaled_cluster(const ClusterProfile& base, int devices) {
  ClusterProfile c = base;
  const int per = base.devices_per_island();
  c.islands.clear();
  for (int i = 0; i < std::max(1, devices / per); ++i)
    c.islands.push_back(Island{"node" + std::to_string(i), std::min(per, devices)});
  c.name = base.name + "-scaled-" + std::to_string(devices);
  return c;
}

struct Case {
  std::string name;
  ModelConfig model;
  ClusterProfile cluster;
  ModelProfile profile;
  double memory;
  int batch;
  double target_s;  // 0 = none
};

std::string g_only;  // --only SUBSTRING: run the matching cases only

void run(const Case& c) {
  if (!g_only.empty() && c.name.find(g_only) == std::string::npos) return;
  search::SearchOptions o;
  o.memory_per_device = Bytes(c.memory);
  o.global_batches = {c.batch};
  o.estimator.mixed_precision = c.model.dtype != DType::kFp32;
  const auto t0 = std::chrono::steady_clock::now();
  StatusOr<search::SearchResult> r = search::search(c.model, c.cluster, c.profile, o);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!r.ok()) {
    std::printf("%-44s %8.3f s  FAILED: %s\n", c.name.c_str(), s, r.status().message().c_str());
    return;
  }
  char ratio[32] = "";
  if (c.target_s > 0) std::snprintf(ratio, sizeof ratio, "%.2fx of %gs target", s / c.target_s, c.target_s);
  std::printf("%-44s %8.3f s  %-22s configs %6lld (pruned %6lld)  layer-strategies %5lld  "
              "stage-DPs %6lld  plans 10^%.0f  -> pp %d, %.1f samples/s\n",
              c.name.c_str(), s, ratio, (long long)r->stats.outer_configs,
              (long long)r->stats.pruned_configs, (long long)r->stats.layer_strategies,
              (long long)r->stats.stage_dp_runs, r->stats.log10_plans, r->strategy.pp,
              r->estimate.samples_per_s);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) g_only = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_search_speed [--quick] [--only SUBSTRING]\n");
      return 2;
    }
  }
  const std::string root = source_dir();
  auto model = [&](const std::string& name) {
    StatusOr<ModelConfig> m = load_model_config(root + "/configs/models/" + name + ".json");
    if (!m.ok()) {
      std::fprintf(stderr, "%s\n", m.status().message().c_str());
      std::exit(1);
    }
    return *m;
  };
  const std::string galv = root + "/../shared/data/galvatron-a800";
  ModelConfig llama7 = model("llama2-7b");
  StatusOr<ClusterProfile> a800 = galvatron::import_a800_cluster(galv + "/hardware", 1, 8);
  StatusOr<ModelProfile> a800_llama = galvatron::import_model(
      galv + "/llama2-7b/computation_profiling_bf16_llama2-7b_all.json",
      galv + "/llama2-7b/memory_profiling_bf16_llama2-7b_all.json", llama7);
  if (a800.ok() && a800_llama.ok()) {
    for (int b : {16, 64})
      run({"llama2-7b A800x8 (Galvatron profiles) 36GB b" + std::to_string(b), llama7, *a800,
           *a800_llama, 36e9, b, 1.0});
  } else {
    std::printf("skipping the Galvatron A800 cases: %s\n",
                (a800.ok() ? a800_llama.status() : a800.status()).message().c_str());
  }
  StatusOr<ClusterProfile> a100 = load_cluster_profile(root + "/configs/clusters/a100-80gb-2x8.json");
  if (!a100.ok()) {
    std::fprintf(stderr, "%s\n", a100.status().message().c_str());
    return 1;
  }
  ModelConfig gpt3 = model("llama2-70b");
  gpt3.name = "gpt3-175b-shape";
  gpt3.num_layers = 96;
  gpt3.hidden = 12288;
  gpt3.heads = 96;
  gpt3.kv_heads = 96;
  gpt3.ffn_hidden = 4 * 12288;
  gpt3.seq_len = 2048;
  gpt3.vocab = 51200;
  const ModelConfig models[] = {llama7, model("llama2-70b"), gpt3};
  for (int n : {64, 512, 1024, 4096}) {
    if (quick && n > 1024) continue;
    for (const ModelConfig& m : models) {
      ClusterProfile c = scaled_cluster(*a100, n);
      const double target = (m.num_layers == 96 && n == 1024) ? 5.0 : 0.0;
      run({m.name + " (" + std::to_string(m.num_layers) + " layers) on " + std::to_string(n) +
               " A100 80GB",
           m, c, estimator::analytic_profile(m, c), 80e9, 2 * n, target});
    }
  }
  return 0;
}
