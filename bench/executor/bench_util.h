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
};

/// `paratune launch <launch> -- paratune train` of `plan` on synthetic data for `steps` steps
/// (`memory_limit` > 0: the executor's limit on) in `dir`; `paratune` is the binary's path.
Measured measure_plan(const std::string& paratune, const std::string& launch,
                      const std::string& dir, const std::string& model_json, const Strategy& plan,
                      int steps, int warmup, double memory_limit);

}  // namespace paratune::bench
