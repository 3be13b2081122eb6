// Running `paratune train` on a plan as a child process (under `paratune launch`) and reading
// its metrics: what `paratune calibrate` and the executor benchmarks measure plans with.
// Torch-free: it needs a `paratune` binary built with libtorch only at run time.
//
//   runner::TempDir dir;
//   runner::write_or_die(dir.path() + "/model.json", to_json(model));
//   runner::Measured m = runner::measure_plan("paratune", "--nproc-per-node 4", dir.path(),
//                                             dir.path() + "/model.json", plan, 6, 2, 0);
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/json_reader.h"
#include "core/model_config.h"
#include "core/strategy.h"

namespace paratune::runner {

/// A fresh folder under $TMPDIR (or /tmp), removed by the destructor and, should the process
/// leave through std::exit, at exit.
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

/// Writes `j` to `path` (atomically); prints the error and exits with 1 on failure.
void write_or_die(const std::string& path, const Json& j);
/// Runs `cmd` through the shell in its own process group; returns its exit code (128 + the
/// signal that ended it). SIGINT, SIGTERM or SIGHUP sent to this process are forwarded to the
/// command's group; then, or when the command itself ends with 128 + one of them, this process
/// exits with that code (atexit removes the temporary folders).
int run_shell(const std::string& cmd);
/// Reads a metrics JSON written by `paratune train --metrics`; exits with 1 on failure.
Json read_metrics(const std::string& path);
/// Median of `v` (v non-empty).
double median(std::vector<double> v);

/// Largest of {2pp, pp, 1} micro-batches for which every layer's local micro-batch is whole
/// (0: none).
int micro_batches_for(const Strategy& s, int batch);

/// "pp2-m4 tp2-dp2-zero3" for uniform plans, "pp2-m4 mixed" otherwise.
std::string plan_name(const Strategy& s);

/// One measured training run of a plan.
struct Measured {
  bool ok = false;              // trained to the end
  bool oom = false;             // stopped by the executor's memory limit
  double ms = 0;                // median step time after `warmup` steps
  double peak_bytes = 0;        // max over ranks of the per-rank peak
  std::string log_tail;         // last 2000 characters of the output when not ok
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
  std::string launch = {};  // `paratune launch` flags for this job; empty: measure_interleaved's
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

}  // namespace paratune::runner
