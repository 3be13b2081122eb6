// Helpers for the profiler tests that drive the `paratune` binary.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <string>

namespace paratune::profiler::testing {

struct Run {
  int rc = -1;
  std::string output;  // stdout + stderr
};

/// Runs a shell command line, capturing its output and exit code.
inline Run run(const std::string& cmd) {
  Run r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[1024];
  while (std::fgets(buf, sizeof buf, p)) r.output += buf;
  const int st = pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

/// A fresh directory under $TMPDIR (or /tmp), removed with everything in it when the object goes
/// out of scope (path() is "" when it could not be made).
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string t = std::string(base ? base : "/tmp") + "/paratune-prof-XXXXXX";
    if (char* d = mkdtemp(t.data())) path_ = d;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string bin() { return PARATUNE_BIN; }

}  // namespace paratune::profiler::testing
