// Helpers for the profiler tests that drive the `paratune` binary.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
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

/// A fresh directory under $TMPDIR (or /tmp).
inline std::string temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string t = std::string(base ? base : "/tmp") + "/paratune-prof-XXXXXX";
  char* d = mkdtemp(t.data());
  return d ? std::string(d) : std::string();
}

inline std::string bin() { return PARATUNE_BIN; }

}  // namespace paratune::profiler::testing
