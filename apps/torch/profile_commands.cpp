// `paratune profile-cluster -o cluster.json [--summary FILE] ...` and
// `paratune profile-model --model M.json -o profile.json [--micro-batches 1,2,4] [--tp 1,2,4]`:
// run on every rank (under `paratune launch`, torchrun or srun); rank 0 writes the file.
// `profile-cluster --summary FILE` alone prints a table of an existing profile (no ranks);
// `profile-model --compare A B` prints how far two model profiles' times differ (no ranks).
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <cxxopts.hpp>

#include "apps/commands.h"
#include "apps/plan/cli_util.h"
#include "core/json_reader.h"
#include "executor/comm.h"
#include "executor/rendezvous.h"
#include "profiler/cluster_profiler.h"
#include "profiler/model_profiler.h"
#include "profiler/summary.h"

namespace paratune::apps {

namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

StatusOr<std::vector<int>> parse_ints(const std::string& s, const std::string& flag) {
  std::vector<int> out;
  for (const std::string& item : split_list(s)) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (*end || v < 1 || v > (1 << 20))
      return InvalidArgument(flag + ": \"" + item + "\" is not a positive integer");
    out.push_back(int(v));
  }
  if (out.empty()) return InvalidArgument(flag + ": empty list");
  return out;
}

// Runs `body` on every rank with a Comms over the launch environment; libtorch / c10d errors
// become an exit code here.
template <class F>
int with_comms(const char* cmd, int timeout_s, F body) {
  auto env = executor::dist_env_from_environment();
  if (!env.ok()) return fail(cmd, env.status());
  executor::use_compute_threads(env->local_world_size);
  try {
    executor::CommOptions co;
    co.timeout = std::chrono::seconds(timeout_s);
    co.loopback = env->loopback();
    auto store = executor::connect_store(*env, co.timeout);
    executor::Comms comms(store, env->rank, env->world_size, co);
    return body(*env, comms);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "paratune %s: rank %d: error: %s\n", cmd, env->rank, e.what());
    return 1;
  }
}

}  // namespace

int cmd_profile_cluster(int argc, char** argv) {
  const char* cmd = "profile-cluster";
  cxxopts::Options opts("paratune profile-cluster",
                        "Measure collectives, p2p, GEMM throughput and overlap on every rank "
                        "(run under paratune launch / torchrun); rank 0 writes the profile.");
  opts.add_options()
      ("o,output", "cluster profile to write", cxxopts::value<std::string>())
      ("summary", "print a table of an existing cluster profile and exit",
       cxxopts::value<std::string>())
      ("name", "profile name", cxxopts::value<std::string>()->default_value("measured"))
      ("ops", "collectives to measure", cxxopts::value<std::string>()->default_value(
                                            "allreduce,allgather,reduce_scatter,all2all"))
      ("sizes", "message sizes (full tensor), e.g. 16KiB,1MiB,16MiB",
       cxxopts::value<std::string>()->default_value("16KiB,256KiB,1MiB,4MiB,16MiB"))
      ("warmup", "untimed calls per size", cxxopts::value<int>()->default_value("1"))
      ("repeats", "timed calls per size (median kept)", cxxopts::value<int>()->default_value("5"))
      ("passes", "passes over every collective, wait and p2p measurement (median of the "
                 "passes kept, so that a slow spell of the machine moves one pass)",
       cxxopts::value<int>()->default_value("3"))
      ("gemm-size", "side of the timed square fp32 GEMM", cxxopts::value<int>()->default_value("1024"))
      ("min-time-ms", "GEMM timing window (all ranks, then rank 0 alone), ms",
       cxxopts::value<double>()->default_value("200"))
      ("load-ms", "compute before each timed collective call, ms (0: none; then medians, else means)",
       cxxopts::value<double>()->default_value("0"))
      ("shared-cpu-load-ms", "compute before each timed call of groups that have a CPU to "
       "themselves (all ranks bound to one CPU no other rank uses), timed from the last arrival, "
       "ms (0: back to back like the others)",
       cxxopts::value<double>()->default_value("1"))
      ("no-p2p", "skip p2p")
      ("no-overlap", "skip the overlap measurement")
      ("no-waits", "skip the arrival waits (what a collective right after compute waits for "
                   "the slowest rank) and the p2p handoff (how late a pipeline send arrives "
                   "while its sender computes on); docs/profilers.md")
      ("timeout", "seconds before a collective with a dead/hung peer fails",
       cxxopts::value<int>()->default_value("120"))
      ("h,help", "show this help");
  profiler::ClusterProfilerOptions o;
  std::string out;
  int timeout_s = 120;
  try {
    auto r = opts.parse(argc, argv);
    if (r.count("help")) {
      std::printf("%s\n", opts.help().c_str());
      return 0;
    }
    if (!r.unmatched().empty()) {
      std::fprintf(stderr, "paratune %s: unexpected argument '%s'\n", cmd, r.unmatched()[0].c_str());
      return 2;
    }
    if (r.count("summary")) {
      const std::string f = r["summary"].as<std::string>();
      auto c = load_cluster_profile(f);
      if (!c.ok()) return fail(cmd, c.status());
      std::printf("%s", profiler::cluster_summary(*c).c_str());
      return 0;
    }
    if (!r.count("output")) {
      std::fprintf(stderr, "paratune %s: -o/--output (or --summary FILE) is required\n", cmd);
      return 2;
    }
    out = r["output"].as<std::string>();
    o.name = r["name"].as<std::string>();
    o.ops.clear();
    for (const std::string& s : split_list(r["ops"].as<std::string>())) {
      bool found = false;
      for (CollectiveOp op : {CollectiveOp::kAllReduce, CollectiveOp::kAllGather,
                              CollectiveOp::kReduceScatter, CollectiveOp::kAllToAll})
        if (s == to_string(op)) o.ops.push_back(op), found = true;
      if (!found) {
        std::fprintf(stderr, "paratune %s: --ops: unknown collective \"%s\" (allreduce, allgather, "
                     "reduce_scatter, all2all)\n", cmd, s.c_str());
        return 2;
      }
    }
    o.sizes.clear();
    for (const std::string& s : split_list(r["sizes"].as<std::string>())) {
      auto b = parse_size(s, "--sizes");
      if (!b.ok()) return fail(cmd, b.status());
      o.sizes.push_back(int64_t(*b));
    }
    o.warmup = r["warmup"].as<int>();
    o.repeats = r["repeats"].as<int>();
    o.passes = r["passes"].as<int>();
    o.gemm_size = r["gemm-size"].as<int>();
    o.min_time_ms = r["min-time-ms"].as<double>();
    o.load_ms = r["load-ms"].as<double>();
    o.shared_cpu_load_ms = r["shared-cpu-load-ms"].as<double>();
    o.p2p = !r.count("no-p2p");
    o.overlap = !r.count("no-overlap");
    o.waits = !r.count("no-waits");
    timeout_s = r["timeout"].as<int>();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "paratune %s: %s\n", cmd, e.what());
    return 2;
  }
  Status st = o.validate();
  if (!st.ok()) return fail(cmd, st);
  return with_comms(cmd, timeout_s, [&](const executor::DistEnv& env, executor::Comms& comms) {
    ClusterProfile c = profiler::profile_cluster(comms, env, o);
    if (env.rank != 0) return 0;
    Status v = validate(c, out);
    if (v.ok()) v = write_file_atomic(out, dump_json(to_json(c)));
    if (!v.ok()) return fail(cmd, v);
    std::printf("%s", profiler::cluster_summary(c).c_str());
    std::printf("paratune %s: wrote %s\n", cmd, out.c_str());
    return 0;
  });
}

// `profile-model --compare A.json B.json [--tolerance PCT]`: no ranks; prints how far two
// profiles' times differ. Exit 0 when every time is within the tolerance, 1 when not, 2 on a bad
// file or flag.
int compare_profiles(const char* cmd, int argc, char** argv) {
  std::vector<std::string> files;
  double tol_pct = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--compare") continue;
    if (a == "--tolerance" || a.rfind("--tolerance=", 0) == 0) {
      std::string v = a == "--tolerance" ? (i + 1 < argc ? argv[++i] : "") : a.substr(12);
      char* end = nullptr;
      tol_pct = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(tol_pct >= 0) || !std::isfinite(tol_pct)) {
        std::fprintf(stderr, "paratune %s: --tolerance: \"%s\" is not a percentage >= 0\n", cmd,
                     v.c_str());
        return 2;
      }
      continue;
    }
    if (a.rfind("-", 0) == 0) {
      std::fprintf(stderr, "paratune %s: --compare takes two profiles and --tolerance only, not '%s'\n",
                   cmd, a.c_str());
      return 2;
    }
    files.push_back(a);
  }
  if (files.size() != 2) {
    std::fprintf(stderr, "paratune %s: --compare needs two model profiles (got %zu)\n", cmd,
                 files.size());
    return 2;
  }
  auto a = load_model_profile(files[0]);
  if (!a.ok()) return fail(cmd, a.status());
  auto b = load_model_profile(files[1]);
  if (!b.ok()) return fail(cmd, b.status());
  auto g = profiler::compare_model_profiles(*a, *b);
  if (!g.ok()) return fail(cmd, g.status());
  std::printf("A = %s\nB = %s\n%s", files[0].c_str(), files[1].c_str(),
              g->report(tol_pct / 100).c_str());
  return g->within(tol_pct / 100) == int(g->times.size()) ? 0 : 1;
}

int cmd_profile_model(int argc, char** argv) {
  const char* cmd = "profile-model";
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--compare") return compare_profiles(cmd, argc, argv);
  cxxopts::Options opts("paratune profile-model",
                        "Time each layer type's forward/backward over micro-batch sizes and TP "
                        "shard shapes and measure its activation memory (run on every local "
                        "rank at once); rank 0 writes the profile.");
  opts.add_options()
      ("model", "model config (paratune or Hugging Face config.json)", cxxopts::value<std::string>())
      ("o,output", "model profile to write", cxxopts::value<std::string>())
      ("micro-batches", "local micro-batch sizes", cxxopts::value<std::string>()->default_value("1,2,4"))
      ("tp", "TP degrees (default: 1,2,4,8 where the model allows)", cxxopts::value<std::string>())
      ("warmup", "untimed runs per point", cxxopts::value<int>()->default_value("1"))
      ("repeats", "timed runs per point at least (their mean is kept)", cxxopts::value<int>()->default_value("3"))
      ("passes", "passes over every point, each with its share of the repeats and of the "
                 "window", cxxopts::value<int>()->default_value("15"))
      ("keep", "which value of a point's passes the profile keeps: two-smallest (the mean of "
               "the two smallest), lower-quartile (with 5 passes the second smallest), median or "
               "min", cxxopts::value<std::string>()->default_value("two-smallest"))
      ("order", "the points' order in each pass: fixed (kind, tp, micro-batch) or shuffled (each "
                "pass its own seeded permutation, the same on every rank)",
       cxxopts::value<std::string>()->default_value("fixed"))
      ("passes-csv", "also write every pass's value of every point (ranks' means, ms) to this CSV",
       cxxopts::value<std::string>())
      ("speed-reference", "an earlier profile of this model: multiply every time by its speed "
       "probe / this run's, putting this profile on that run's machine speed",
       cxxopts::value<std::string>())
      ("min-time-ms", "timed forward+backward per point at least, over all passes, ms (more "
                      "runs until then)", cxxopts::value<double>()->default_value("1500"))
      ("clock", "auto, wall or cpu: cpu keeps each point's CPU time scaled by the pass's "
                "wall/CPU ratio (for ranks that time-share cores); auto = cpu when this host's "
                "ranks x threads outnumber its cores", cxxopts::value<std::string>()->default_value("auto"))
      ("timeout", "seconds before a collective with a dead/hung peer fails",
       cxxopts::value<int>()->default_value("600"))
      ("compare", "--compare A.json B.json [--tolerance PCT]: print how far two profiles' "
       "times differ (no ranks; exit 1 when one differs by more than PCT, default 10)")
      ("h,help", "show this help");
  profiler::ModelProfilerOptions o;
  std::string model_path, out, passes_csv, speed_reference;
  int timeout_s = 600;
  try {
    auto r = opts.parse(argc, argv);
    if (r.count("help")) {
      std::printf("%s\n", opts.help().c_str());
      return 0;
    }
    if (!r.unmatched().empty()) {
      std::fprintf(stderr, "paratune %s: unexpected argument '%s'\n", cmd, r.unmatched()[0].c_str());
      return 2;
    }
    if (!r.count("model") || !r.count("output")) {
      std::fprintf(stderr, "paratune %s: --model and -o/--output are required\n", cmd);
      return 2;
    }
    model_path = r["model"].as<std::string>();
    out = r["output"].as<std::string>();
    auto mb = parse_ints(r["micro-batches"].as<std::string>(), "--micro-batches");
    if (!mb.ok()) return fail(cmd, mb.status());
    o.micro_batches = *mb;
    if (r.count("tp")) {
      auto tp = parse_ints(r["tp"].as<std::string>(), "--tp");
      if (!tp.ok()) return fail(cmd, tp.status());
      o.tps = *tp;
    }
    o.warmup = r["warmup"].as<int>();
    o.repeats = r["repeats"].as<int>();
    o.passes = r["passes"].as<int>();
    auto keep = profiler::parse_keep(r["keep"].as<std::string>());
    if (!keep.ok()) return fail(cmd, keep.status());
    o.keep = *keep;
    auto order = profiler::parse_order(r["order"].as<std::string>());
    if (!order.ok()) return fail(cmd, order.status());
    o.order = *order;
    if (r.count("passes-csv")) passes_csv = r["passes-csv"].as<std::string>();
    o.min_time_ms = r["min-time-ms"].as<double>();
    if (r.count("speed-reference")) speed_reference = r["speed-reference"].as<std::string>();
    auto clock = profiler::parse_clock(r["clock"].as<std::string>());
    if (!clock.ok()) return fail(cmd, clock.status());
    o.clock = *clock;
    timeout_s = r["timeout"].as<int>();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "paratune %s: %s\n", cmd, e.what());
    return 2;
  }
  auto cfg = load_model_config(model_path);
  if (!cfg.ok()) return fail(cmd, cfg.status());
  if (!speed_reference.empty()) {
    // Checked before profiling: the same model, with a probe of the same call.
    auto ref = load_model_profile(speed_reference);
    if (!ref.ok()) return fail(cmd, ref.status());
    const std::string fp = fingerprint(*cfg);
    if (ref->model_fingerprint != fp)
      return fail(cmd, InvalidArgument("--speed-reference " + speed_reference +
                                       ": model_fingerprint \"" + ref->model_fingerprint +
                                       "\" is not this model's (" + fp + ")"));
    if (!ref->speed_probe)
      return fail(cmd, InvalidArgument("--speed-reference " + speed_reference +
                                       ": speed_probe: absent (profile it again with this "
                                       "version of profile-model)"));
    o.reference_probe_ms = ref->speed_probe->at_profile_speed().value;
  }
  Status st = o.validate(*cfg);
  if (!st.ok()) return fail(cmd, st);
  if (!passes_csv.empty()) {
    // Fail before profiling rather than after it.
    const std::filesystem::path dir = std::filesystem::path(passes_csv).parent_path();
    std::error_code ec;
    if (!dir.empty() && !std::filesystem::is_directory(dir, ec))
      return fail(cmd, InvalidArgument("--passes-csv " + passes_csv + ": folder " + dir.string() +
                                       " does not exist"));
  }
  return with_comms(cmd, timeout_s, [&](const executor::DistEnv& env, executor::Comms& comms) {
    profiler::PassTable table;
    ModelProfile p = profiler::profile_model(*cfg, comms, o, &table);
    if (env.rank != 0) return 0;
    Status v = validate(p, out);
    if (v.ok()) v = write_file_atomic(out, dump_json(to_json(p)));
    if (v.ok() && !passes_csv.empty()) v = write_file_atomic(passes_csv, table.to_csv());
    if (!v.ok()) return fail(cmd, v);
    for (const LayerTypeProfile& l : p.layer_types) {
      std::printf("%-12s params %lld\n", l.name.c_str(), (long long)l.param_count);
      for (const ComputePoint& c : l.compute) {
        std::printf("  tp %d mb %d: forward %.3f ms, backward %.3f ms", c.tp, c.micro_batch,
                    c.forward.value, c.backward.value);
        if (c.forward_no_grad)
          std::printf(", forward without autograd %.3f ms", c.forward_no_grad->value);
        std::printf("\n");
      }
      for (const ActivationPoint& a : l.activation)
        std::printf("  tp %d%s: %.1f KiB activations per sample\n", a.tp, a.sp ? " sp" : "",
                    a.bytes_per_sample.value / kKiB);
    }
    if (p.speed_probe) {
      std::printf("speed probe (%s): %.3f ms", p.speed_probe->call.c_str(),
                  p.speed_probe->measured.value);
      if (!speed_reference.empty())
        std::printf("; every time x%.3f to the speed of %s (probe %.3f ms)",
                    p.speed_probe->scale, speed_reference.c_str(), o.reference_probe_ms);
      std::printf("\n");
    }
    std::printf("paratune %s: wrote %s\n", cmd, out.c_str());
    if (!passes_csv.empty())
      std::printf("paratune %s: every pass's values in %s\n", cmd, passes_csv.c_str());
    return 0;
  });
}

}  // namespace paratune::apps
