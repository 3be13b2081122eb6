// `paratune train --strategy S.json --model M.json [--data FILE|synthetic] [--steps N]
//  [--seed S] [--metrics out.json] [--memory-per-device SIZE]
//  [--save-dir D [--save-every K] [--keep N]] [--resume D]`: run on every rank (e.g. under
// `paratune launch` or torchrun). Bad inputs (also a truncated, foreign or other-model
// checkpoint) are rejected before any process group exists; libtorch / c10d exceptions are
// converted to an exit code here, at the top.
//
// Checkpoints (executor/checkpoint.h): --steps is the total step count, so a resumed run
// continues at the checkpoint's step and stops at the same step as an uninterrupted one. A save
// happens after every K-th step and after the last; --resume takes a save dir (its latest
// complete checkpoint) or one step-* folder, under any strategy and world size.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <cxxopts.hpp>

#include <ATen/Parallel.h>

#include "apps/commands.h"
#include "apps/plan/cli_util.h"
#include "core/json_reader.h"
#include "core/checkpoint_format.h"
#include "executor/checkpoint.h"
#include "executor/data.h"
#include "executor/launcher.h"
#include "executor/rendezvous.h"
#include "executor/trace.h"
#include "executor/tracking_allocator.h"
#include "executor/trainer.h"

namespace paratune::apps {

namespace {

// CPU time of this process (all its threads), ms: per-step work that machine load from other
// processes does not inflate the way it inflates wall time.
double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct TrainFlags {
  std::string strategy, model, data = executor::kDefaultCorpus, metrics, trace;
  int steps = 10;
  uint64_t seed = 1;
  double memory_limit = 0;  // bytes, 0 = none
  double lr = 1e-3;
  int timeout_s = 120;
  std::string save_dir, resume;
  int save_every = 0;  // 0: only after the last step
  int trace_steps = 20;  // steps recorded by --trace, from the first
  executor::CheckpointOptions ckpt;
};

// Per rank: [{kind, group_size, ms_per_step, calls_per_step}] of the waits that had calls, from
// the allgathered fixed tables (kind x group-size slot; ms then calls).
Json wait_json(const std::vector<at::Tensor>& all, int64_t steps) {
  Json out = Json::array();
  const int slots = int(all.empty() ? 0 : all[0].numel() / 2);
  const double per = steps > 0 ? 1.0 / double(steps) : 0.0;
  for (const at::Tensor& t : all) {
    Json rank = Json::array();
    for (int at = 0; at < slots; ++at) {
      const double calls = t[at + slots].item<double>();
      if (calls <= 0) continue;
      const auto kind = executor::WaitKind(at / executor::kWaitSizeSlots);
      const bool p2p = kind >= executor::WaitKind::kRecvForward;
      rank.push_back({{"kind", executor::to_string(kind)},
                      {"group_size", p2p ? 0 : 2 << (at % executor::kWaitSizeSlots)},
                      {"ms_per_step", t[at].item<double>() * per},
                      {"calls_per_step", calls * per}});
    }
    out.push_back(rank);
  }
  return out;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Collective: gathers every rank's trace events, host and bound CPU; rank 0 (`lead`) writes the
// Chrome trace JSON to `path` and prints the per-rank summary over steps from `summary_from`.
Status write_trace(const std::string& path, executor::Group& world, int node,
                   int64_t summary_from, bool lead) {
  const std::vector<int> allowed = executor::allowed_cpus();
  at::Tensor where = at::tensor({double(node), allowed.size() == 1 ? double(allowed[0]) : -1.0},
                                at::kDouble);
  std::vector<at::Tensor> all = world.allgather(where);
  std::vector<executor::TraceEvent> events = executor::gather_trace(world);
  if (!lead) return Status::Ok();
  std::vector<int> hosts, cpus;
  for (const at::Tensor& t : all) {
    hosts.push_back(int(t[0].item<double>()));
    cpus.push_back(int(t[1].item<double>()));
  }
  Status w = write_file_atomic(path, executor::chrome_trace_json(events, hosts, cpus));
  if (!w.ok()) return w;
  std::printf("paratune train: trace of %zu events written to %s\n%s", events.size(),
              path.c_str(), executor::summarize_trace(events, summary_from, cpus).c_str());
  return Status::Ok();
}

// "STEP:RANK:shard|manifest" -> a SaveFault (test hook of the crash tests).
StatusOr<executor::SaveFault> parse_fault(const std::string& v) {
  executor::SaveFault f;
  long long step = -1, rank = -1;
  char phase[16] = {0};
  if (std::sscanf(v.c_str(), "%lld:%lld:%15s", &step, &rank, phase) != 3 || step < 1 || rank < 0)
    return InvalidArgument("--fault-kill-in-save: expected STEP:RANK:shard|manifest, got '" + v +
                           "'");
  f.step = step;
  f.rank = Rank(rank);
  const std::string ph = phase;
  if (ph == "shard") f.phase = executor::SaveFault::Phase::kShardWrite;
  else if (ph == "manifest" && rank == 0) f.phase = executor::SaveFault::Phase::kManifestRename;
  else return InvalidArgument("--fault-kill-in-save: phase must be 'shard' or 'manifest' (rank 0)");
  return f;
}

int run(const TrainFlags& f) {
  const char* cmd = "train";
  auto model = load_model_config(f.model);
  if (!model.ok()) return fail(cmd, model.status());
  auto strategy = load_strategy(f.strategy);
  if (!strategy.ok()) return fail(cmd, strategy.status());
  auto env = executor::dist_env_from_environment();
  if (!env.ok()) return fail(cmd, env.status());
  if (!f.trace.empty()) {
    // Fail before training rather than after it.
    const std::filesystem::path dir = std::filesystem::path(f.trace).parent_path();
    std::error_code ec;
    if (!dir.empty() && !std::filesystem::is_directory(dir, ec))
      return fail(cmd, InvalidArgument("--trace " + f.trace + ": folder " + dir.string() +
                                       " does not exist"));
  }
  Status st = executor::check_runnable(*strategy, *model, env->world_size, f.strategy);
  if (!st.ok()) return fail(cmd, st);
  StatusOr<executor::TokenSource> data =
      f.data == "synthetic" ? executor::TokenSource::synthetic(model->vocab, f.seed)
                            : executor::TokenSource::from_file(f.data, model->vocab, f.seed);
  if (!data.ok()) return fail(cmd, data.status());
  std::optional<OpenCheckpoint> ckpt;
  if (!f.resume.empty()) {
    std::vector<std::string> skipped;
    auto c = open_checkpoint(f.resume, &skipped);
    if (!c.ok()) return fail(cmd, c.status());
    Status same = check_same_model(*c, *model, f.model);
    if (!same.ok()) return fail(cmd, same);
    ckpt = std::move(*c);
    if (env->rank == 0) {
      for (const std::string& s : skipped)
        std::printf("paratune train: skipping %s (no manifest: an interrupted save)\n", s.c_str());
      const CheckpointManifest& m = ckpt->manifest;
      std::printf("paratune train: resuming from %s: step %lld, written by %d ranks%s\n",
                  ckpt->dir.c_str(), static_cast<long long>(m.step), m.world_size,
                  m.strategy == *strategy ? " under this strategy"
                                          : " under another strategy (re-sharding on load)");
      if (m.data != data->description() || m.data_seed != int64_t(f.seed))
        std::printf("paratune train: note: the checkpoint was trained on %s (seed %lld), this run "
                    "reads %s (seed %llu)\n", m.data.c_str(), static_cast<long long>(m.data_seed),
                    data->description().c_str(), static_cast<unsigned long long>(f.seed));
    }
  }
  const int64_t first_step = ckpt ? ckpt->manifest.step : 0;

  const int threads = executor::use_compute_threads(env->local_world_size);
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
    if (ckpt) {
      const auto t0 = std::chrono::steady_clock::now();
      auto ls = executor::load_checkpoint(*ckpt, trainer, comms);
      if (!ls.ok()) return fail(cmd, ls.status());
      at::Tensor mine = at::tensor({double(ls->bytes_read)}, at::kDouble);
      comms.world().allreduce_(mine);
      if (lead)
        std::printf("paratune train: loaded step %lld in %.0f ms: %.0f bytes read by all ranks "
                    "(rank 0 read %lld bytes from %d shard(s)%s)\n",
                    static_cast<long long>(ckpt->manifest.step),
                    ms_since(t0),
                    mine.item<double>(), static_cast<long long>(ls->bytes_read), ls->shards_read,
                    ls->rng_restored ? ", RNG state restored" : "");
    }
    const executor::RunInfo info{data->description(), int64_t(f.seed)};
    const int64_t tokens = int64_t(strategy->global_batch) * model->seq_len;
    if (!f.trace.empty()) executor::trace_set_rank(rank);
    Json steps = Json::array();
    double total_ms = 0;
    for (int64_t i = first_step; i < f.steps; ++i) {
      at::Tensor batch = data->batch(i, strategy->global_batch, model->seq_len + 1);
      const auto t0 = std::chrono::steady_clock::now();
      const double cpu0 = process_cpu_ms();
      executor::trace_set_step(i);
      if (!f.trace.empty()) executor::trace_enable(i - first_step < f.trace_steps);
      executor::StepResult r = trainer.step(batch);
      executor::trace_enable(false);  // a checkpoint save's collectives are not the step's
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      const double cpu_ms = process_cpu_ms() - cpu0;
      total_ms += ms;
      // Communication waits over the steps after the first (warm-up): reset once it is done.
      if (i == first_step) executor::reset_wait_totals();
      const double tps = tokens / (ms / 1e3);
      if (lead) {
        std::printf("step %lld/%d  loss %.6f  grad_norm %.4f  %.1f ms/iter  %.0f tokens/s\n",
                    static_cast<long long>(i + 1), f.steps, r.loss, r.grad_norm, ms, tps);
        std::fflush(stdout);
      }
      steps.push_back({{"step", i + 1}, {"loss", r.loss}, {"grad_norm", r.grad_norm},
                       {"ms", ms}, {"cpu_ms", cpu_ms}, {"tokens_per_s", tps}});
      const bool save_now = !f.save_dir.empty() &&
                            ((f.save_every > 0 && (i + 1) % f.save_every == 0) || i + 1 == f.steps);
      if (save_now) {
        const auto s0 = std::chrono::steady_clock::now();
        Status saved = executor::save_checkpoint(f.save_dir, trainer, comms, info, f.ckpt);
        if (!saved.ok()) return fail(cmd, saved);
        if (lead) {
          std::printf("paratune train: saved checkpoint %s/%s in %.0f ms\n", f.save_dir.c_str(),
                      step_dir_name(i + 1).c_str(),
                      ms_since(s0));
          std::fflush(stdout);
        }
      }
    }
    const int64_t ran = std::max<int64_t>(0, f.steps - first_step);
    // Live bytes between steps (activations and transient ZeRO-3 gathers freed): the measured
    // persistent memory, next to the peak within a step and the computed state bytes.
    const double live = double(executor::tracked_current_bytes());
    at::Tensor mine = at::tensor({double(executor::tracked_peak_bytes()),
                                  double(trainer.state_bytes()), live}, at::kDouble);
    // Every rank's waits (taken before the allgathers below), as a fixed table (kind x group-size slot: ms, calls).
    constexpr int kSlots = 7 * executor::kWaitSizeSlots;
    at::Tensor waits = at::zeros({2 * kSlots}, at::kDouble);
    for (const executor::WaitTotal& w : executor::wait_totals()) {
      int slot = 0;
      while (w.group_size > (2 << slot)) ++slot;
      const int at = int(w.kind) * executor::kWaitSizeSlots + slot;
      waits[at] = w.ms;
      waits[kSlots + at] = double(w.calls);
    }
    std::vector<at::Tensor> all = comms.world().allgather(mine);
    std::vector<at::Tensor> all_waits = comms.world().allgather(waits);
    if (!f.trace.empty()) {
      const int64_t traced = std::min<int64_t>(ran, f.trace_steps);
      Status w = write_trace(f.trace, comms.world(), env->node_rank,
                             first_step + (traced > 2 ? 2 : traced > 1 ? 1 : 0), lead);
      if (!w.ok()) return fail(cmd, w);
    }
    const int64_t wait_steps = std::max<int64_t>(0, f.steps - first_step - 1);
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
                {"resumed_from", ckpt ? ckpt->dir : std::string()},
                {"first_step", first_step + 1},
                {"steps", steps},
                {"mean_ms", ran ? total_ms / ran : 0.0},
                {"tokens_per_s", total_ms > 0 ? tokens * ran / (total_ms / 1e3) : 0.0},
                {"peak_memory_bytes", peaks},
                {"state_bytes", states},
                {"live_bytes_after_steps", lives},
                {"comm_wait_steps", wait_steps},
                {"comm_wait_ms", wait_json(all_waits, wait_steps)}};
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
      ("trace", "write every rank's timeline (forward, backward, waits, sync, optimizer; wall and "
                "CPU time) here as Chrome trace JSON (rank 0; open in ui.perfetto.dev) and print "
                "where each rank's step time went", cxxopts::value<std::string>())
      ("trace-steps", "steps recorded by --trace, from the first (the summary leaves out the "
                      "first 2)", cxxopts::value<int>()->default_value("20"))
      ("memory-per-device", "fail cleanly when a rank's tracked peak exceeds this (e.g. 2GiB)",
       cxxopts::value<std::string>())
      ("timeout", "seconds before a collective with a dead/hung peer fails",
       cxxopts::value<int>()->default_value("120"))
      ("save-dir", "write sharded checkpoints to D/step-<N> (after every --save-every steps and "
                   "after the last)", cxxopts::value<std::string>())
      ("save-every", "checkpoint every K steps (0: only after the last step)",
       cxxopts::value<int>()->default_value("0"))
      ("keep", "complete checkpoints kept in --save-dir (0: all)",
       cxxopts::value<int>()->default_value("2"))
      ("checkpoint-block-bytes", "checksum block size of checkpoint shards",
       cxxopts::value<std::string>()->default_value("1MiB"))
      ("resume", "continue from a save dir's latest complete checkpoint (or a step-* folder), "
                 "under any strategy; --steps stays the total", cxxopts::value<std::string>())
      ("fault-kill-in-save", "test hook: STEP:RANK:shard|manifest kills that rank with SIGKILL "
                             "in the middle of that save", cxxopts::value<std::string>())
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
    if (r.count("trace")) f.trace = r["trace"].as<std::string>();
    f.trace_steps = r["trace-steps"].as<int>();
    if (f.trace_steps < 1) {
      std::fprintf(stderr, "paratune train: --trace-steps must be >= 1\n");
      return 2;
    }
    f.steps = r["steps"].as<int>();
    f.seed = r["seed"].as<uint64_t>();
    f.lr = r["lr"].as<double>();
    f.timeout_s = r["timeout"].as<int>();
    if (f.steps < 0 || f.timeout_s < 1) {
      std::fprintf(stderr, "paratune train: --steps must be >= 0 and --timeout >= 1\n");
      return 2;
    }
    if (r.count("save-dir")) f.save_dir = r["save-dir"].as<std::string>();
    if (r.count("resume")) f.resume = r["resume"].as<std::string>();
    f.save_every = r["save-every"].as<int>();
    f.ckpt.keep = r["keep"].as<int>();
    if (f.save_every < 0 || f.ckpt.keep < 0) {
      std::fprintf(stderr, "paratune train: --save-every and --keep must be >= 0\n");
      return 2;
    }
    if (f.seed > uint64_t(INT64_MAX) && !f.save_dir.empty()) {
      std::fprintf(stderr, "paratune train: --seed must be < 2^63 with --save-dir\n");
      return 2;
    }
    auto bb = parse_size(r["checkpoint-block-bytes"].as<std::string>(), "--checkpoint-block-bytes");
    if (!bb.ok()) return fail("train", bb.status());
    f.ckpt.block_bytes = int64_t(*bb);
    Status cv = f.ckpt.validate();
    if (!cv.ok()) return fail("train", cv);
    if (r.count("fault-kill-in-save")) {
      auto fault = parse_fault(r["fault-kill-in-save"].as<std::string>());
      if (!fault.ok()) return fail("train", fault.status());
      f.ckpt.fault = *fault;
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
