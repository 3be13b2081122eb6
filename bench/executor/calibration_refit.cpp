// How well does a calibration fitted on a few runs predict the plans it never saw? Reads the rows
// that bench_accuracy wrote (DIR/accuracy.json: every plan's strategy and measured median time),
// fits the cost model's multipliers (calibrate::fit_calibration) on the plans that
// `paratune calibrate` trains (the rows marked as calibration plans, plus --add), once per
// penalty weight, and scores each fit on the held-out rows: mean and max absolute percentage
// error and Kendall's tau, next to the uncalibrated estimator (every multiplier 1) as the
// baseline of the same rows. It also prints each penalty's leave-one-out error over the training
// plans (fit without one, predict it): what `paratune calibrate` can know about a penalty
// without any held-out run. No training runs: the measurements are the bench's.
//
//   bench_calibration_refit --cluster cluster.json --model M.json --profile P.json
//       --rows DIR/accuracy.json [--penalties 0.001,0.01,0.1 | none] [--add "PLAN NAME"]...
//       [--exclude "PLAN NAME"]... [--fit-runs calibration.json]... [--placement-fit shared|separate|deviation] [--collective-groups by-size|by-op|by-use]
//       [--comm-samples] [--comm-fit relative|floor|theil-sen|drop1|robust]
//       [--call-ms X] [--per-call] [--per-granularity | --no-granularity]
//       [--dump FILE]
//
// --exclude leaves a row out altogether (neither fitted on nor scored): `--exclude X` against
// `--add X` scores a fit with and without plan X on the same held-out plans (round 24: would
// calibrating on more plans help?).
// --comm-samples prices collectives by the cluster profile's alpha-beta fits plus the measured
// samples' residual (EstimatorOptions::comm_samples; off by default, as `paratune` prices them):
// the same rows scored with and without it (docs/accuracy.md, round 21).
// --comm-fit refits the cluster profile's alpha-beta entries from their samples before anything
// is predicted: `relative` by least squares of the relative error, `floor` only where the
// profile's latency was clamped at 0, `theil-sen` by the median of the slopes between sizes,
// `drop1` without the one sample more than 50% off the profile's fit (docs/accuracy.md, round
// 22; none better over the stored rows); `robust` the same, only where that sample is slower
// than the fit and has a smaller and a larger size beside it: profile-cluster's fit from round
// 23 on (profiler::fit_alpha_beta_robust), for the profiles stored before it.
// --call-ms X charges X ms per blocking collective call (TermScales::call_ms, fixed in every
// fit); --per-call fits it too, from X (default 0) up (round 22).
// --per-granularity (the default, as in `paratune calibrate`) fits TermScales::granularity:
// compute times (b / tp)^(-granularity), b the samples of a rank's micro-batch; it stays 0 unless
// the training plans differ in b / tp (round 25). --no-granularity leaves it at 0.
// --dump FILE writes the first --fit-runs fit's held-out predictions as CSV (plan, predicted and
// measured ms, relative error).
// --placement-fit shared|separate|deviation (calibrate::PlacementFit; default separate, as in
// `paratune calibrate`): one collective multiplier for both placements (inside an island /
// across islands), one per placement (a placement no training plan runs stays 1; also
// --per-placement), or the shared one times a factor per placement held to 1 by
// --deviation-penalty W (default 0.03; also --placement-deviation), so that a placement no
// training plan runs takes the shared value (round 26).
// --fit-runs also fits on the runs that `paratune calibrate` stored in its file (its own
// measurements, minutes before the bench) with the current model, and scores that fit on the
// held-out plans: the calibrated figure of the user's workflow, re-predicted. Given more than
// once (several calibrations on the same profiles), it also prints how far those fits and the
// fit on the bench's own runs of the calibration plans (first penalty) disagree with each other
// over all plans: the spread of log(pred_a / pred_b) once their overall ratio is taken out, and
// Kendall's tau between the two predicted rankings. A fit that depends on which runs it saw is
// a fit of the noise.
// --collective-groups ties collective multipliers (calibrate::CollectiveGroups): by-size (one per
// use, op and group size; the default), by-op, by-use, nested (per use times a per-entry factor
// held to 1 by --deviation-penalty W).
// Each fit line ends with "pick": how much slower the plan that fit predicts fastest measured
// than the measured fastest plan, over all rows, at three memory limits (none, and the median and
// lower quartile of the rows' predicted peak memory: the plans that fit by the bench's own
// memory prediction, which no multiplier changes).
// It first prints the rows' noise floor (bench::noise_ceiling) over all plans and over the
// held-out ones; `--penalties none` stops there.
// The profiles must be the ones the bench used (the predictions are recomputed from them).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "bench/executor/bench_util.h"
#include "bench/executor/plan_inputs.h"
#include "calibrate/calibration.h"
#include "core/json_reader.h"
#include "core/strategy.h"
#include "profiler/fit.h"

using namespace paratune;

namespace {

struct Row {
  std::string name;
  Strategy plan;
  double meas_ms = 0;
  double pred_bytes = 0;  // the bench's predicted peak memory (0: not in the rows)
  std::vector<double> runs_ms;  // every run's median step, where the rows carry them
  bool train = false;
};

struct Score {
  double mape = 0, max_ape = 0, tau = 0;
};

Score score(const std::vector<double>& pred, const std::vector<double>& meas) {
  Score s;
  for (size_t i = 0; i < pred.size(); ++i) {
    const double e = std::fabs(pred[i] / meas[i] - 1);
    s.mape += e / double(pred.size());
    s.max_ape = std::max(s.max_ape, e);
  }
  s.tau = bench::kendall_tau(pred, meas);
  return s;
}

[[noreturn]] void die(const std::string& m) {
  std::fprintf(stderr, "bench_calibration_refit: %s\n", m.c_str());
  std::exit(1);
}

std::vector<double> predictions(const calibrate::FitInputs& in, const std::vector<Row>& rows,
                                const estimator::TermScales& s) {
  std::vector<double> out;
  for (const Row& r : rows) {
    StatusOr<double> t = calibrate::predict_ms(in, r.plan, s);
    if (!t.ok()) die(r.name + ": " + t.status().message());
    out.push_back(*t);
  }
  return out;
}

calibrate::Calibration fit_or_die(const calibrate::FitInputs& in, const std::vector<Row>& rows) {
  std::vector<std::pair<Strategy, double>> m;
  for (const Row& r : rows) m.emplace_back(r.plan, r.meas_ms);
  StatusOr<calibrate::Calibration> c = calibrate::fit_calibration(in, m);
  if (!c.ok()) die(c.status().message());
  return *c;
}

// --comm-fit relative: the alpha-beta fit by least squares of the relative error
// ((a + c B - t) / t), every message size weighted alike, instead of profile-cluster's plain
// least squares, which follows the largest messages (profiler/fit.h). Same clamping: a < 0 gives
// a fit through the origin. Entries with fewer than 2 samples keep their fit.
void fit_relative(const std::vector<CommSample>& s, double factor, Milliseconds* lat,
                  BytesPerSecond* bw) {
  if (s.size() < 2) return;
  auto w = [](const CommSample& x) { return 1 / (x.time.value * x.time.value); };
  double sw = 0, sb = 0, st = 0, sbb = 0, sbt = 0;
  for (const CommSample& x : s) {
    sw += w(x), sb += w(x) * x.bytes.value, st += w(x) * x.time.value;
    sbb += w(x) * x.bytes.value * x.bytes.value, sbt += w(x) * x.bytes.value * x.time.value;
  }
  // Weighted least squares of t = a + c B; a < 0: c = sum(w B t) / sum(w B^2) through the origin.
  const double var = sbb - sb * sb / sw;
  double c = var > 0 ? (sbt - sb * st / sw) / var : 0, a = (st - c * sb) / sw;
  if (a < 0) a = 0, c = sbt / sbb;
  if (!(c > 0)) return;
  *lat = Milliseconds(a);
  *bw = BytesPerSecond(factor / c * 1e3);
}

// --comm-fit floor: only where the stored fit's latency was clamped at 0, the latency becomes
// the smallest message's time above that fit's slope, and the slope is refitted under it.
void fit_floor(const std::vector<CommSample>& s, double factor, Milliseconds* lat,
               BytesPerSecond* bw) {
  if (s.size() < 2 || lat->value > 0) return;
  const double c0 = factor / bw->value * 1e3;  // ms per byte
  const CommSample* small = &s[0];
  for (const CommSample& x : s)
    if (x.bytes < small->bytes) small = &x;
  const double a = std::max(0.0, small->time.value - c0 * small->bytes.value);
  double num = 0, den = 0;
  for (const CommSample& x : s)
    num += x.bytes.value * (x.time.value - a), den += x.bytes.value * x.bytes.value;
  if (!(num > 0)) return;
  *lat = Milliseconds(a);
  *bw = BytesPerSecond(factor / (num / den) * 1e3);
}

// --comm-fit theil-sen: slope = the median of the slopes between every two sizes, latency =
// the median of (t - slope B), clamped at 0. One outlying sample of 5 moves neither much.
void fit_theil_sen(const std::vector<CommSample>& s, double factor, Milliseconds* lat,
                   BytesPerSecond* bw) {
  if (s.size() < 2) return;
  std::vector<double> slopes, rest;
  for (size_t i = 0; i < s.size(); ++i)
    for (size_t j = i + 1; j < s.size(); ++j)
      if (s[i].bytes.value != s[j].bytes.value)
        slopes.push_back((s[j].time.value - s[i].time.value) / (s[j].bytes.value - s[i].bytes.value));
  if (slopes.empty()) return;
  const double c = profiler::median(slopes);
  if (!(c > 0)) return;
  for (const CommSample& x : s) rest.push_back(x.time.value - c * x.bytes.value);
  const double a = profiler::median(rest);
  *lat = Milliseconds(std::max(0.0, a));
  *bw = BytesPerSecond(factor / c * 1e3);
}

// --comm-fit drop1: profile-cluster's fit (profiler/fit.h) without the one sample furthest
// from it in relative terms, where that sample is more than 50% off.
void fit_drop1(const std::vector<CommSample>& s, double factor, Milliseconds* lat,
               BytesPerSecond* bw) {
  if (s.size() < 4) return;
  size_t worst = 0;
  double worst_err = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const double t = lat->value + factor * s[i].bytes.value / bw->value * 1e3;
    const double err = std::fabs(s[i].time.value / t - 1);
    if (err > worst_err) worst_err = err, worst = i;
  }
  if (worst_err <= 0.5) return;
  std::vector<CommSample> kept;
  for (size_t i = 0; i < s.size(); ++i)
    if (i != worst) kept.push_back(s[i]);
  const profiler::AlphaBeta f = profiler::fit_alpha_beta(kept, factor);
  *lat = f.latency;
  *bw = f.bandwidth;
}

// --comm-fit robust: profile-cluster's fit from round 23 on (profiler::fit_alpha_beta_robust),
// for profiles written before it.
void fit_robust(const std::vector<CommSample>& s, double factor, Milliseconds* lat,
                BytesPerSecond* bw) {
  const profiler::AlphaBeta f = profiler::fit_alpha_beta_robust(s, factor);
  *lat = f.latency;
  *bw = f.bandwidth;
}

// Refits every collective and p2p entry of `c` from its samples (round 22, docs/accuracy.md).
void refit_comm(ClusterProfile& c, const std::string& mode) {
  const auto fit = mode == "floor" ? fit_floor : mode == "theil-sen" ? fit_theil_sen
                 : mode == "drop1" ? fit_drop1
                 : mode == "robust" ? fit_robust : fit_relative;
  for (CollectiveFit& f : c.collectives)
    fit(f.samples, algo_factor(f.op, f.group_size), &f.latency, &f.bus_bandwidth);
  for (P2pFit& f : c.p2p) fit(f.samples, 1.0, &f.latency, &f.bandwidth);
}

}  // namespace

int main(int argc, char** argv) {
  std::string cluster, model, profile, rows_path;
  std::vector<double> penalties = {0.001, 0.003, 0.01, 0.03, 0.1, 0.3};
  std::vector<std::string> add;
  std::vector<std::string> exclude;  // --exclude: rows neither trained on nor scored
  std::vector<std::string> fit_runs;  // calibration files whose runs to fit on as well
  calibrate::PlacementFit placement_fit = calibrate::PlacementFit::kSeparate;
  bool host_comm_cpu = estimator::EstimatorOptions{}.host_comm_holds_cpu;
  bool comm_samples = false;  // price collectives with the samples' residual (round 21, off)
  std::string comm_fit;  // "relative" | "floor": refit the profile's alpha-beta (round 22)
  std::string dump;       // --dump FILE: the first --fit-runs fit's held-out predictions (CSV)
  bool per_call = false;  // fit TermScales::call_ms too (round 22)
  bool per_granularity = true;  // fit TermScales::granularity (round 25; --no-granularity)
  double call_ms = 0;     // TermScales::call_ms, fixed (or where --per-call starts)
  calibrate::CollectiveGroups groups = calibrate::CollectiveGroups::kBySize;
  double deviation_penalty = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--per-placement" || k == "--placement-deviation") {
      placement_fit = k == "--per-placement" ? calibrate::PlacementFit::kSeparate
                                             : calibrate::PlacementFit::kDeviation;
      continue;
    }
    if (k == "--per-call") {
      per_call = true;
      continue;
    }
    if (k == "--per-granularity" || k == "--no-granularity") {
      per_granularity = k == "--per-granularity";
      continue;
    }
    if (k == "--comm-samples") {
      comm_samples = true;
      continue;
    }
    if (k == "--host-comm-cpu" || k == "--no-host-comm-cpu") {
      host_comm_cpu = k == "--host-comm-cpu";
      continue;
    }
    if (i + 1 >= argc) die("flag " + k + " needs a value");
    const std::string v = argv[++i];
    if (k == "--cluster") cluster = v;
    else if (k == "--model") model = v;
    else if (k == "--profile") profile = v;
    else if (k == "--rows") rows_path = v;
    else if (k == "--add") add.push_back(v);
    else if (k == "--exclude") exclude.push_back(v);
    else if (k == "--fit-runs") fit_runs.push_back(v);
    else if (k == "--dump") dump = v;
    else if (k == "--call-ms") {
      char* end = nullptr;
      call_ms = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != 0 || !(call_ms >= 0 && call_ms <= 16))
        die("--call-ms: '" + v + "' is not a number in [0, 16]");
    } else if (k == "--comm-fit") {
      if (v != "relative" && v != "floor" && v != "theil-sen" && v != "drop1" && v != "robust")
        die("--comm-fit: '" + v + "' is not relative, floor, theil-sen, drop1 or robust");
      comm_fit = v;
    }
    else if (k == "--placement-fit") {
      StatusOr<calibrate::PlacementFit> p = calibrate::placement_fit_from_string(v);
      if (!p.ok()) die("--placement-fit: " + p.status().message());
      placement_fit = *p;
    } else if (k == "--collective-groups") {
      StatusOr<calibrate::CollectiveGroups> g = calibrate::collective_groups_from_string(v);
      if (!g.ok()) die("--collective-groups: " + g.status().message());
      groups = *g;
    } else if (k == "--deviation-penalty") {
      char* end = nullptr;
      deviation_penalty = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != 0 || !(deviation_penalty >= 0))
        die("--deviation-penalty: '" + v + "' is not a number >= 0");
    }
    else if (k == "--penalties" && v == "none") penalties.clear();  // only the baseline and floors
    else if (k == "--penalties") {
      penalties.clear();
      std::stringstream ss(v);
      for (std::string x; std::getline(ss, x, ',');) {
        char* end = nullptr;
        const double p = std::strtod(x.c_str(), &end);
        if (end == x.c_str() || *end != 0 || !(p >= 0)) die("--penalties: '" + x + "' is not a number >= 0");
        penalties.push_back(p);
      }
    } else {
      die("unknown flag " + k);
    }
  }
  if (cluster.empty() || model.empty() || profile.empty() || rows_path.empty())
    die("--cluster, --model, --profile and --rows are required");
  bench::BenchInputs in = bench::load_inputs_or_die("bench_calibration_refit", cluster,
                                                    model, profile);
  if (!comm_fit.empty()) refit_comm(in.cluster, comm_fit);
  StatusOr<Json> j = read_json_file(rows_path);
  if (!j.ok()) die(j.status().message());
  if (!j->contains("rows") || !(*j)["rows"].is_array()) die(rows_path + ": field \"rows\": missing");

  std::vector<Row> train, held;
  std::vector<std::string> excluded;  // the rows --exclude named
  std::vector<std::string> seen;  // strategies already taken (the searched plan may repeat one)
  for (const Json& r : (*j)["rows"]) {
    if (r.value("status", std::string()) != "ok") continue;
    Row row;
    row.name = r.at("plan").get<std::string>();
    if (std::find(exclude.begin(), exclude.end(), row.name) != exclude.end()) {
      excluded.push_back(row.name);
      continue;
    }
    StatusOr<Strategy> s = strategy_from_json(r.at("strategy"), rows_path);
    if (!s.ok()) die(s.status().message());
    row.plan = *s;
    row.meas_ms = r.at("meas_ms").get<double>();
    row.pred_bytes = r.value("pred_bytes", 0.0);
    if (r.contains("runs_ms") && r.at("runs_ms").is_array())
      for (const Json& v : r.at("runs_ms"))
        if (v.is_number()) row.runs_ms.push_back(v.get<double>());
    const std::string key = dump_json(r.at("strategy"));
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    seen.push_back(key);
    row.train = r.value("calibration_plan", false) ||
                std::find(add.begin(), add.end(), row.name) != add.end();
    (row.train ? train : held).push_back(row);
  }
  if (train.size() < 2 || held.empty()) die(rows_path + ": needs 2 training and 1 held-out row");
  for (const std::string& a : add) {
    bool found = false;
    for (const Row& r : train) found = found || r.name == a;
    if (!found) die("--add '" + a + "': no such plan in " + rows_path);
  }
  for (const std::string& x : exclude)
    if (std::find(excluded.begin(), excluded.end(), x) == excluded.end())
      die("--exclude '" + x + "': no such plan in " + rows_path);

  calibrate::FitInputs fit;
  fit.model = &in.model;
  fit.cluster = &in.cluster;
  fit.profile = &in.profile;
  fit.global_batch = train.front().plan.global_batch;
  fit.options.runtime_buffer_bytes = 0;
  fit.options.mixed_precision = in.model.dtype != DType::kFp32;
  fit.options.comm_samples = comm_samples;
  fit.options.host_comm_holds_cpu = host_comm_cpu;
  fit.set_placement_fit(placement_fit);
  fit.per_call = per_call;
  fit.per_granularity = per_granularity;
  fit.call_ms = call_ms;
  fit.collective_groups = groups;
  fit.deviation_penalty = deviation_penalty;

  std::vector<double> held_meas, train_meas;
  for (const Row& r : held) held_meas.push_back(r.meas_ms);
  for (const Row& r : train) train_meas.push_back(r.meas_ms);
  std::printf("bench_calibration_refit: %zu training plans (%zu added), %zu held-out plans (%zu "
              "excluded), from %s\n",
              train.size(), add.size(), held.size(), excluded.size(), rows_path.c_str());
  const Score raw = score(predictions(fit, held, estimator::TermScales{}), held_meas);
  std::printf("baseline, every multiplier 1: held-out time mean abs error %.1f%%, max %.1f%%, "
              "tau %.3f\n",
              100 * raw.mape, 100 * raw.max_ape, raw.tau);
  std::vector<bench::Measured> held_runs, all_runs;
  for (const std::vector<Row>* rows : {&train, &held})
    for (const Row& r : *rows) {
      bench::Measured m;
      m.ok = true;
      m.runs_ms = r.runs_ms;
      (rows == &held ? held_runs : all_runs).push_back(m);
    }
  all_runs.insert(all_runs.end(), held_runs.begin(), held_runs.end());
  const int repeats = j->value("repeats", 0);
  std::printf("all plans: %s\n", bench::describe(bench::noise_ceiling(all_runs), repeats).c_str());
  std::printf("held-out %s\n", bench::describe(bench::noise_ceiling(held_runs), repeats).c_str());
  // Every row (training and held-out) with its measured time: the fits' pairwise agreement and
  // their "pick" are over all plans.
  std::vector<Row> all_rows = train;
  all_rows.insert(all_rows.end(), held.begin(), held.end());
  std::vector<double> all_meas;
  for (const Row& r : all_rows) all_meas.push_back(r.meas_ms);
  // "pick": at three memory limits (none; the median and the lower quartile of the rows'
  // predicted peak memory: half and a quarter of the plans fit), how much slower the plan the fit
  // predicts fastest among those that fit measured than the measured fastest of them.
  std::vector<double> limits = {std::numeric_limits<double>::infinity()};
  {
    std::vector<double> mem;
    for (const Row& r : all_rows)
      if (r.pred_bytes > 0) mem.push_back(r.pred_bytes);
    std::sort(mem.begin(), mem.end());
    if (mem.size() == all_rows.size() && mem.size() >= 4) {
      limits.push_back(mem[(mem.size() - 1) / 2]);
      limits.push_back(mem[(mem.size() - 1) / 4]);
    }
  }
  auto pick_regret = [&](const std::vector<double>& pred) {
    std::string out;
    for (double limit : limits) {
      size_t best = all_rows.size(), meas_best = all_rows.size();
      for (size_t i = 0; i < all_rows.size(); ++i) {
        if (all_rows[i].pred_bytes > limit) continue;
        if (best == all_rows.size() || pred[i] < pred[best]) best = i;
        if (meas_best == all_rows.size() || all_meas[i] < all_meas[meas_best]) meas_best = i;
      }
      char buf[32];
      std::snprintf(buf, sizeof buf, "%s%+.1f%%", out.empty() ? "" : "/",
                    100 * (all_meas[best] / all_meas[meas_best] - 1));
      out += buf;
    }
    return out;
  };
  std::vector<std::pair<std::string, std::vector<double>>> fits;  // label, all-plan predictions
  for (const std::string& path : fit_runs) {
    // The user's workflow: `paratune calibrate`'s own runs (stored in its file), fitted with the
    // current model at calibrate's penalty, scored on the bench's held-out plans.
    StatusOr<Json> cj = read_json_file(path);
    if (!cj.ok()) die(cj.status().message());
    if (!cj->contains("runs") || !(*cj)["runs"].is_array())
      die(path + ": field \"runs\": missing (a calibration file of `paratune calibrate`)");
    std::vector<Row> cal;
    for (const Json& r : (*cj)["runs"]) {
      Row row;
      row.name = r.at("plan").get<std::string>();
      StatusOr<Strategy> s = strategy_from_json(r.at("strategy"), path);
      if (!s.ok()) die(s.status().message());
      row.plan = *s;
      row.meas_ms = r.at("measured_ms").get<double>();
      cal.push_back(row);
    }
    if (cal.size() < 2) die(path + ": needs 2 runs");
    calibrate::FitInputs cfit = fit;
    cfit.penalty = -1;  // calibrate's default
    const calibrate::Calibration c = fit_or_die(cfit, cal);
    const std::vector<double> held_pred = predictions(cfit, held, c.scales);
    const Score h = score(held_pred, held_meas);
    if (!dump.empty() && fits.empty()) {
      // --dump: the first fit's held-out predictions, one plan a line
      std::FILE* f = std::fopen(dump.c_str(), "w");
      if (!f) die(dump + ": cannot write");
      std::fprintf(f, "plan,pred_ms,meas_ms,error\n");
      for (size_t i = 0; i < held.size(); ++i)
        std::fprintf(f, "\"%s\",%.3f,%.3f,%+.4f\n", held[i].name.c_str(), held_pred[i],
                     held_meas[i], held_pred[i] / held_meas[i] - 1);
      std::fclose(f);
    }
    fits.emplace_back(path, predictions(cfit, all_rows, c.scales));
    std::printf("fitted on %s's %zu runs (calibrate's default penalty): held-out time mean abs "
                "error %.1f%%, max %.1f%%, tau %.3f, pick %s   %s\n",
                path.c_str(), cal.size(), 100 * h.mape, 100 * h.max_ape, h.tau,
                pick_regret(fits.back().second).c_str(), calibrate::describe(c.scales).c_str());
  }
  if (!fit_runs.empty() && !penalties.empty()) {
    calibrate::FitInputs bfit = fit;
    bfit.penalty = penalties.front();
    const calibrate::Calibration c = fit_or_die(bfit, train);
    fits.emplace_back("the bench's own runs", predictions(bfit, all_rows, c.scales));
  }
  if (fits.size() >= 2) {
    // Pairwise agreement of the fits over all plans, with each pair's overall ratio taken out.
    double worst_spread = 0, worst_tau = 1;
    for (size_t a = 0; a < fits.size(); ++a)
      for (size_t b = a + 1; b < fits.size(); ++b) {
        const std::vector<double>& pa = fits[a].second;
        const std::vector<double>& pb = fits[b].second;
        double mean = 0;
        for (size_t i = 0; i < pa.size(); ++i) mean += std::log(pa[i] / pb[i]) / double(pa.size());
        double var = 0, worst = 0;
        for (size_t i = 0; i < pa.size(); ++i) {
          const double d = std::log(pa[i] / pb[i]) - mean;
          var += d * d / double(pa.size());
          worst = std::max(worst, std::fabs(d));
        }
        const double tau = bench::kendall_tau(pa, pb);
        std::printf("fits agree: %s vs %s over %zu plans: overall x%.3f, spread %.1f%%, max "
                    "%.1f%%, tau %.3f\n",
                    fits[a].first.c_str(), fits[b].first.c_str(), pa.size(), std::exp(mean),
                    100 * std::sqrt(var), 100 * (std::exp(worst) - 1), tau);
        worst_spread = std::max(worst_spread, std::sqrt(var));
        worst_tau = std::min(worst_tau, tau);
      }
    std::printf("fits agree, worst pair: spread %.1f%%, tau %.3f\n", 100 * worst_spread, worst_tau);
  }
  if (penalties.empty()) return 0;
  std::printf("%10s %10s %10s %10s %8s %12s %20s\n", "penalty", "train rms", "held MAPE",
              "held max", "held tau", "LOO log-rms", "pick");
  std::vector<double> last;  // the last fit's held-out predictions
  for (double p : penalties) {
    fit.penalty = p;
    const calibrate::Calibration c = fit_or_die(fit, train);
    const Score h = score(predictions(fit, held, c.scales), held_meas);
    double loo = 0;
    for (size_t i = 0; i < train.size(); ++i) {
      std::vector<Row> rest = train;
      rest.erase(rest.begin() + long(i));
      const calibrate::Calibration ci = fit_or_die(fit, rest);
      const double t = predictions(fit, {train[i]}, ci.scales).front();
      loo += std::pow(std::log(t / train[i].meas_ms), 2) / double(train.size());
    }
    std::printf("%10g %10.3f %9.1f%% %9.1f%% %8.3f %12.3f %20s   %s\n", p, c.log_rms_after,
                100 * h.mape, 100 * h.max_ape, h.tau, std::sqrt(loo),
                pick_regret(predictions(fit, all_rows, c.scales)).c_str(),
                calibrate::describe(c.scales).c_str());
    std::fflush(stdout);
    last = predictions(fit, held, c.scales);
  }
  // The held-out plans the last fit predicts worst: where the model, not the fit, is short.
  std::vector<size_t> order(held.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto err = [&](size_t i) { return last[i] / held[i].meas_ms - 1; };
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return std::fabs(err(a)) > std::fabs(err(b)); });
  std::printf("largest held-out errors of the last fit (penalty %g):\n", penalties.back());
  for (size_t k = 0; k < std::min<size_t>(10, order.size()); ++k) {
    const size_t i = order[k];
    std::printf("  %-44s pred %8.1f ms  meas %8.1f ms  %+6.1f%%\n", held[i].name.c_str(), last[i],
                held[i].meas_ms, 100 * err(i));
  }
  return 0;
}
