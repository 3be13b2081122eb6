#include "calibrate/plan_runner.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace paratune::runner {

namespace {
// Temporary folders still alive; removed at exit too, since the benches' *_or_die helpers call
// std::exit, which skips destructors.
std::set<std::string>& live_temp_dirs() {
  static std::set<std::string> dirs;
  return dirs;
}
void remove_live_temp_dirs() {
  std::error_code ec;
  for (const std::string& d : live_temp_dirs()) std::filesystem::remove_all(d, ec);
  live_temp_dirs().clear();
}
}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/paratune-run-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) {
    std::perror("paratune: mkdtemp");
    std::exit(1);
  }
  path_ = buf.data();
  // The set is constructed before the handler is registered, so it is destroyed after the
  // handler ran (exit runs both in reverse order); the other way round, std::exit from
  // run_shell freed it twice.
  std::set<std::string>& dirs = live_temp_dirs();
  static const bool registered = std::atexit(remove_live_temp_dirs) == 0;
  (void)registered;
  dirs.insert(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  live_temp_dirs().erase(path_);
}

void write_or_die(const std::string& path, const Json& j) {
  Status st = write_file_atomic(path, dump_json(j));
  if (!st.ok()) {
    std::fprintf(stderr, "paratune: %s\n", st.message().c_str());
    std::exit(1);
  }
}

namespace {
volatile std::sig_atomic_t g_child_group = 0;  // the running command's process group
volatile std::sig_atomic_t g_signal = 0;       // the stop signal this process received

void forward_stop(int sig) {
  g_signal = sig;
  if (g_child_group > 0) kill(-static_cast<pid_t>(g_child_group), sig);
}
}  // namespace

int run_shell(const std::string& cmd) {
  std::fflush(stdout);
  std::fflush(stderr);
  // The command runs in its own process group; SIGINT, SIGTERM and SIGHUP sent to this process
  // (Ctrl-C reaches only the terminal's foreground group, which is this one) are forwarded to
  // that group, so `paratune launch` stops its ranks and removes emulated nodes. Then this
  // process stops too instead of going on to the next plan; atexit removes the temporary
  // folders. A command that ends with 128 + SIGINT/SIGTERM counts as interrupted as well.
  struct sigaction fwd {}, old_int{}, old_term{}, old_hup{};
  fwd.sa_handler = forward_stop;
  sigemptyset(&fwd.sa_mask);
  g_signal = 0;
  g_child_group = 0;
  sigaction(SIGINT, &fwd, &old_int);
  sigaction(SIGTERM, &fwd, &old_term);
  sigaction(SIGHUP, &fwd, &old_hup);
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int code = 127;
  if (pid < 0) {
    std::perror("paratune: fork");
  } else {
    setpgid(pid, pid);  // also here: no signal can reach the group before it exists
    g_child_group = pid;
    if (g_signal != 0) kill(-pid, g_signal);  // arrived between fork and here
    int rc = 0;
    while (waitpid(pid, &rc, 0) < 0 && errno == EINTR) {
    }
    code = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
  }
  g_child_group = 0;
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  sigaction(SIGHUP, &old_hup, nullptr);
  if (g_signal != 0) code = 128 + g_signal;
  if (code == 128 + SIGINT || code == 128 + SIGTERM || code == 128 + SIGHUP) {
    std::fprintf(stderr, "paratune: interrupted (signal %d) while running: %s\n", code - 128,
                 cmd.c_str());
    std::exit(code);
  }
  return code;
}

Json read_metrics(const std::string& path) {
  StatusOr<Json> j = read_json_file(path);
  if (!j.ok() || !j->contains("steps")) {
    std::fprintf(stderr, "paratune: cannot read metrics %s\n", path.c_str());
    std::exit(1);
  }
  return *j;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int micro_batches_for(const Strategy& s, int batch) {
  int max_dp = s.embedding.dp;
  for (const auto& l : s.layers) max_dp = std::max(max_dp, l.dp);
  for (int m : {2 * s.pp, s.pp, 1}) {
    if (batch % m == 0 && (batch / m) % max_dp == 0) return m;
  }
  return 0;
}

std::string plan_name(const Strategy& s) {
  std::string n = "pp" + std::to_string(s.pp) + "-m" + std::to_string(s.micro_batches);
  bool uniform = true;
  for (const auto& l : s.layers) uniform = uniform && l == s.layers[0];
  n += uniform ? " " + to_string(s.layers[0]) : " mixed";
  return n;
}

Measured measure_plan(const std::string& paratune, const std::string& launch,
                      const std::string& dir, const std::string& model_json, const Strategy& plan,
                      int steps, int warmup, double memory_limit) {
  Measured r;
  const std::string p = dir + "/plan.json", m = dir + "/metrics.json", log = dir + "/log";
  std::remove(m.c_str());
  write_or_die(p, to_json(plan));
  std::string cmd = paratune + " launch " + launch + " -- " + paratune + " train --strategy " +
                    p + " --model " + model_json + " --data synthetic --steps " +
                    std::to_string(steps) + " --metrics " + m;
  if (memory_limit > 0) {
    cmd += " --memory-per-device " + std::to_string(static_cast<int64_t>(memory_limit));
  }
  cmd += " > " + log + " 2>&1";
  if (run_shell(cmd) != 0) {
    std::ifstream in(log);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    r.oom = all.find("out of memory") != std::string::npos;
    r.log_tail = all.substr(all.size() > 2000 ? all.size() - 2000 : 0);
    return r;
  }
  const Json j = read_metrics(m);
  std::vector<double> ms;
  for (const Json& s : j["steps"]) ms.push_back(s["ms"].get<double>());
  if (static_cast<int>(ms.size()) <= warmup) {
    r.log_tail = "metrics hold " + std::to_string(ms.size()) + " steps";
    return r;
  }
  r.ms = median(std::vector<double>(ms.begin() + warmup, ms.end()));
  for (const Json& v : j["peak_memory_bytes"]) r.peak_bytes = std::max(r.peak_bytes, v.get<double>());
  r.ok = true;
  return r;
}

std::vector<std::pair<int, int>> interleaved_order(int jobs, int repeats) {
  std::vector<std::pair<int, int>> order;
  for (int r = 0; r < repeats; ++r)
    for (int k = 0; k < jobs; ++k) order.emplace_back(r, r % 2 == 0 ? k : jobs - 1 - k);
  return order;
}

std::vector<Measured> measure_interleaved(const std::string& paratune, const std::string& launch,
                                          const std::string& dir, const std::string& model_json,
                                          const std::vector<Job>& jobs, int steps, int warmup,
                                          int repeats) {
  std::vector<Measured> out(jobs.size());
  std::vector<bool> stopped(jobs.size(), false);
  const auto order = interleaved_order(int(jobs.size()), repeats);
  size_t done = 0;
  for (auto [round, k] : order) {
    ++done;
    if (stopped[k]) continue;
    const Job& j = jobs[k];
    Measured m = measure_plan(paratune, j.launch.empty() ? launch : j.launch, dir, model_json,
                              j.plan, steps, warmup, j.memory_limit);
    Measured& acc = out[k];
    if (!m.ok) {
      stopped[k] = true;
      m.runs_ms = acc.runs_ms;
      acc = m;
      std::fprintf(stderr, "[%zu/%zu] run %d  %-44s %s\n", done, order.size(), round + 1,
                   j.label.c_str(), m.oom ? "hit the memory limit" : "FAILED");
      if (!m.oom) std::fprintf(stderr, "%s\n", m.log_tail.c_str());
      continue;
    }
    acc.ok = true;
    acc.runs_ms.push_back(m.ms);
    acc.ms = median(acc.runs_ms);
    acc.peak_bytes = std::max(acc.peak_bytes, m.peak_bytes);
    std::fprintf(stderr, "[%zu/%zu] run %d  %-44s %8.1f ms  peak %7.2f MiB\n", done, order.size(),
                 round + 1, j.label.c_str(), m.ms, m.peak_bytes / 1048576);
  }
  return out;
}

}  // namespace paratune::runner
