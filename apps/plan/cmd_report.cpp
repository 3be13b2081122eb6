// `paratune report --strategy S.json --metrics M.json [--warmup 2]`: predicted vs measured.
// The prediction is the one stored in the strategy (written by `paratune search`); the
// measurement is the metrics JSON of `paratune train --metrics` run with that strategy:
// iteration time = median over the steps after the warm-up; peak memory of a stage = the max of
// its ranks' tracked peaks (ranks of stage s are [s*g, (s+1)*g), g = devices per stage).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <cxxopts.hpp>

#include "apps/commands.h"
#include "apps/plan/cli_util.h"
#include "core/json_reader.h"

namespace paratune::apps {

namespace {

struct Measured {
  std::vector<double> step_ms;
  std::vector<double> peak;  // per rank
};

StatusOr<Measured> load_metrics(const std::string& path) {
  PARATUNE_ASSIGN_OR_RETURN(Json j, read_json_file(path));
  // The metrics file is written by `paratune train`; read the fields the report needs and ignore
  // the rest (it is an output format, not an input a user writes by hand).
  auto need = [&](const char* key, bool array) -> Status {
    if (!j.is_object() || !j.contains(key) || (array && !j[key].is_array()))
      return InvalidArgument(path + ": field \"" + key + "\": missing or not " +
                             (array ? "an array" : "a value"));
    return Status::Ok();
  };
  PARATUNE_RETURN_IF_ERROR(need("steps", true));
  PARATUNE_RETURN_IF_ERROR(need("peak_memory_bytes", true));
  Measured m;
  for (size_t i = 0; i < j["steps"].size(); ++i) {
    const Json& s = j["steps"][i];
    if (!s.is_object() || !s.contains("ms") || !s["ms"].is_number() ||
        !std::isfinite(s["ms"].get<double>()) || s["ms"].get<double>() < 0)
      return InvalidArgument(path + ": field \"steps[" + std::to_string(i) +
                             "].ms\": must be a finite number >= 0");
    m.step_ms.push_back(s["ms"].get<double>());
  }
  for (size_t i = 0; i < j["peak_memory_bytes"].size(); ++i) {
    const Json& v = j["peak_memory_bytes"][i];
    if (!v.is_number() || v.get<double>() < 0)
      return InvalidArgument(path + ": field \"peak_memory_bytes[" + std::to_string(i) +
                             "]\": must be a number >= 0");
    m.peak.push_back(v.get<double>());
  }
  return m;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string signed_pct(double pred, double meas) {
  char b[32];
  std::snprintf(b, sizeof b, "%+.1f%%", 100.0 * (pred - meas) / meas);
  return b;
}

// Median step time after `warmup` steps of the metrics file at `path`.
StatusOr<double> steady_median(const std::string& path, const Measured& m, int warmup) {
  if (int(m.step_ms.size()) <= warmup)
    return InvalidArgument(path + ": field \"steps\": " + std::to_string(m.step_ms.size()) +
                           " steps, need more than --warmup " + std::to_string(warmup));
  return median(std::vector<double>(m.step_ms.begin() + warmup, m.step_ms.end()));
}

}  // namespace

int cmd_report(int argc, char** argv) {
  cxxopts::Options opts("paratune report",
                        "Compare a searched strategy's predicted time and memory with a training "
                        "run's measured metrics.");
  opts.add_options()
      ("strategy", "strategy.json written by paratune search (with its prediction)",
       cxxopts::value<std::string>())
      ("metrics", "metrics JSON written by paratune train --metrics", cxxopts::value<std::string>())
      ("warmup", "steps left out of the measured median", cxxopts::value<int>()->default_value("2"))
      ("baseline", "metrics JSON of a baseline plan trained at the same global batch (repeatable, NAME=FILE or FILE): prints its measured samples/s and the searched plan's measured speed-up over the fastest", cxxopts::value<std::vector<std::string>>())
      ("h,help", "show this help");
  std::string spath, mpath;
  std::vector<std::string> baselines;
  int warmup = 2;
  try {
    auto r = opts.parse(argc, argv);
    if (r.count("help")) {
      std::printf("%s\n", opts.help().c_str());
      return 0;
    }
    if (!r.unmatched().empty())
      return fail("report", InvalidArgument("unexpected argument '" + r.unmatched()[0] + "'"));
    if (!r.count("strategy") || !r.count("metrics"))
      return fail("report", InvalidArgument("--strategy and --metrics are required (see --help)"));
    spath = r["strategy"].as<std::string>();
    mpath = r["metrics"].as<std::string>();
    warmup = r["warmup"].as<int>();
    if (r.count("baseline")) baselines = r["baseline"].as<std::vector<std::string>>();
  } catch (const std::exception& e) {
    return fail("report", InvalidArgument(e.what()));
  }
  if (warmup < 0) return fail("report", InvalidArgument("--warmup must be >= 0"));
  StatusOr<Strategy> s = load_strategy(spath);
  if (!s.ok()) return fail("report", s.status());
  if (!s->predicted)
    return fail("report", InvalidArgument(spath + ": field \"predicted\": missing (write the "
                                          "strategy with paratune search, or estimate it)"));
  StatusOr<Measured> m = load_metrics(mpath);
  if (!m.ok()) return fail("report", m.status());
  StatusOr<double> steady = steady_median(mpath, *m, warmup);
  if (!steady.ok()) return fail("report", steady.status());
  if (int(m->peak.size()) != s->num_devices)
    return fail("report", InvalidArgument(mpath + ": field \"peak_memory_bytes\": " +
                                          std::to_string(m->peak.size()) + " ranks, the strategy "
                                          "is for " + std::to_string(s->num_devices)));
  // Baselines are read before anything is printed, so a bad file prints only the error.
  std::vector<std::pair<std::string, double>> baseline_ms;  // (name, median step ms)
  for (const std::string& spec : baselines) {
    const size_t eq = spec.find('=');
    const std::string name = eq == std::string::npos ? spec : spec.substr(0, eq);
    const std::string path = eq == std::string::npos ? spec : spec.substr(eq + 1);
    StatusOr<Measured> b = load_metrics(path);
    if (!b.ok()) return fail("report", b.status());
    StatusOr<double> bms = steady_median(path, *b, warmup);
    if (!bms.ok()) return fail("report", bms.status());
    baseline_ms.emplace_back(name, *bms);
  }
  const Prediction& p = *s->predicted;
  const double meas = *steady;
  const double pred = p.iteration.value;
  std::printf("paratune report: %s vs %s (median of %zu steps after %d warm-up)\n", spath.c_str(),
              mpath.c_str(), m->step_ms.size() - warmup, warmup);
  std::printf("  %-22s %14s %14s %9s\n", "", "predicted", "measured", "error");
  std::printf("  %-22s %11.2f ms %11.2f ms %9s\n", "iteration time", pred, meas,
              signed_pct(pred, meas).c_str());
  std::printf("  %-22s %14.2f %14.2f %9s\n", "samples/s", p.samples_per_s,
              s->global_batch / (meas / 1e3), "");
  const int g = s->devices_per_stage();
  for (StageIdx st = 0; st < s->pp; ++st) {
    double peak = 0;
    for (int i = 0; i < g; ++i) peak = std::max(peak, m->peak[size_t(st) * g + i]);
    const double pp = st < int(p.stage_peak_memory.size()) ? p.stage_peak_memory[st].value : 0;
    const std::string label = "stage " + std::to_string(st) + " peak memory";
    std::printf("  %-22s %14s %14s %9s\n", label.c_str(), format_bytes(pp).c_str(),
                format_bytes(peak).c_str(), peak > 0 ? signed_pct(pp, peak).c_str() : "");
  }
  if (baselines.empty()) return 0;
  const double searched_tput = s->global_batch / (meas / 1e3);
  double best = 0;
  std::string best_name;
  std::printf("  measured against the baselines (global batch %d):\n", s->global_batch);
  for (const auto& [name, bms] : baseline_ms) {
    const double tput = s->global_batch / (bms / 1e3);
    std::printf("  %-22s %11.2f ms %11.2f samples/s  searched plan %.2fx\n", name.c_str(), bms,
                tput, searched_tput / tput);
    if (tput > best) best = tput, best_name = name;
  }
  std::printf("  measured speed-up over the fastest baseline (%s): %.2fx\n", best_name.c_str(),
              searched_tput / best);
  return 0;
}

}  // namespace paratune::apps
