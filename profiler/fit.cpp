#include "profiler/fit.h"

#include <algorithm>
#include <cmath>

namespace paratune::profiler {

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / double(v.size());
}

double median(std::vector<double> v) {
  PARATUNE_CHECK(!v.empty());
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

AlphaBeta fit_alpha_beta(const std::vector<CommSample>& samples, double factor) {
  PARATUNE_CHECK(!samples.empty());
  const double n = static_cast<double>(samples.size());
  double mb = 0, mt = 0;
  for (const CommSample& s : samples) mb += s.bytes.value, mt += s.time.value;
  mb /= n, mt /= n;
  double sbb = 0, sbt = 0;
  for (const CommSample& s : samples) {
    sbb += (s.bytes.value - mb) * (s.bytes.value - mb);
    sbt += (s.bytes.value - mb) * (s.time.value - mt);
  }
  double c = sbb > 0 ? sbt / sbb : 0;
  double a = mt - c * mb;
  if (a < 0 || sbb == 0) {
    double num = 0, den = 0;
    for (const CommSample& s : samples) num += s.bytes.value * s.time.value, den += s.bytes.value * s.bytes.value;
    a = 0;
    c = den > 0 ? num / den : 0;
  }
  if (!(c > 0)) {  // slope lost in noise: the largest message's plain bandwidth
    const CommSample& big = *std::max_element(
        samples.begin(), samples.end(),
        [](const CommSample& x, const CommSample& y) { return x.bytes < y.bytes; });
    PARATUNE_CHECK(big.bytes.value > 0 && big.time.value > 0);
    c = big.time.value / big.bytes.value;
    a = 0;
  }
  return AlphaBeta{Milliseconds(a), BytesPerSecond(factor / c * 1e3)};
}

AlphaBeta fit_alpha_beta_robust(const std::vector<CommSample>& samples, double factor,
                                int* dropped) {
  const AlphaBeta all = fit_alpha_beta(samples, factor);
  if (dropped) *dropped = -1;
  if (samples.size() < 4) return all;
  // The largest size, when no line with a latency >= 0 through the next size comes near it.
  std::vector<size_t> order(samples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return samples[x].bytes < samples[y].bytes;
  });
  const CommSample& big = samples[order.back()];
  const CommSample& next = samples[order[order.size() - 2]];
  if (next.bytes < big.bytes && next.time.value > 0 &&
      big.time.value > kLargestOff * next.time.value * (big.bytes.value / next.bytes.value)) {
    std::vector<CommSample> kept;
    for (size_t i = 0; i < samples.size(); ++i)
      if (i != order.back()) kept.push_back(samples[i]);
    if (dropped) *dropped = static_cast<int>(order.back());
    return fit_alpha_beta(kept, factor);
  }
  auto line = [&](const CommSample& s) {
    return all.latency.value + factor * s.bytes.value / all.bandwidth.value * 1e3;
  };
  size_t worst = 0;
  double worst_off = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    const double off = std::fabs(samples[i].time.value / line(samples[i]) - 1);
    if (off > worst_off) worst_off = off, worst = i;
  }
  const CommSample& w = samples[worst];
  bool smaller = false, larger = false;
  for (const CommSample& s : samples) {
    smaller = smaller || s.bytes < w.bytes;
    larger = larger || w.bytes < s.bytes;
  }
  if (worst_off <= kOutlierOff || w.time.value < line(w) || !smaller || !larger) return all;
  std::vector<CommSample> kept;
  for (size_t i = 0; i < samples.size(); ++i)
    if (i != worst) kept.push_back(samples[i]);
  if (dropped) *dropped = static_cast<int>(worst);
  return fit_alpha_beta(kept, factor);
}

namespace {

// Element k = reduce(the passes' values of point k); every pass the same length.
template <typename Reduce>
std::vector<double> over_passes(const std::vector<std::vector<double>>& per_pass, Reduce reduce) {
  std::vector<double> out(per_pass.empty() ? 0 : per_pass[0].size());
  for (size_t k = 0; k < out.size(); ++k) {
    std::vector<double> col;
    for (const std::vector<double>& v : per_pass) col.push_back(v[k]);
    out[k] = reduce(std::move(col));
  }
  return out;
}

}  // namespace

std::vector<double> median_of_passes(const std::vector<std::vector<double>>& per_pass) {
  return over_passes(per_pass, [](std::vector<double> col) { return median(std::move(col)); });
}

std::vector<double> min_of_passes(const std::vector<std::vector<double>>& per_pass) {
  return over_passes(per_pass, [](std::vector<double> col) {
    return *std::min_element(col.begin(), col.end());
  });
}

std::vector<double> two_smallest_of_passes(const std::vector<std::vector<double>>& per_pass) {
  return over_passes(per_pass, [](std::vector<double> col) {
    if (col.size() < 2) return col[0];
    std::partial_sort(col.begin(), col.begin() + 2, col.end());
    return (col[0] + col[1]) / 2;
  });
}

std::vector<double> lower_quartile_of_passes(const std::vector<std::vector<double>>& per_pass) {
  return over_passes(per_pass, [](std::vector<double> col) {
    const size_t at = (col.size() - 1) / 4;
    std::nth_element(col.begin(), col.begin() + long(at), col.end());
    return col[at];
  });
}

}  // namespace paratune::profiler
