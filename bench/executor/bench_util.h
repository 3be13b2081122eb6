// Small helpers shared by the executor benchmarks: temp folders, writing configs and plans,
// running `paratune` as a child process and reading its metrics JSON. Torch-free.
#pragma once

#include <string>
#include <vector>

#include "core/json_reader.h"
#include "core/model_config.h"
#include "core/strategy.h"

namespace paratune::bench {

/// A fresh folder under $TMPDIR (or /tmp), removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Writes `j` to `path`; aborts the bench with a message on failure.
void write_or_die(const std::string& path, const Json& j);
/// Creates the output folder `dir` (and its parents) and checks that a file can be written there,
/// before any plan runs; exits with code 2 and a message naming `bench` and `dir` otherwise.
void ensure_out_dir_or_die(const char* bench, const std::string& dir);
/// Runs `cmd` through the shell; returns its exit code.
int run_shell(const std::string& cmd);
/// Reads a metrics JSON written by `paratune train --metrics`; aborts on failure.
Json read_metrics(const std::string& path);
/// Median of `v` (v non-empty).
double median(std::vector<double> v);

/// "12MiB", "1.5GiB", "4096" (bytes) -> bytes; aborts the bench naming `flag` on a bad unit.
double parse_bytes_or_die(const std::string& flag, const std::string& text);

/// Largest of {2pp, pp, 1} micro-batches for which every layer's local micro-batch is whole
/// (0: none).
int micro_batches_for(const Strategy& s, int batch);

/// "pp2-m4 tp2-dp2-zero3" for uniform plans, "pp2-m4 mixed" otherwise.
std::string plan_name(const Strategy& s);

/// One measured training run of a plan.
struct Measured {
  bool ok = false;       // trained to the end
  bool oom = false;      // stopped by the executor's memory limit
  double ms = 0;         // median step time after `warmup` steps
  double peak_bytes = 0; // max over ranks of the per-rank peak
  std::string log_tail;  // last 2000 characters of the output when not ok
  std::vector<double> runs_ms;  // per run, its median step time (measure_interleaved)
};

/// `paratune launch <launch> -- paratune train` of `plan` on synthetic data for `steps` steps
/// (`memory_limit` > 0: the executor's limit on) in `dir`; `paratune` is the binary's path.
Measured measure_plan(const std::string& paratune, const std::string& launch,
                      const std::string& dir, const std::string& model_json, const Strategy& plan,
                      int steps, int warmup, double memory_limit);

/// One plan to measure: `memory_limit` > 0 turns the executor's limit on.
struct Job {
  Strategy plan;
  double memory_limit = 0;
  std::string label;  // for the progress lines
};

/// The order of `jobs` x `repeats` runs: round r visits every job, forwards on even rounds and
/// backwards on odd ones, so slow drift of the machine hits every plan alike. Pairs (round, job).
std::vector<std::pair<int, int>> interleaved_order(int jobs, int repeats);

/// Measures every job `repeats` times in interleaved_order. A job's result: ms = median of its
/// runs' medians (runs_ms), peak_bytes = max over runs; a job that fails or hits the memory limit
/// once is not run again and reports that run. Prints one progress line per run on stderr.
std::vector<Measured> measure_interleaved(const std::string& paratune, const std::string& launch,
                                          const std::string& dir, const std::string& model_json,
                                          const std::vector<Job>& jobs, int steps, int warmup,
                                          int repeats);

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

}  // namespace paratune::bench
