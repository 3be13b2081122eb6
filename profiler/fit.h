// Alpha-beta fit of communication samples and robust statistics. Torch-free.
//
// Model (core/cluster_profile.h): time_ms(B) = alpha_ms + factor * B / bw_Bps * 1e3, with
// factor = algo_factor(op, n) for a collective and 1 for p2p. Ordinary least squares of
// t = a + c * B over the samples; a < 0 is clamped to 0 and c refitted through the origin
// (c = sum(B t) / sum(B^2)); c <= 0 (noise on tiny messages only) falls back to the largest
// sample's bandwidth. Then alpha = a, bw = factor / c * 1e3.
//
//   AlphaBeta f = fit_alpha_beta(samples, algo_factor(CollectiveOp::kAllReduce, 4));
//   AlphaBeta g = fit_alpha_beta_robust(samples, algo_factor(CollectiveOp::kAllReduce, 4));
#pragma once

#include <vector>

#include "core/cluster_profile.h"

namespace paratune::profiler {

struct AlphaBeta {
  Milliseconds latency;     // alpha
  BytesPerSecond bandwidth; // factor / beta (bus bandwidth for collectives)
};

/// Needs at least one sample with bytes > 0 and time > 0 (checked).
AlphaBeta fit_alpha_beta(const std::vector<CommSample>& samples, double factor);
/// What profile-cluster writes: fit_alpha_beta, then, with 4 or more samples, the sample
/// furthest from that line in relative terms (|t / fit - 1|) is left out and the line refitted
/// when it is more than kOutlierOff (50%) slower than the line and a smaller and a larger size
/// lie beside it. A single slow size in the middle of the sweep (on the emulated link, the
/// 2-rank allgather across it at 256 KiB took 7.8 and 11.2 ms where 1 MiB took 7.9 and 7.7) would
/// otherwise lift the latency the line gives every small message; the smallest size is never
/// left out, since it is what sets the latency (docs/accuracy.md, round 23). Before that, the
/// largest size is left out (and nothing else) when it took more than kLargestOff (3) times
/// what the next size's time scaled by the ratio of their bytes gives: no line with a latency
/// >= 0 through the next sample comes within 3x of it, so it is not bandwidth but a stall (row
/// AF's 2-rank reduce_scatter inside an island: 1.17 ms at 1 MiB, 18.5 ms at 4 MiB, where other
/// rows took 5-7 ms; docs/accuracy.md, round 24). `dropped`, when given, is set to the index of
/// the sample left out, or -1.
AlphaBeta fit_alpha_beta_robust(const std::vector<CommSample>& samples, double factor,
                                int* dropped = nullptr);
inline constexpr double kOutlierOff = 0.5;
inline constexpr double kLargestOff = 3.0;
/// Median of a non-empty vector (mean of the two middle values for even sizes).
double median(std::vector<double> v);
/// Arithmetic mean; 0 for an empty vector.
double mean(const std::vector<double>& v);
/// Element k of the result = median over the passes of per_pass[p][k] (every pass the same
/// length; empty when there is no pass). The profilers' `--passes`.
std::vector<double> median_of_passes(const std::vector<std::vector<double>>& per_pass);
/// Element k of the result = the lower quartile over the passes of per_pass[p][k]: the value at
/// index (P - 1) / 4 of the P passes' values sorted (P = 1-4: the smallest; 5-8: the second
/// smallest; 9: the third). The model profiler's default in rounds 16-19: on shared vCPUs the
/// machine's slow spells move a point's pass up far more often than down (docs/profilers.md).
std::vector<double> lower_quartile_of_passes(const std::vector<std::vector<double>>& per_pass);
/// Element k of the result = the mean of the two smallest of the passes' per_pass[p][k] (the
/// only one with one pass). The model profiler's default (docs/profilers.md, round 20).
std::vector<double> two_smallest_of_passes(const std::vector<std::vector<double>>& per_pass);
/// Element k of the result = the smallest over the passes of per_pass[p][k].
std::vector<double> min_of_passes(const std::vector<std::vector<double>>& per_pass);

}  // namespace paratune::profiler
