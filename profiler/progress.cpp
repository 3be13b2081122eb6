#include "profiler/progress.h"

#include <unistd.h>

#include <cstdio>

namespace paratune::profiler {

Progress::Progress(int total, std::string title, bool enabled)
    : total_(total < 1 ? 1 : total), title_(std::move(title)), enabled_(enabled),
      tty_(isatty(2)), start_(std::chrono::steady_clock::now()) {}

void Progress::step(const std::string& what) {
  if (count_ < total_) ++count_;
  draw(what);
}

void Progress::draw(const std::string& what) {
  if (!enabled_) return;
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int width = 30, fill = count_ * width / total_;
  if (tty_) {
    std::fprintf(stderr, "\r%s [%.*s%*s] %3d%% %5.0fs %-40.40s", title_.c_str(), fill,
                 "##############################", width - fill, "", 100 * count_ / total_, secs,
                 what.c_str());
  } else {
    const int decile = 10 * count_ / total_;
    if (decile == last_decile_) return;
    last_decile_ = decile;
    std::fprintf(stderr, "%s: %3d%% (%.0fs) %s\n", title_.c_str(), 100 * count_ / total_, secs,
                 what.c_str());
  }
  std::fflush(stderr);
}

void Progress::done() {
  count_ = total_;
  draw("done");
  if (enabled_ && tty_) std::fprintf(stderr, "\n");
}

std::string pass_label(int pass, int passes) {
  return passes > 1 ? " (pass " + std::to_string(pass + 1) + "/" + std::to_string(passes) + ")"
                    : std::string();
}

}  // namespace paratune::profiler
