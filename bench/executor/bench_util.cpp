#include "bench/executor/bench_util.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace paratune::bench {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/paratune-bench-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) {
    std::perror("bench: mkdtemp");
    std::exit(1);
  }
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_or_die(const std::string& path, const Json& j) {
  Status st = write_file_atomic(path, dump_json(j));
  if (!st.ok()) {
    std::fprintf(stderr, "bench: %s\n", st.message().c_str());
    std::exit(1);
  }
}

int run_shell(const std::string& cmd) {
  std::fflush(stdout);
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

Json read_metrics(const std::string& path) {
  StatusOr<Json> j = read_json_file(path);
  if (!j.ok() || !j->contains("steps")) {
    std::fprintf(stderr, "bench: cannot read metrics %s\n", path.c_str());
    std::exit(1);
  }
  return *j;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace paratune::bench
