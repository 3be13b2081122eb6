// paratune search: decision-tree candidates + layer-wise DP + pipeline partition under a memory
// limit; writes strategy.json and prints the plan next to the baselines.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <iostream>

#include <cxxopts.hpp>

#include "apps/commands.h"
#include "apps/plan/cli_util.h"
#include "core/json_reader.h"
#include "search/baselines.h"
#include "search/planner.h"

namespace paratune::apps {

int cmd_search(int argc, char** argv) {
  cxxopts::Options opts("paratune search",
                        "Search the fastest hybrid-parallel plan (pp, per-layer tp/dp/ZeRO/sp/"
                        "checkpointing, micro-batches, batch) that fits the memory limit.");
  opts.add_options()
      ("cluster", "cluster profile JSON (paratune profile-cluster, configs/clusters/, or imported)", cxxopts::value<std::string>())
      ("model", "model config JSON (configs/models/) or a Hugging Face config.json", cxxopts::value<std::string>())
      ("profile", "model profile JSON (paratune profile-model or imported); default: analytic estimate from FLOPs and the cluster's peak figures", cxxopts::value<std::string>()->default_value(""))
      ("memory-per-device", "per-device memory limit, e.g. 36GiB, 80GB, 512MiB (required)", cxxopts::value<std::string>())
      ("global-batch", "global batch: N, a list N,M,... or a range A:B of powers of two (required)", cxxopts::value<std::string>())
      ("devices", "devices to plan for (power of two); default: all devices of the cluster", cxxopts::value<int>()->default_value("0"))
      ("o,output", "where to write the strategy (required)", cxxopts::value<std::string>())
      ("space", "per-layer space: full (paratune's default: DDP/ZeRO-2/ZeRO-3, sp, checkpointing), galvatron (Galvatron's pruned tree + checkpointing), galvatron-mixed (DP/SDP mixing)", cxxopts::value<std::string>()->default_value("full"))
      ("max-tp", "largest tensor-parallel degree (0 = no cap)", cxxopts::value<int>()->default_value("8"))
      ("no-checkpoint", "never use activation checkpointing")
      ("max-micro-batches", "largest micro-batch count tried", cxxopts::value<int>()->default_value("64"))
      ("memory-buckets", "memory discretisation of the per-stage DP (more = finer, slower)", cxxopts::value<int>()->default_value("512"))
      ("threads", "search threads (0 = all hardware threads)", cxxopts::value<int>()->default_value("0"))
      ("no-baselines", "do not evaluate the baseline planners")
      ("baselines-dir", "also write each fitting baseline's strategy to DIR/baseline-NAME.json (NAME: pure-dp, zero3, megatron; DIR is made if missing), e.g. to train and compare them", cxxopts::value<std::string>()->default_value(""))
      ("per-layer", "print every layer instead of runs of equal layers")
      ("calibration", "term multipliers fitted by `paratune calibrate` on these cluster and model profiles", cxxopts::value<std::string>()->default_value(""))
      ("h,help", "print this help");
  cxxopts::ParseResult r;
  try {
    r = opts.parse(argc, argv);
  } catch (const std::exception& e) {
    return fail("search", InvalidArgument(e.what()));
  }
  if (r.count("help")) {
    std::cout << opts.help() << "\nexample:\n  paratune search --cluster configs/clusters/a100-80gb-1x8.json "
                                "--model configs/models/llama2-7b.json --memory-per-device 36GiB "
                                "--global-batch 16 -o strategy.json\n";
    return 0;
  }
  for (const char* req : {"cluster", "model", "memory-per-device", "global-batch", "output"})
    if (!r.count(req)) return fail("search", InvalidArgument(std::string("--") + req + " is required (see --help)"));

  StatusOr<PlanInputs> in = load_plan_inputs(r["cluster"].as<std::string>(), r["model"].as<std::string>(),
                                             r["profile"].as<std::string>());
  if (!in.ok()) return fail("search", in.status());
  StatusOr<double> mem = parse_size(r["memory-per-device"].as<std::string>(), "--memory-per-device");
  if (!mem.ok()) return fail("search", mem.status());
  StatusOr<std::vector<int>> batches = parse_batches(r["global-batch"].as<std::string>(), "--global-batch");
  if (!batches.ok()) return fail("search", batches.status());

  search::SearchOptions o;
  o.num_devices = r["devices"].as<int>();
  if (o.num_devices > 0) {  // name the cluster file when --devices does not fit it
    StatusOr<int> n = search::resolve_devices(in->cluster, o.num_devices);
    if (!n.ok())
      return fail("search", InvalidArgument(r["cluster"].as<std::string>() + ": " +
                                            n.status().message()));
  }
  o.memory_per_device = Bytes(*mem);
  o.global_batches = *batches;
  o.max_micro_batches = r["max-micro-batches"].as<int>();
  o.memory_buckets = r["memory-buckets"].as<int>();
  o.threads = r["threads"].as<int>();
  const std::string space = r["space"].as<std::string>();
  const bool ckpt = !r.count("no-checkpoint");
  if (space == "full") {
    o.tree = search::DecisionTreeOptions();
    o.tree.allow_checkpoint = ckpt;
  } else if (space == "galvatron" || space == "galvatron-mixed") {
    o.tree = search::DecisionTreeOptions::galvatron(ckpt, space == "galvatron");
  } else {
    return fail("search", InvalidArgument("--space must be full, galvatron or galvatron-mixed, got '" + space + "'"));
  }
  o.tree.max_tp = r["max-tp"].as<int>();
  o.estimator.mixed_precision = in->model.dtype != DType::kFp32;
  Status cal = apply_calibration(r["calibration"].as<std::string>(), *in, o.estimator);
  if (!cal.ok()) return fail("search", cal);

  const std::string out_path = r["output"].as<std::string>();
  const auto t0 = std::chrono::steady_clock::now();
  StatusOr<search::SearchResult> res = search::search(in->model, in->cluster, in->profile, o);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!res.ok()) return fail("search", res.status());

  const std::string baselines_dir = r["baselines-dir"].as<std::string>();
  if (!baselines_dir.empty() && r.count("no-baselines"))
    return fail("search", InvalidArgument("--baselines-dir needs the baselines (drop --no-baselines)"));
  std::vector<search::BaselineResult> baselines;
  if (!r.count("no-baselines")) {
    baselines = search::run_baselines(in->model, in->cluster, in->profile, o,
                                      res->strategy.num_devices, res->strategy.global_batch);
  }
  // Every file or none: the baselines' folder is made first (like an output folder of make or
  // cmake), and a failed write removes what this call already wrote.
  if (!baselines_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(baselines_dir, ec);
    if (ec || !std::filesystem::is_directory(baselines_dir)) {
      return fail("search", InvalidArgument("--baselines-dir " + baselines_dir +
                                            ": cannot make the folder: " +
                                            (ec ? ec.message() : "a file of that name exists")));
    }
  }
  std::vector<std::string> written;
  auto write_one = [&](const std::string& path, const std::string& text) {
    Status w = write_file_atomic(path, text);
    if (!w.ok()) {
      for (const std::string& f : written) std::remove(f.c_str());
      return w;
    }
    written.push_back(path);
    return w;
  };
  Status w = write_one(out_path, dump_json(to_json(res->strategy)));
  if (!w.ok()) return fail("search", w);
  if (!baselines_dir.empty()) {
    for (const auto& b : baselines) {
      if (!b.strategy) continue;
      Status bw = write_one(baselines_dir + "/baseline-" + b.name + ".json",
                            dump_json(to_json(*b.strategy)));
      if (!bw.ok()) return fail("search", bw);
    }
  }

  std::printf("paratune search: %s on %d x %s (%s), limit %s per device, profile: %s\n",
              in->model.name.c_str(), res->strategy.num_devices, in->cluster.device.name.c_str(),
              in->cluster.name.c_str(), format_bytes(*mem).c_str(), in->profile.source.c_str());
  std::printf("searched %lld configs (%lld pruned), %lld stage DPs, ~10^%.0f plans, in %.3f s\n",
              static_cast<long long>(res->stats.outer_configs),
              static_cast<long long>(res->stats.pruned_configs),
              static_cast<long long>(res->stats.stage_dp_runs), res->stats.log10_plans, secs);
  std::printf("\nplan (written to %s):\n", out_path.c_str());
  print_plan(res->strategy, res->estimate, r.count("per-layer") > 0);
  if (!r.count("no-baselines")) {
    std::printf("\nbaselines (same estimator, same limit):\n");
    for (const auto& b : baselines) {
      if (!b.strategy) {
        std::printf("  %-9s %s\n", b.name.c_str(), b.why_not.c_str());
        continue;
      }
      double peak = 0;
      for (const auto& st : b.estimate->stages) peak = std::max(peak, st.peak_memory.value);
      std::printf("  %-9s iteration %9.2f ms  %8.2f samples/s  peak %s  (searched plan is %.2fx)%s\n",
                  b.name.c_str(), b.estimate->iteration.value, b.estimate->samples_per_s,
                  format_bytes(peak).c_str(), res->estimate.samples_per_s / b.estimate->samples_per_s,
                  baselines_dir.empty() ? "" : ("  -> " + baselines_dir + "/baseline-" + b.name + ".json").c_str());
    }
  }
  return 0;
}

}  // namespace paratune::apps
