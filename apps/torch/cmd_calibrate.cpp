// paratune calibrate: trains a few plans for some steps (one of each family,
// calibrate::calibration_plans), then fits the estimator's term multipliers to those runs and
// writes them (calibrate/calibration.h). `paratune search --calibration F` and the benches use
// the file; it belongs to the cluster and model profiles it was fitted on.
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <cxxopts.hpp>

#include "apps/commands.h"
#include "apps/plan/cli_util.h"
#include "calibrate/calibration.h"
#include "calibrate/plan_runner.h"
#include "core/json_reader.h"

namespace paratune::apps {

namespace {

std::string self_exe() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "paratune";
  buf[n] = '\0';
  return buf;
}

}  // namespace

int cmd_calibrate(int argc, char** argv) {
  cxxopts::Options opts(
      "paratune calibrate",
      "Train one plan of each family for a few steps on this cluster and fit the cost model's "
      "multipliers (compute, arrival waits, pipeline links, each collective by group size) to "
      "the measured step times. Run it as a plain command (not under launch): it launches the "
      "ranks itself.");
  opts.add_options()
      ("cluster", "cluster profile JSON measured on this machine (paratune profile-cluster)", cxxopts::value<std::string>())
      ("model", "model config JSON", cxxopts::value<std::string>())
      ("profile", "model profile JSON measured on this machine (paratune profile-model)", cxxopts::value<std::string>())
      ("o,output", "where to write the calibration (required)", cxxopts::value<std::string>())
      ("launch", "flags for `paratune launch` that start the cluster's ranks; default: --nproc-per-node <devices of the cluster profile>", cxxopts::value<std::string>()->default_value(""))
      ("global-batch", "global batch of the calibration runs (use the one you will search for)", cxxopts::value<int>()->default_value("8"))
      ("steps", "training steps per run (the first 2 are warm-up)", cxxopts::value<int>()->default_value("6"))
      ("repeats", "runs per plan, interleaved; the median is fitted", cxxopts::value<int>()->default_value("3"))
      ("placement-fit", "collective multipliers and placement (inside an island / across "
                        "islands): shared (one for both), separate (one per placement; a "
                        "placement no plan runs stays 1), deviation (the shared one times a "
                        "factor per placement held near 1)",
       cxxopts::value<std::string>()->default_value("separate"))
      ("per-placement", "the same as --placement-fit separate")
      ("collective-groups", "which collective multipliers share one value: by-size (one per use, "
                            "op and group size), by-op, by-use (one for TP's, one for DP's), "
                            "nested (per use, times a per-entry factor held near 1)",
       cxxopts::value<std::string>()->default_value("by-size"))
      ("no-granularity", "do not fit how compute scales with the samples a rank computes per "
                         "micro-batch over its tp (scales.granularity; fitted by default from the "
                         "plans that differ in it)")
      ("refit", "fit the runs stored in this calibration file (made on the same profiles) "
                "instead of training: try other fit options without new runs",
       cxxopts::value<std::string>())
      ("dry-run", "print the calibration plans and exit")
      ("h,help", "print this help");
  cxxopts::ParseResult r;
  try {
    r = opts.parse(argc, argv);
  } catch (const std::exception& e) {
    return fail("calibrate", InvalidArgument(e.what()));
  }
  if (r.count("help")) {
    std::cout << opts.help()
              << "\nexample:\n  paratune calibrate --cluster cluster.json --model "
                 "configs/models/gpt-mini.json --profile gpt-mini.profile.json -o calibration.json\n"
                 "  paratune search ... --calibration calibration.json\n";
    return 0;
  }
  for (const char* req : {"cluster", "model", "profile", "output"})
    if (!r.count(req))
      return fail("calibrate", InvalidArgument(std::string("--") + req + " is required (see --help)"));
  const int batch = r["global-batch"].as<int>(), steps = r["steps"].as<int>(),
            repeats = r["repeats"].as<int>();
  constexpr int kWarmup = 2;
  if (batch < 1) return fail("calibrate", InvalidArgument("--global-batch must be >= 1"));
  if (steps <= kWarmup) return fail("calibrate", InvalidArgument("--steps must be > 2 (2 are warm-up)"));
  if (repeats < 1) return fail("calibrate", InvalidArgument("--repeats must be >= 1"));
  StatusOr<calibrate::CollectiveGroups> groups =
      calibrate::collective_groups_from_string(r["collective-groups"].as<std::string>());
  if (!groups.ok())
    return fail("calibrate", InvalidArgument("--collective-groups: " + groups.status().message()));
  StatusOr<calibrate::PlacementFit> placement_fit =
      r.count("per-placement")
          ? StatusOr<calibrate::PlacementFit>(calibrate::PlacementFit::kSeparate)
          : calibrate::placement_fit_from_string(r["placement-fit"].as<std::string>());
  if (!placement_fit.ok())
    return fail("calibrate",
                InvalidArgument("--placement-fit: " + placement_fit.status().message()));

  StatusOr<PlanInputs> in = load_plan_inputs(r["cluster"].as<std::string>(),
                                             r["model"].as<std::string>(),
                                             r["profile"].as<std::string>());
  if (!in.ok()) return fail("calibrate", in.status());
  const int n = in->cluster.num_devices();
  std::string launch = r["launch"].as<std::string>();
  if (launch.empty()) launch = "--nproc-per-node " + std::to_string(n);
  const std::vector<Strategy> plans = calibrate::calibration_plans(in->model, n, batch);
  if (plans.size() < 2) {
    return fail("calibrate", InvalidArgument("only " + std::to_string(plans.size()) +
                                             " calibration plan(s) exist for " + in->model.name +
                                             " on " + std::to_string(n) +
                                             " devices at global batch " + std::to_string(batch) +
                                             "; at least 2 are needed"));
  }
  // Fail on an unwritable output before the runs, not after them.
  const std::string out_path = r["output"].as<std::string>();
  auto probe_output = [&]() {
    Status w = write_file_atomic(out_path + ".probe", "x");
    if (w.ok()) std::remove((out_path + ".probe").c_str());
    return w;
  };
  std::vector<std::pair<Strategy, double>> measured;
  if (r.count("refit")) {
    const std::string from = r["refit"].as<std::string>();
    StatusOr<calibrate::Calibration> old = calibrate::load_calibration(from);
    if (!old.ok()) return fail("calibrate", old.status());
    Status m = calibrate::check_matches(*old, in->cluster, in->profile, from);
    if (!m.ok()) return fail("calibrate", m);
    if (old->runs.size() < 2)
      return fail("calibrate", InvalidArgument(from + ": field \"runs\": needs at least 2 runs"));
    if (old->global_batch != batch)
      return fail("calibrate", InvalidArgument(from + ": field \"global_batch\": " +
                                               std::to_string(old->global_batch) +
                                               ", but --global-batch is " + std::to_string(batch)));
    if (r.count("dry-run")) return 0;
    Status w = probe_output();
    if (!w.ok()) return fail("calibrate", w);
    std::fprintf(stderr, "paratune calibrate: refitting the %zu runs of %s (no training)\n",
                 old->runs.size(), from.c_str());
    for (const calibrate::CalibrationRun& run : old->runs)
      measured.emplace_back(run.strategy, run.measured_ms);
  } else {
    std::fprintf(stderr, "paratune calibrate: %s on %d devices (%s), global batch %d: %zu plans x %d "
                         "runs, %d steps each, launch %s\n",
                 in->model.name.c_str(), n, in->cluster.name.c_str(), batch, plans.size(), repeats,
                 steps, launch.c_str());
    for (const Strategy& s : plans) std::fprintf(stderr, "  %s\n", runner::plan_name(s).c_str());
    if (r.count("dry-run")) return 0;

    Status w = probe_output();
    if (!w.ok()) return fail("calibrate", w);

    runner::TempDir dir;
    runner::write_or_die(dir.path() + "/model.json", to_json(in->model));
    std::vector<runner::Job> jobs;
    for (const Strategy& s : plans) jobs.push_back({s, 0, runner::plan_name(s)});
    const std::vector<runner::Measured> meas = runner::measure_interleaved(
        self_exe(), launch, dir.path(), dir.path() + "/model.json", jobs, steps, kWarmup, repeats);
    for (size_t i = 0; i < plans.size(); ++i) {
      if (!meas[i].ok) {
        return fail("calibrate", Internal("training " + runner::plan_name(plans[i]) +
                                          " failed; its output ended with:\n" + meas[i].log_tail));
      }
      measured.emplace_back(plans[i], meas[i].ms);
    }
  }
  calibrate::FitInputs fit;
  fit.set_placement_fit(*placement_fit);
  fit.per_granularity = r.count("no-granularity") == 0;
  fit.collective_groups = *groups;
  fit.model = &in->model;
  fit.cluster = &in->cluster;
  fit.profile = &in->profile;
  fit.global_batch = batch;
  fit.options.runtime_buffer_bytes = 0;
  fit.options.mixed_precision = in->model.dtype != DType::kFp32;
  StatusOr<calibrate::Calibration> c = calibrate::fit_calibration(fit, measured);
  if (!c.ok()) return fail("calibrate", c.status());
  Status w = write_file_atomic(out_path, dump_json(calibrate::to_json(*c)));
  if (!w.ok()) return fail("calibrate", w);

  std::printf("%-36s %10s %10s %7s %10s %7s\n", "plan", "meas ms", "pred ms", "err", "calib ms",
              "err");
  for (const calibrate::CalibrationRun& run : c->runs) {
    std::printf("%-36s %10.1f %10.1f %+6.1f%% %10.1f %+6.1f%%\n", run.plan.c_str(),
                run.measured_ms, run.predicted_ms,
                100 * (run.predicted_ms / run.measured_ms - 1), run.calibrated_ms,
                100 * (run.calibrated_ms / run.measured_ms - 1));
  }
  std::printf("scales: %s\n", calibrate::describe(c->scales).c_str());
  std::printf("log-rms error of these runs: %.3f before, %.3f after (collective multipliers "
              "%s%s; wrote %s)\n",
              c->log_rms_before, c->log_rms_after, calibrate::to_string(c->collective_groups),
              c->placement_deviation ? ", per placement as a deviation"
              : c->per_placement    ? ", per placement"
                                    : "",
              out_path.c_str());
  return 0;
}

}  // namespace paratune::apps
