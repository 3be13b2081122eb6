// Small helpers shared by the executor benchmarks: the output folder, sizes on the command line,
// Kendall's tau and the run-to-run noise. Running plans is calibrate/plan_runner.h, whose names
// are brought in here. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "calibrate/plan_runner.h"
#include "core/json_reader.h"
#include "core/model_config.h"
#include "core/strategy.h"

namespace paratune::bench {

using runner::interleaved_order;
using runner::Job;
using runner::measure_interleaved;
using runner::measure_plan;
using runner::Measured;
using runner::median;
using runner::micro_batches_for;
using runner::plan_name;
using runner::read_metrics;
using runner::run_shell;
using runner::TempDir;
using runner::write_or_die;

/// Creates the output folder `dir` (and its parents) and checks that a file can be written there,
/// before any plan runs; exits with code 2 and a message naming `bench` and `dir` otherwise.
void ensure_out_dir_or_die(const char* bench, const std::string& dir);

/// "12MiB", "1.5GiB", "4096" (bytes) -> bytes; aborts the bench naming `flag` on a bad unit.
double parse_bytes_or_die(const std::string& flag, const std::string& text);

/// Kendall's tau-a between two equally long series (0 when no pair is ordered in both).
double kendall_tau(const std::vector<double>& a, const std::vector<double>& b);

/// How far one measurement of a plan predicts another on this machine: over the jobs with at
/// least two runs, run 2 taken as the "prediction" of run 1 (mean and max absolute percentage
/// error, Kendall's tau between the two series) and the spread (max - min) / median of all runs.
/// These bound what any cost model can score against single measurements here.
struct RunToRunNoise {
  int plans = 0;
  double mape = 0, max_ape = 0, tau = 0, median_spread = 0, max_spread = 0;
};
RunToRunNoise run_to_run_noise(const std::vector<Measured>& m);
/// "run-to-run (run 2 vs run 1 of 57 plans): mean abs difference 10.9%, max 40.2%, tau 0.821;
/// spread of 3 runs: median 12.0%, max 45.0%", or a line saying a second run is needed.
std::string describe(const RunToRunNoise& n, int repeats);

/// What a perfect cost model would score against this bench's own measurements: each plan's
/// "true" time taken as the median of its runs, and a fresh measurement as the median of as
/// many runs drawn with replacement from them (a bootstrap, `draws` times, deterministic for a
/// seed): the mean over the draws of the mean absolute error and of Kendall's tau, and the
/// median over the draws of the max absolute error (the max of one draw hangs on rare draws that
/// pick a plan's one far-off run several times), over the plans with at least two runs. It estimates, from few runs, the floor that measurement noise
/// alone puts under any model's figures on this machine with this many runs a plan; the
/// calibration-to-bench drift of the machine comes on top.
struct NoiseCeiling {
  int plans = 0;
  double mape = 0, max_ape = 0, tau = 0;
};
NoiseCeiling noise_ceiling(const std::vector<Measured>& m, int draws = 1000, uint32_t seed = 1);
/// "noise floor (a perfect model vs resampled medians of 5 runs, 57 plans): mean abs error 4.0%,
/// max 30.2%, Kendall's tau 0.831", or a line saying a second run is needed.
std::string describe(const NoiseCeiling& c, int repeats);

/// How sure is median(num) / median(den), from the runs alone? A percentile bootstrap: each
/// draw resamples both run lists with replacement (as many as each has) and takes the ratio of
/// the medians; returns the (1 - level) / 2 and (1 + level) / 2 quantiles over `draws` draws
/// (deterministic for a seed). {0, 0} when a list is empty; one run in each list gives a
/// zero-width interval, which settles nothing. Used on the confirmation runs of
/// bench_plan_quality: "+23.0% (90%: -3.1% .. +41.0%)" says a 4-run regret settled nothing.
std::pair<double, double> median_ratio_interval(const std::vector<double>& num,
                                                const std::vector<double>& den,
                                                double level = 0.9, int draws = 2000,
                                                uint32_t seed = 1);

}  // namespace paratune::bench
