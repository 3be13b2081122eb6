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

}  // namespace paratune::bench
