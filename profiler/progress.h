// A one-line progress bar on stderr for long measurements (rank 0 only; others pass
// enabled = false). Redraws in place with '\r' on a terminal, prints a line per 10% otherwise.
//
//   Progress bar(total, "profile-cluster", rank == 0);
//   bar.step("allreduce n=4 inter");  ...  bar.done();
#pragma once

#include <chrono>
#include <string>

namespace paratune::profiler {

class Progress {
 public:
  Progress(int total, std::string title, bool enabled);
  /// Marks one unit done; `what` names the next thing being measured.
  void step(const std::string& what);
  void done();
  int total() const { return total_; }

 private:
  void draw(const std::string& what);
  int total_, count_ = 0, last_decile_ = -1;
  std::string title_;
  bool enabled_, tty_;
  std::chrono::steady_clock::time_point start_;
};

/// " (pass 2/3)" for a progress label when there is more than one pass, else "".
std::string pass_label(int pass, int passes);

}  // namespace paratune::profiler
