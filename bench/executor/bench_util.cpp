#include "bench/executor/bench_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

namespace paratune::bench {

namespace {

// xorshift64*: an index in [0, n), the same draws on every platform for a seed.
class Draw {
 public:
  explicit Draw(uint32_t seed) : state_(seed ? seed : 1) {}
  size_t operator()(size_t n) {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return size_t((state_ * 2685821657736338717ULL) >> 33) % n;
  }

 private:
  uint64_t state_;
};

}  // namespace

void ensure_out_dir_or_die(const char* bench, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string probe = dir + "/.write-test";
  bool ok = !ec;
  if (ok) {
    std::ofstream f(probe);
    ok = static_cast<bool>(f << "x");
  }
  std::filesystem::remove(probe, ec);
  if (!ok) {
    std::fprintf(stderr, "%s: --out %s: cannot create the folder or write a file in it\n", bench,
                 dir.c_str());
    std::exit(2);
  }
}

double parse_bytes_or_die(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  const std::string u = end;
  if (u == "KiB") v *= 1024.0;
  else if (u == "MiB") v *= 1024.0 * 1024;
  else if (u == "GiB") v *= 1024.0 * 1024 * 1024;
  else if (!u.empty() || end == text.c_str() || !(v > 0)) {
    std::fprintf(stderr, "bench: %s: '%s' is not a size (e.g. 12MiB)\n", flag.c_str(),
                 text.c_str());
    std::exit(2);
  }
  return v;
}

double kendall_tau(const std::vector<double>& a, const std::vector<double>& b) {
  long conc = 0, disc = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    for (size_t j = i + 1; j < a.size() && j < b.size(); ++j) {
      const double x = (a[i] - a[j]) * (b[i] - b[j]);
      if (x > 0) ++conc;
      else if (x < 0) ++disc;
    }
  return conc + disc ? double(conc - disc) / double(conc + disc) : 0.0;
}

RunToRunNoise run_to_run_noise(const std::vector<Measured>& m) {
  RunToRunNoise n;
  std::vector<double> first, second, spreads;
  for (const Measured& x : m) {
    if (!x.ok || x.runs_ms.size() < 2) continue;
    first.push_back(x.runs_ms[0]);
    second.push_back(x.runs_ms[1]);
    const auto [lo, hi] = std::minmax_element(x.runs_ms.begin(), x.runs_ms.end());
    spreads.push_back((*hi - *lo) / median(x.runs_ms));
  }
  n.plans = int(first.size());
  if (n.plans == 0) return n;
  for (size_t i = 0; i < first.size(); ++i) {
    const double e = std::fabs(second[i] - first[i]) / first[i];
    n.mape += e / n.plans;
    n.max_ape = std::max(n.max_ape, e);
  }
  n.tau = kendall_tau(first, second);
  n.median_spread = median(spreads);
  n.max_spread = *std::max_element(spreads.begin(), spreads.end());
  return n;
}

std::string describe(const RunToRunNoise& n, int repeats) {
  if (n.plans == 0) return "run-to-run noise: not measured (needs --repeats >= 2)";
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "run-to-run noise (run 2 as a prediction of run 1, %d plans): mean abs error "
                "%.1f%%, max %.1f%%, Kendall's tau %.3f; spread (max - min) / median of %d runs: "
                "median %.1f%%, max %.1f%%",
                n.plans, 100 * n.mape, 100 * n.max_ape, n.tau, repeats, 100 * n.median_spread,
                100 * n.max_spread);
  return buf;
}

}  // namespace paratune::bench

namespace paratune::bench {

std::pair<double, double> median_ratio_interval(const std::vector<double>& num,
                                                const std::vector<double>& den, double level,
                                                int draws, uint32_t seed) {
  if (num.empty() || den.empty() || draws < 1) return {0, 0};
  Draw next(seed);
  std::vector<double> ratios, a, b;
  for (int d = 0; d < draws; ++d) {
    a.clear();
    b.clear();
    for (size_t k = 0; k < num.size(); ++k) a.push_back(num[next(num.size())]);
    for (size_t k = 0; k < den.size(); ++k) b.push_back(den[next(den.size())]);
    ratios.push_back(median(a) / median(b));
  }
  std::sort(ratios.begin(), ratios.end());
  auto at = [&](double q) {
    const double x = q * double(ratios.size() - 1);
    const size_t i = size_t(x);
    const double f = x - double(i);
    return i + 1 < ratios.size() ? ratios[i] * (1 - f) + ratios[i + 1] * f : ratios[i];
  };
  return {at((1 - level) / 2), at((1 + level) / 2)};
}

NoiseCeiling noise_ceiling(const std::vector<Measured>& m, int draws, uint32_t seed) {
  NoiseCeiling c;
  std::vector<const std::vector<double>*> runs;
  std::vector<double> truth;
  for (const Measured& x : m) {
    if (!x.ok || x.runs_ms.size() < 2) continue;
    runs.push_back(&x.runs_ms);
    truth.push_back(median(x.runs_ms));
  }
  c.plans = int(runs.size());
  if (c.plans == 0 || draws < 1) return c;
  Draw next(seed);
  std::vector<double> meas(runs.size()), pick, worsts;
  for (int d = 0; d < draws; ++d) {
    double sum = 0, worst = 0;
    for (size_t i = 0; i < runs.size(); ++i) {
      const std::vector<double>& r = *runs[i];
      pick.clear();
      for (size_t k = 0; k < r.size(); ++k) pick.push_back(r[next(r.size())]);
      meas[i] = median(pick);
      const double e = std::fabs(meas[i] - truth[i]) / truth[i];
      sum += e;
      worst = std::max(worst, e);
    }
    c.mape += sum / double(runs.size()) / draws;
    worsts.push_back(worst);
    c.tau += kendall_tau(truth, meas) / draws;
  }
  c.max_ape = median(worsts);
  return c;
}

std::string describe(const NoiseCeiling& c, int repeats) {
  if (c.plans == 0) return "noise floor: not measured (needs --repeats >= 2)";
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "noise floor (a perfect model scored against resampled medians of %d runs, %d "
                "plans): mean abs error %.1f%%, max %.1f%% (median over the draws), Kendall's tau %.3f",
                repeats, c.plans, 100 * c.mape, 100 * c.max_ape, c.tau);
  return buf;
}

}  // namespace paratune::bench
