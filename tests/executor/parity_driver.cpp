// Loss-parity driver, run on every rank under `paratune launch`:
//   paratune launch --nproc-per-node 8 -- executor_parity_driver --model gpt --suite galvatron
// For each plan of the suite it builds the runtime (process groups are created once and reused
// across plans), trains `--steps` steps on fixed synthetic batches and compares the per-step
// losses with the single-process reference (models::ReferenceTrainer, computed in-process on
// rank 0) within --rtol (default 1e-5). Exit code 1 (rank 0) when any plan differs.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include <ATen/Parallel.h>

#include "core/json_reader.h"
#include "executor/comm.h"
#include "executor/data.h"
#include "executor/rendezvous.h"
#include "executor/trainer.h"
#include "models/reference.h"
#include "tests/executor/plans.h"

using namespace paratune;
using namespace paratune::executor;

int main(int argc, char** argv) {
  std::string model = "gpt", suite = "galvatron";
  int steps = 3;
  double rtol = 1e-5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--emit") {  // write tiny model configs and a 4-rank plan for the CLI tests
      LayerStrategy l;
      l.tp = 2;
      Strategy s = testing::uniform_plan(4, 2, l, 8, 16, 2);  // pp2, tp2 per stage
      Status a = write_file_atomic(v + "/tiny-gpt.json", dump_json(to_json(testing::tiny_gpt())));
      Status b = write_file_atomic(v + "/tiny-llama.json", dump_json(to_json(testing::tiny_llama())));
      Status c = write_file_atomic(v + "/pp2-tp2.json", dump_json(to_json(s)));
      LayerStrategy one;
      Status d = write_file_atomic(v + "/single.json",
                                   dump_json(to_json(testing::uniform_plan(1, 1, one, 8, 16, 1))));
      LayerStrategy z3;
      z3.dp = 4;
      z3.dp_type = DpType::kZero3;
      Status e = write_file_atomic(v + "/zero3-4.json",
                                   dump_json(to_json(testing::uniform_plan(4, 1, z3, 8, 16, 1))));
      z3.dp_type = DpType::kDdp;
      Status f = write_file_atomic(v + "/ddp-4.json",
                                   dump_json(to_json(testing::uniform_plan(4, 1, z3, 8, 16, 1))));
      return a.ok() && b.ok() && c.ok() && d.ok() && e.ok() && f.ok() ? 0 : 1;
    }
    if (k == "--model") model = v;
    else if (k == "--suite") suite = v;
    else if (k == "--steps") steps = std::stoi(v);
    else if (k == "--rtol") rtol = std::stod(v);
    else { std::fprintf(stderr, "unknown flag %s\n", k.c_str()); return 2; }
  }
  auto env = dist_env_from_environment();
  if (!env.ok()) { std::fprintf(stderr, "%s\n", env.status().message().c_str()); return 2; }
  use_compute_threads(env->local_world_size);
  const ModelConfig cfg = model == "llama" ? testing::tiny_llama() : testing::tiny_gpt();
  const int L = cfg.num_layers, world = env->world_size;
  std::vector<testing::NamedPlan> plans;
  auto add = [&](std::vector<testing::NamedPlan> v) { plans.insert(plans.end(), v.begin(), v.end()); };
  if (suite == "galvatron") add(testing::galvatron_22(L));
  else if (suite == "zero2") add(testing::zero2_variants(L));
  else if (suite == "ckpt") add(testing::checkpoint_variants(L));
  else if (suite == "sp") add(testing::sp_plans(L));
  else if (suite == "mixed") add(testing::mixed_plans(world, L));
  else if (suite == "all8") {
    add(testing::galvatron_22(L)); add(testing::zero2_variants(L));
    add(testing::checkpoint_variants(L)); add(testing::sp_plans(L)); add(testing::mixed_plans(8, L));
  } else { std::fprintf(stderr, "unknown suite %s\n", suite.c_str()); return 2; }

  const bool lead = env->rank == 0;
  models::AdamOptions adam;
  adam.lr = 1e-2;
  // Real text (loss falls visibly over the steps, so the updates are checked too).
  auto text = TokenSource::from_file(kDefaultCorpus, cfg.vocab, 7);
  TokenSource data = text.ok() ? *text : TokenSource::synthetic(cfg.vocab, 7);
  std::map<int, std::vector<double>> reference;  // by global batch
  int failures = 0;
  try {
    CommOptions co;
    co.timeout = std::chrono::seconds(60);
    auto store = connect_store(*env, co.timeout);
    Comms comms(store, env->rank, world, co);
    for (const auto& p : plans) {
      Status st = check_runnable(p.strategy, cfg, world, p.name);
      if (!st.ok()) {
        if (lead) std::printf("FAIL %-18s invalid plan: %s\n", p.name.c_str(), st.message().c_str());
        ++failures;
        continue;
      }
      const int gb = p.strategy.global_batch;
      if (lead && !reference.count(gb)) {
        models::ReferenceTrainer ref(cfg, 1, adam);
        for (int s = 0; s < steps; ++s) reference[gb].push_back(ref.step(data.batch(s, gb, cfg.seq_len + 1)));
      }
      const auto t0 = std::chrono::steady_clock::now();
      TrainerOptions to;
      to.seed = 1;
      to.adam = adam;
      Trainer trainer(cfg, p.strategy, comms, to);
      std::vector<double> got;
      for (int s = 0; s < steps; ++s) got.push_back(trainer.step(data.batch(s, gb, cfg.seq_len + 1)).loss);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!lead) continue;
      double worst = 0;
      for (int s = 0; s < steps; ++s)
        worst = std::max(worst, std::fabs(got[s] - reference[gb][s]) / std::fabs(reference[gb][s]));
      const bool ok = worst <= rtol;
      failures += !ok;
      std::printf("%s %-18s losses", ok ? "ok  " : "FAIL", p.name.c_str());
      for (int s = 0; s < steps; ++s) std::printf(" %.7f", got[s]);
      std::printf("  ref");
      for (int s = 0; s < steps; ++s) std::printf(" %.7f", reference[gb][s]);
      std::printf("  max rel err %.2e  (%.0f ms)\n", worst, ms);
      std::fflush(stdout);
    }
    if (lead)
      std::printf("%s: %zu plans, %d failed, %d process groups created on rank 0\n",
                  failures ? "FAILED" : "PASSED", plans.size(), failures, comms.groups_created());
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "rank %d: error: %s\n", env->rank, e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: error: %s\n", env->rank, e.what());
    return 1;
  }
  return failures ? 1 : 0;
}
