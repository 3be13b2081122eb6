// `paratune train --strategy S.json --model M.json [--data FILE|synthetic] [--steps N]
//  [--seed S] [--metrics out.json] [--memory-per-device SIZE]`: run on every rank (e.g. under
// `paratune launch` or torchrun). Bad inputs are rejected before any process group exists;
// libtorch / c10d exceptions are converted to an exit code here, at the top.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include <cxxopts.hpp>

#include <ATen/Parallel.h>

#include "apps/commands.h"
#include "apps/plan/cli_util.h"
#include "core/json_reader.h"
#include "executor/data.h"
#include "executor/rendezvous.h"
#include "executor/tracking_allocator.h"
#include "executor/trainer.h"

namespace paratune::apps {

namespace {

struct TrainFlags {
  std::string strategy, model, data = executor::kDefaultCorpus, metrics;
  int steps = 10;
  uint64_t seed = 1;
  double memory_limit = 0;  // bytes, 0 = none
  double lr = 1e-3;
  int timeout_s = 120;
};

int run(const TrainFlags& f) {
  const char* cmd = "train";
  auto model = load_model_config(f.model);
  if (!model.ok()) return fail(cmd, model.status());
  auto strategy = load_strategy(f.strategy);
  if (!strategy.ok()) return fail(cmd, strategy.status());
  auto env = executor::dist_env_from_environment();
  if (!env.ok()) return fail(cmd, env.status());
  Status st = executor::check_runnable(*strategy, *model, env->world_size, f.strategy);
  if (!st.ok()) return fail(cmd, st);
  StatusOr<executor::TokenSource> data =
      f.data == "synthetic" ? executor::TokenSource::synthetic(model->vocab, f.seed)
                            : executor::TokenSource::from_file(f.data, model->vocab, f.seed);
  if (!data.ok()) return fail(cmd, data.status());

  const int threads = executor::threads_per_rank(env->local_world_size);
  at::set_num_threads(threads);
  executor::install_tracking_allocator(int64_t(f.memory_limit));
  const Rank rank = env->rank;
  const bool lead = rank == 0;
  if (lead)
    std::printf("paratune train: %d ranks, %d torch threads each, model %s, data %s\n",
                env->world_size, threads, model->name.c_str(), data->description().c_str());
  try {
    executor::CommOptions co;
    co.timeout = std::chrono::seconds(f.timeout_s);
    co.loopback = env->loopback();
    auto store = executor::connect_store(*env, co.timeout);
    executor::Comms comms(store, rank, env->world_size, co);
    executor::TrainerOptions to;
    to.seed = f.seed;
    to.adam.lr = f.lr;
    executor::Trainer trainer(*model, *strategy, comms, to);
    const int64_t tokens = int64_t(strategy->global_batch) * model->seq_len;
    Json steps = Json::array();
    double total_ms = 0;
    for (int i = 0; i < f.steps; ++i) {
      at::Tensor batch = data->batch(i, strategy->global_batch, model->seq_len + 1);
      const auto t0 = std::chrono::steady_clock::now();
      executor::StepResult r = trainer.step(batch);
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      total_ms += ms;
      const double tps = tokens / (ms / 1e3);
      if (lead) {
        std::printf("step %d/%d  loss %.6f  grad_norm %.4f  %.1f ms/iter  %.0f tokens/s\n", i + 1,
                    f.steps, r.loss, r.grad_norm, ms, tps);
        std::fflush(stdout);
      }
      steps.push_back({{"step", i + 1}, {"loss", r.loss}, {"grad_norm", r.grad_norm},
                       {"ms", ms}, {"tokens_per_s", tps}});
    }
    // Live bytes between steps (activations and transient ZeRO-3 gathers freed): the measured
    // persistent memory, next to the peak within a step and the computed state bytes.
    const double live = double(executor::tracked_current_bytes());
    at::Tensor mine = at::tensor({double(executor::tracked_peak_bytes()),
                                  double(trainer.state_bytes()), live}, at::kDouble);
    std::vector<at::Tensor> all = comms.world().allgather(mine);
    if (lead && !f.metrics.empty()) {
      Json peaks = Json::array(), states = Json::array(), lives = Json::array();
      for (const at::Tensor& t : all) {
        peaks.push_back(int64_t(t[0].item<double>()));
        states.push_back(int64_t(t[1].item<double>()));
        lives.push_back(int64_t(t[2].item<double>()));
      }
      Json m = {{"format_version", 1},
                {"model", model->name},
                {"strategy", f.strategy},
                {"world_size", env->world_size},
                {"global_batch", strategy->global_batch},
                {"seq_len", model->seq_len},
                {"steps", steps},
                {"mean_ms", f.steps ? total_ms / f.steps : 0.0},
                {"tokens_per_s", total_ms > 0 ? tokens * f.steps / (total_ms / 1e3) : 0.0},
                {"peak_memory_bytes", peaks},
                {"state_bytes", states},
                {"live_bytes_after_steps", lives}};
      Status w = write_file_atomic(f.metrics, dump_json(m));
      if (!w.ok()) return fail(cmd, w);
      std::printf("paratune train: metrics written to %s\n", f.metrics.c_str());
    }
  } catch (const executor::OutOfMemory& e) {
    std::fprintf(stderr, "paratune train: rank %d: %s\n", rank, e.what());
    return 3;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "paratune train: rank %d: error: %s\n", rank, e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    if (msg.find("out of memory") != std::string::npos && f.memory_limit > 0) {
      std::fprintf(stderr, "paratune train: rank %d: %s\n", rank, msg.substr(0, msg.find('\n')).c_str());
      return 3;
    }
    std::fprintf(stderr, "paratune train: rank %d: error: %s\n", rank, msg.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int cmd_train(int argc, char** argv) {
  cxxopts::Options opts("paratune train", "Train a model with a strategy file (run on every rank).");
  opts.add_options()
      ("strategy", "strategy.json", cxxopts::value<std::string>())
      ("model", "model config (paratune or Hugging Face config.json)", cxxopts::value<std::string>())
      ("data", std::string("text file for byte-level tokens, or 'synthetic' (default ") +
                   executor::kDefaultCorpus + ")", cxxopts::value<std::string>())
      ("steps", "training steps", cxxopts::value<int>()->default_value("10"))
      ("seed", "init and data seed", cxxopts::value<uint64_t>()->default_value("1"))
      ("lr", "Adam learning rate", cxxopts::value<double>()->default_value("1e-3"))
      ("metrics", "write metrics JSON here (rank 0)", cxxopts::value<std::string>())
      ("memory-per-device", "fail cleanly when a rank's tracked peak exceeds this (e.g. 2GiB)",
       cxxopts::value<std::string>())
      ("timeout", "seconds before a collective with a dead/hung peer fails",
       cxxopts::value<int>()->default_value("120"))
      ("h,help", "show this help");
  TrainFlags f;
  try {
    auto r = opts.parse(argc, argv);
    if (r.count("help")) {
      std::printf("%s\n", opts.help().c_str());
      return 0;
    }
    if (!r.unmatched().empty()) {
      std::fprintf(stderr, "paratune train: unexpected argument '%s'\n", r.unmatched()[0].c_str());
      return 2;
    }
    if (!r.count("strategy") || !r.count("model")) {
      std::fprintf(stderr, "paratune train: --strategy and --model are required\n");
      return 2;
    }
    f.strategy = r["strategy"].as<std::string>();
    f.model = r["model"].as<std::string>();
    if (r.count("data")) f.data = r["data"].as<std::string>();
    if (r.count("metrics")) f.metrics = r["metrics"].as<std::string>();
    f.steps = r["steps"].as<int>();
    f.seed = r["seed"].as<uint64_t>();
    f.lr = r["lr"].as<double>();
    f.timeout_s = r["timeout"].as<int>();
    if (f.steps < 0 || f.timeout_s < 1) {
      std::fprintf(stderr, "paratune train: --steps must be >= 0 and --timeout >= 1\n");
      return 2;
    }
    if (r.count("memory-per-device")) {
      auto b = parse_size(r["memory-per-device"].as<std::string>(), "--memory-per-device");
      if (!b.ok()) return fail("train", b.status());
      f.memory_limit = *b;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "paratune train: %s\n", e.what());
    return 2;
  }
  return run(f);
}

}  // namespace paratune::apps
