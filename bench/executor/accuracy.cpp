// Does the estimator predict the executor? For every uniform strategy of the space (each pp, each
// per-layer strategy of the decision tree, on all layers), `--random` seeded mixed per-layer
// plans and the searched plan: the predicted iteration time and per-rank peak memory
// (estimator::estimate_plan on the given profiles) against the measured ones (`paratune launch
// ... -- paratune train --metrics`, median of the steady-state steps, max peak over ranks, with
// the executor's memory limit on when --memory-per-device is given).
//
//   bench_accuracy --cluster cluster.json --model M.json --profile P.json
//       [--launch "--nproc-per-node N"] (default N = the cluster's devices) [--global-batch 8] [--steps 5] [--random 10]
//       [--memory-per-device 512MiB] [--max-plans N] [--repeats 3] [--out DIR]
//       [--calibration calibration.json]
//
// With --calibration (a `paratune calibrate` file fitted on the same two profiles) every
// prediction, and the search, use its term multipliers. The plans that the calibration trained
// are marked "calib" and the summary is printed twice: over every plan and over the held-out
// ones only (the plans the fit never saw). --max-plans N keeps the searched plan, every
// calibration plan and an even sample of the others, N in all.
// Every plan is trained --repeats times, interleaved (bench::interleaved_order: each round visits
// every plan, alternating direction), and its measured time is the median of its runs. With two
// or more runs the bench also prints the run-to-run noise: run 2 taken as a prediction of run 1,
// scored like the estimator (mean / max error, Kendall's tau): what single measurements on this
// machine allow any model to reach.
// Prints a table, the mean and max absolute percentage error of time and memory, the number of
// memory under-predictions (and of runs that hit the memory limit), Kendall's tau between the
// predicted and the measured time ranking; writes DIR/accuracy.csv, DIR/accuracy.json and
// DIR/accuracy.svg (predicted vs measured, log-log, time and memory side by side).
// The CPU executor's tracking allocator sees only tensors: the estimator's runtime buffer is 0.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "bench/executor/bench_util.h"
#include "bench/executor/plan_inputs.h"
#include "calibrate/calibration.h"
#include "core/cluster_profile.h"
#include "core/model_profile.h"
#include "estimator/plan_estimate.h"
#include "search/decision_tree.h"
#include "search/planner.h"

using namespace paratune;

namespace {

constexpr int kWarmup = 2;

struct Flags {
  std::string cluster, model, profile, launch, out = ".", calibration;
  int global_batch = 8, steps = 5, random = 10, max_plans = 0, repeats = 3;
  uint64_t seed = 1;
  double memory = 0;  // bytes; 0 = no limit
};

struct Row {
  std::string kind, name;
  Strategy plan;
  double pred_ms = 0, pred_bytes = 0, meas_ms = 0, meas_bytes = 0;
  double raw_pred_ms = 0;  // with every term multiplier at 1 (= pred_ms without --calibration)
  std::vector<double> runs_ms = {};  // one median per run
  bool oom = false, failed = false;
  bool calib = false;  // one of the plans the calibration was fitted on
};

using bench::micro_batches_for;
using bench::plan_name;
using bench::kendall_tau;

void write_svg(const std::string& path, const std::vector<Row>& rows) {
  std::ofstream f(path);
  const int W = 420, H = 420, pad = 50;
  f << "<svg xmlns='http://www.w3.org/2000/svg' width='" << 2 * W << "' height='" << H
    << "' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n";
  for (int panel = 0; panel < 2; ++panel) {
    double lo = 1e300, hi = 0;
    for (const Row& r : rows) {
      if (r.failed || r.oom) continue;
      for (double v : panel ? std::vector<double>{r.pred_bytes, r.meas_bytes}
                            : std::vector<double>{r.pred_ms, r.meas_ms}) {
        if (v > 0) lo = std::min(lo, v), hi = std::max(hi, v);
      }
    }
    if (hi <= 0) continue;
    lo = std::log10(lo) - 0.05;
    hi = std::log10(hi) + 0.05;
    const int x0 = panel * W;
    auto X = [&](double v) { return x0 + pad + (std::log10(v) - lo) / (hi - lo) * (W - 2 * pad); };
    auto Y = [&](double v) { return H - pad - (std::log10(v) - lo) / (hi - lo) * (H - 2 * pad); };
    f << "<rect x='" << x0 + pad << "' y='" << pad << "' width='" << W - 2 * pad << "' height='"
      << H - 2 * pad << "' fill='none' stroke='#888'/>\n";
    const double a = std::pow(10, lo), b = std::pow(10, hi);
    f << "<line x1='" << X(a) << "' y1='" << Y(a) << "' x2='" << X(b) << "' y2='" << Y(b)
      << "' stroke='#bbb' stroke-dasharray='4'/>\n";
    for (const Row& r : rows) {
      if (r.failed || r.oom) continue;
      const double p = panel ? r.pred_bytes : r.pred_ms, m = panel ? r.meas_bytes : r.meas_ms;
      if (p <= 0 || m <= 0) continue;
      const char* color = r.kind == "uniform" ? "#1f77b4" : r.kind == "random" ? "#ff7f0e" : "#d62728";
      f << "<circle cx='" << X(m) << "' cy='" << Y(p) << "' r='3.5' fill='" << color
        << "' fill-opacity='0.8'><title>" << r.name << "</title></circle>\n";
    }
    f << "<text x='" << x0 + W / 2 << "' y='" << H - 12 << "' text-anchor='middle'>measured "
      << (panel ? "peak memory (bytes, log)" : "iteration time (ms, log)") << "</text>\n";
    f << "<text x='" << x0 + 14 << "' y='" << H / 2 << "' transform='rotate(-90 " << x0 + 14 << ","
      << H / 2 << ")' text-anchor='middle'>predicted</text>\n";
    f << "<text x='" << x0 + W / 2 << "' y='" << pad - 18 << "' text-anchor='middle' font-size='13'>"
      << (panel ? "memory" : "time")
      << ": blue uniform, orange random mixed, red searched; dashed y = x</text>\n";
  }
  f << "</svg>\n";
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--cluster") f.cluster = v;
    else if (k == "--model") f.model = v;
    else if (k == "--profile") f.profile = v;
    else if (k == "--launch") f.launch = v;
    else if (k == "--out") f.out = v;
    else if (k == "--calibration") f.calibration = v;
    else if (k == "--global-batch") f.global_batch = std::atoi(v.c_str());
    else if (k == "--steps") f.steps = std::atoi(v.c_str());
    else if (k == "--random") f.random = std::atoi(v.c_str());
    else if (k == "--max-plans") f.max_plans = std::atoi(v.c_str());
    else if (k == "--repeats") f.repeats = std::atoi(v.c_str());
    else if (k == "--seed") f.seed = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--memory-per-device") f.memory = bench::parse_bytes_or_die(k, v);
    else {
      std::fprintf(stderr, "bench_accuracy: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  if (f.cluster.empty() || f.model.empty() || f.profile.empty() || f.steps <= kWarmup ||
      f.repeats < 1) {
    std::fprintf(stderr, "bench_accuracy: --cluster, --model and --profile are required, "
                         "--steps > %d, --repeats >= 1\n", kWarmup);
    return 2;
  }
  bench::ensure_out_dir_or_die("bench_accuracy", f.out);
  bench::BenchInputs in =
      bench::load_inputs_or_die("bench_accuracy", f.cluster, f.model, f.profile);
  if (!f.calibration.empty()) bench::load_calibration_or_die("bench_accuracy", f.calibration, in);
  const ModelConfig* model = &in.model;
  const ClusterProfile* cluster = &in.cluster;
  const int n = cluster->num_devices(), B = f.global_batch;
  // Default: every device of the cluster profile as a local rank (as `paratune calibrate`).
  if (f.launch.empty()) f.launch = "--nproc-per-node " + std::to_string(n);
  const bench::BenchInputs raw_in{in.cluster, in.model, in.profile, {}};  // multipliers all 1
  auto predict = [&](Row& r) {
    auto e = bench::estimate_for_executor(in, r.plan, B);
    if (!e) return false;
    r.pred_ms = e->iteration.value;
    auto raw = bench::estimate_for_executor(raw_in, r.plan, B);
    r.raw_pred_ms = raw ? raw->iteration.value : 0;
    r.pred_bytes = bench::peak_bytes(*e);
    return true;
  };

  std::vector<Row> rows;
  auto add = [&](const std::string& kind, Strategy s) {
    s.micro_batches = micro_batches_for(s, B);
    if (s.micro_batches == 0 || !validate(s, *model, "plan").ok()) return;
    Row r{kind, plan_name(s), s};
    r.calib = bench::is_calibration_plan(in, s);
    if (predict(r)) rows.push_back(std::move(r));
  };
  for (const Strategy& s : bench::uniform_plans(in, B)) add("uniform", s);
  const auto by_pp = search::enumerate_by_pp(n, 0, search::DecisionTreeOptions{}, *model);
  std::mt19937_64 rng(f.seed);
  std::vector<int> pps;
  for (const auto& [pp, cands] : by_pp)
    if (!cands.empty()) pps.push_back(pp);
  for (int i = 0, tries = 0; i < f.random && tries < 100 * (f.random + 1); ++tries) {
    const int pp = pps[rng() % pps.size()];
    const auto& cands = by_pp.at(pp);
    Strategy s = uniform_strategy(n, pp, cands[0], model->num_layers, B, 1);
    // Uneven stages: each stage at least one layer, the rest spread at random.
    s.pp_division.assign(pp, 1);
    for (int l = pp; l < model->num_layers; ++l) s.pp_division[rng() % pp] += 1;
    for (auto& l : s.layers) l = cands[rng() % cands.size()];
    LayerStrategy e = cands[rng() % cands.size()];
    e.checkpoint = false;
    e.sp = false;
    if (model->vocab % e.tp == 0) s.embedding = e;
    const size_t before = rows.size();
    add("random", s);
    if (rows.size() > before) rows.back().name = "random " + std::to_string(++i) + " " + rows.back().name;
  }
  {
    search::SearchOptions so;
    so.num_devices = n;
    so.memory_per_device = Bytes(f.memory > 0 ? f.memory : 1e15);
    so.global_batches = {B};
    so.estimator.runtime_buffer_bytes = 0;
    so.estimator.scales = in.scales;
    auto found = search::search(in.model, in.cluster, in.profile, so);
    if (found.ok()) {
      Row r{"searched", "searched " + plan_name(found->strategy), found->strategy};
      r.calib = bench::is_calibration_plan(in, r.plan);
      if (predict(r)) rows.push_back(std::move(r));
    } else {
      std::printf("search found no plan: %s\n", found.status().message().c_str());
    }
  }
  if (f.max_plans > 0 && int(rows.size()) > f.max_plans) {
    // Keep the searched plan, every calibration plan (so that a refit on this run's own
    // calibration rows, bench_calibration_refit, has all of them) and an even sample of the
    // others up to --max-plans in all.
    std::vector<Row> fixed, others;
    for (size_t i = 0; i < rows.size(); ++i)
      (rows[i].calib || i + 1 == rows.size() ? fixed : others).push_back(rows[i]);
    const int room = std::max(0, f.max_plans - int(fixed.size()));
    std::vector<Row> keep;
    for (int k = 0; k < room && k < int(others.size()); ++k)
      keep.push_back(others[size_t(k) * others.size() / room]);
    // In the enumeration order: the calibration plans among the sample, the searched one last.
    for (Row& r : fixed) keep.push_back(std::move(r));
    std::stable_partition(keep.begin(), keep.end(),
                          [](const Row& r) { return r.kind != "searched"; });
    rows = std::move(keep);
  }
  std::printf("bench_accuracy: %s on %d devices (%s), global batch %d, %zu plans x %d runs "
              "(interleaved), %d steps each (%d warm-up), launch %s%s\n",
              model->name.c_str(), n, cluster->name.c_str(), B, rows.size(), f.repeats, f.steps,
              kWarmup, f.launch.c_str(), f.memory > 0 ? ", memory limit on" : "");
  bench::TempDir dir;
  bench::write_or_die(dir.path() + "/model.json", to_json(*model));
  std::vector<bench::Job> jobs;
  for (const Row& r : rows) jobs.push_back({r.plan, f.memory, r.name});
  const std::vector<bench::Measured> meas =
      bench::measure_interleaved(PARATUNE_BIN, f.launch, dir.path(), dir.path() + "/model.json",
                                 jobs, f.steps, kWarmup, f.repeats);
  for (size_t i = 0; i < rows.size(); ++i) {
    Row& r = rows[i];
    r.runs_ms = meas[i].runs_ms;
    if (!meas[i].ok) {
      r.oom = meas[i].oom;
      r.failed = !r.oom;
      continue;
    }
    r.meas_ms = meas[i].ms;
    r.meas_bytes = meas[i].peak_bytes;
  }
  const bench::RunToRunNoise noise = bench::run_to_run_noise(meas);
  // Summary.
  std::printf("%-48s %10s %10s %7s %10s %10s %7s\n", "plan", "pred ms", "meas ms", "err",
              "pred MiB", "meas MiB", "err");
  int ooms = 0, fails = 0;
  for (const Row& r : rows) {
    const std::string name = r.name + (r.calib ? " [calib]" : "");
    if (r.failed || r.oom) {
      std::printf("%-48s %10.1f %10s %7s %10.1f %10s\n", name.c_str(), r.pred_ms,
                  r.oom ? "OOM" : "FAILED", "", r.pred_bytes / 1048576, "");
      ooms += r.oom;
      fails += r.failed;
      continue;
    }
    const double te = (r.pred_ms - r.meas_ms) / r.meas_ms, me = (r.pred_bytes - r.meas_bytes) / r.meas_bytes;
    std::printf("%-48s %10.1f %10.1f %+6.1f%% %10.1f %10.1f %+6.1f%%\n", name.c_str(), r.pred_ms,
                r.meas_ms, 100 * te, r.pred_bytes / 1048576, r.meas_bytes / 1048576, 100 * me);
  }
  struct Score {
    int ok = 0, under = 0;
    double t_mape = 0, t_max = 0, m_mape = 0, m_max = 0, tau = 0;
  };
  auto score = [&](bool held_out_only, bool raw = false) {
    Score sc;
    std::vector<double> pt, mt;
    for (const Row& r : rows) {
      if (r.failed || r.oom || (held_out_only && r.calib)) continue;
      const double pred_ms = raw ? r.raw_pred_ms : r.pred_ms;
      const double te = std::fabs(pred_ms - r.meas_ms) / r.meas_ms;
      const double me = std::fabs(r.pred_bytes - r.meas_bytes) / r.meas_bytes;
      ++sc.ok;
      sc.t_mape += te, sc.t_max = std::max(sc.t_max, te);
      sc.m_mape += me, sc.m_max = std::max(sc.m_max, me);
      sc.under += r.pred_bytes < r.meas_bytes;
      pt.push_back(pred_ms);
      mt.push_back(r.meas_ms);
    }
    if (sc.ok) sc.t_mape /= sc.ok, sc.m_mape /= sc.ok;
    sc.tau = kendall_tau(pt, mt);
    return sc;
  };
  auto print_score = [&](const Score& sc) {
    std::printf("iteration time: mean abs error %.1f%%, max %.1f%% (targets 10%% / 20%%)\n",
                100 * sc.t_mape, 100 * sc.t_max);
    std::printf("peak memory:    mean abs error %.1f%%, max %.1f%% (target mean 5%%), "
                "under-predicted %d of %d\n", 100 * sc.m_mape, 100 * sc.m_max, sc.under, sc.ok);
    std::printf("Kendall's tau (predicted vs measured time ranking): %.3f (target >= 0.8)\n",
                sc.tau);
  };
  const Score all = score(false), held = score(true);
  const double tau = all.tau;
  std::printf("\n%d plans measured (%d hit the memory limit, %d failed)\n", all.ok, ooms, fails);
  if (all.ok) {
    if (!f.calibration.empty()) {
      std::printf("calibration %s: %s\n", f.calibration.c_str(),
                  calibrate::describe(in.scales).c_str());
      std::printf("over all %d plans (%d of them calibration plans):\n", all.ok, all.ok - held.ok);
    }
    print_score(all);
    if (!f.calibration.empty() && held.ok) {
      std::printf("over the %d held-out plans (not used by the calibration):\n", held.ok);
      print_score(held);
      const Score raw_all = score(false, true), raw_held = score(true, true);
      std::printf("the same runs without the calibration (every multiplier 1): time mean abs "
                  "error %.1f%% (held-out %.1f%%), max %.1f%% (%.1f%%), tau %.3f (%.3f)\n",
                  100 * raw_all.t_mape, 100 * raw_held.t_mape, 100 * raw_all.t_max,
                  100 * raw_held.t_max, raw_all.tau, raw_held.tau);
    }
    std::printf("%s\n", bench::describe(noise, f.repeats).c_str());
    std::printf("%s\n", bench::describe(bench::noise_ceiling(meas), f.repeats).c_str());
  }
  // Raw rows.
  const std::string csv = f.out + "/accuracy.csv", js = f.out + "/accuracy.json", svg = f.out + "/accuracy.svg";
  {
    std::ofstream c(csv);
    c << "kind,plan,pred_ms,meas_ms,pred_bytes,meas_bytes,status,calibration_plan,runs_ms\n";
    for (const Row& r : rows) {
      c << r.kind << ",\"" << r.name << "\"," << r.pred_ms << "," << r.meas_ms << "," << r.pred_bytes
        << "," << r.meas_bytes << "," << (r.oom ? "oom" : r.failed ? "failed" : "ok") << "," << (r.calib ? 1 : 0) << ",\"";
      for (size_t k = 0; k < r.runs_ms.size(); ++k) c << (k ? ";" : "") << r.runs_ms[k];
      c << "\"\n";
    }
  }
  Json out = Json::array();
  for (const Row& r : rows)
    out.push_back({{"kind", r.kind}, {"plan", r.name}, {"strategy", to_json(r.plan)},
                   {"pred_ms", r.pred_ms}, {"meas_ms", r.meas_ms}, {"pred_bytes", r.pred_bytes},
                   {"meas_bytes", r.meas_bytes}, {"runs_ms", r.runs_ms},
                   {"calibration_plan", r.calib}, {"raw_pred_ms", r.raw_pred_ms},
                   {"status", r.oom ? "oom" : r.failed ? "failed" : "ok"}});
  auto score_json = [](const Score& sc) {
    return Json{{"plans", sc.ok}, {"time_mape", sc.t_mape}, {"time_max_ape", sc.t_max},
                {"kendall_tau", sc.tau}, {"memory_mape", sc.m_mape},
                {"memory_max_ape", sc.m_max}, {"memory_under", sc.under}};
  };
  bench::write_or_die(js, Json{{"format_version", 1}, {"rows", out}, {"kendall_tau", tau},
                               {"all", score_json(all)}, {"held_out", score_json(held)},
                               {"calibration", f.calibration.empty() ? "" : calibrate::describe(in.scales)},
                               {"repeats", f.repeats},
                               {"run_to_run", {{"plans", noise.plans}, {"mape", noise.mape},
                                               {"max_ape", noise.max_ape}, {"tau", noise.tau},
                                               {"median_spread", noise.median_spread},
                                               {"max_spread", noise.max_spread}}}});
  write_svg(svg, rows);
  std::printf("wrote %s, %s, %s\n", csv.c_str(), js.c_str(), svg.c_str());
  return 0;
}
