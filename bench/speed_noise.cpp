// bench_speed_noise: how far this machine's speed moves while the work stays fixed.
//
//   bench_speed_noise [--kind scalar|gemm|stream|all] [--windows 30] [--window-ms 100]
//                     [--cpus 0,1 | all]
//
// One thread pinned to each listed CPU (all at once) repeats a fixed amount of work per window:
//   scalar  a floating-point dependency chain (no memory traffic: the core's clock),
//   gemm    a 96 x 96 float matrix product held in the caches (the core's vector units),
//   stream  a sum over a 64 MiB buffer per thread (memory bandwidth).
// The work per window is sized so that a calibration run of it alone takes about --window-ms;
// all threads start together. Per CPU it prints the windows' wall time (min, median, max), max / min (the
// baseline is the fastest window of the same run: a steady machine prints about 1.0x), the
// coefficient of variation, the thread's CPU time over its wall time (1.00: the thread was never
// off its CPU, so a slower window is the CPU doing less per second, not the scheduler), and the
// steal time the kernel counted in /proc/stat over the run.
//
// Why: the accuracy targets of bench_accuracy compare single training runs; when identical
// work takes 1.4x longer from one second to the next, no cost model meets a 20% max error on
// one run (docs/accuracy.md, round 14).
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

double now_ms(clockid_t c) {
  timespec t{};
  clock_gettime(c, &t);
  return double(t.tv_sec) * 1e3 + double(t.tv_nsec) / 1e6;
}

// Fixed work units; each returns a value so the compiler keeps the work.
double unit_scalar(std::vector<float>&, std::vector<float>&, std::vector<float>&) {
  double x = 1.0;
  for (int i = 0; i < 200000; ++i) x = x * 1.0000001 + 1e-9;
  return x;
}

constexpr int kN = 96;
double unit_gemm(std::vector<float>& a, std::vector<float>& b, std::vector<float>& c) {
  std::fill(c.begin(), c.end(), 0.f);
  for (int i = 0; i < kN; ++i)
    for (int k = 0; k < kN; ++k) {
      const float aik = a[i * kN + k];
      for (int j = 0; j < kN; ++j) c[i * kN + j] += aik * b[k * kN + j];
    }
  return c[kN + 1];
}

double unit_stream(std::vector<float>& big, std::vector<float>&, std::vector<float>&) {
  double s = 0;
  for (size_t i = 0; i < big.size(); i += 4) s += big[i] + big[i + 1] + big[i + 2] + big[i + 3];
  return s;
}

using Unit = double (*)(std::vector<float>&, std::vector<float>&, std::vector<float>&);

struct Window {
  double wall = 0, cpu = 0;
};

struct Worker {
  int cpu = 0;
  std::vector<Window> windows;
};

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// All workers start their first window together (after touching their memory), so no window
// runs alone while another thread is still setting up.
void run_windows(Unit unit, bool stream, long units, int windows, Worker* w,
                 std::atomic<int>* ready, int workers) {
  pin(w->cpu);
  std::vector<float> a(stream ? (64u << 20) / sizeof(float) : kN * kN, 1.0f), b(kN * kN, 0.5f),
      c(kN * kN, 0.f);
  volatile double sink = unit(a, b, c);  // touch the memory before timing
  ready->fetch_add(1);
  while (ready->load() < workers) std::this_thread::yield();
  for (int k = 0; k < windows; ++k) {
    const double w0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_THREAD_CPUTIME_ID);
    for (long u = 0; u < units; ++u) sink = sink + unit(a, b, c);
    w->windows.push_back({now_ms(CLOCK_MONOTONIC) - w0, now_ms(CLOCK_THREAD_CPUTIME_ID) - c0});
  }
}

// Total steal ticks over all CPUs (the 8th field of /proc/stat's "cpu" line); -1 if unknown.
long long steal_ticks() {
  std::ifstream in("/proc/stat");
  std::string line;
  if (!std::getline(in, line) || line.rfind("cpu ", 0) != 0) return -1;
  std::istringstream ss(line.substr(4));
  long long v[8] = {};
  for (long long& x : v)
    if (!(ss >> x)) return -1;
  return v[7];
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (int i = 0; i < CPU_SETSIZE; ++i)
      if (CPU_ISSET(i, &set)) out.push_back(i);
  return out;
}

int usage(const char* why) {
  std::fprintf(stderr,
               "bench_speed_noise: %s\nusage: bench_speed_noise [--kind scalar|gemm|stream|all] "
               "[--windows N >= 3] [--window-ms MS > 0] [--cpus 0,1|all]\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string kind = "all", cpus_arg = "all";
  int windows = 30;
  double window_ms = 100;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) return usage(("missing value after " + k).c_str());
    const std::string v = argv[++i];
    if (k == "--kind") kind = v;
    else if (k == "--windows") windows = std::atoi(v.c_str());
    else if (k == "--window-ms") window_ms = std::atof(v.c_str());
    else if (k == "--cpus") cpus_arg = v;
    else return usage(("unknown flag " + k).c_str());
  }
  if (windows < 3 || !(window_ms > 0)) return usage("--windows must be >= 3, --window-ms > 0");
  std::vector<std::string> kinds;
  if (kind == "all") kinds = {"scalar", "gemm", "stream"};
  else if (kind == "scalar" || kind == "gemm" || kind == "stream") kinds = {kind};
  else return usage(("--kind: unknown kind '" + kind + "'").c_str());
  const std::vector<int> allowed = allowed_cpus();
  std::vector<int> cpus;
  if (cpus_arg == "all") {
    cpus = allowed;
  } else {
    std::stringstream ss(cpus_arg);
    std::string tok;
    while (std::getline(ss, tok, ',')) {
      char* end = nullptr;
      const long c = std::strtol(tok.c_str(), &end, 10);
      if (tok.empty() || *end || c < 0 || std::find(allowed.begin(), allowed.end(), c) == allowed.end())
        return usage(("--cpus: '" + tok + "' is not a CPU this process may run on").c_str());
      cpus.push_back(int(c));
    }
  }
  if (cpus.empty()) return usage("--cpus: no CPU");

  std::printf("bench_speed_noise: %d windows of about %.0f ms per CPU, CPUs", windows, window_ms);
  for (int c : cpus) std::printf(" %d", c);
  std::printf(" (all at once)\n");
  bool steady = true;
  for (const std::string& k : kinds) {
    const bool stream = k == "stream";
    const Unit unit = k == "scalar" ? unit_scalar : k == "gemm" ? unit_gemm : unit_stream;
    // Size the window: time a few units alone on the first CPU.
    Worker probe{cpus[0], {}};
    std::atomic<int> alone{0};
    run_windows(unit, stream, 3, 1, &probe, &alone, 1);
    const double per_unit = std::max(1e-3, probe.windows[0].wall / 3);
    const long units = std::max(1L, long(std::lround(window_ms / per_unit)));
    std::vector<Worker> workers;
    for (int c : cpus) workers.push_back({c, {}});
    const long long steal0 = steal_ticks();
    std::vector<std::thread> threads;
    std::atomic<int> ready{0};
    for (Worker& w : workers)
      threads.emplace_back(run_windows, unit, stream, units, windows, &w, &ready,
                           int(workers.size()));
    for (std::thread& t : threads) t.join();
    const long long steal1 = steal_ticks();
    const double tick_ms = 1e3 / double(sysconf(_SC_CLK_TCK));
    std::printf("\n%s: %ld units a window; steal time counted by the kernel over the run: %s\n",
                k.c_str(), units,
                steal0 < 0 ? "unknown"
                           : (std::to_string(long(double(steal1 - steal0) * tick_ms)) + " ms").c_str());
    std::printf("  %4s %9s %9s %9s %9s %6s %8s\n", "cpu", "min ms", "median", "max ms", "max/min",
                "cv", "cpu/wall");
    for (const Worker& w : workers) {
      std::vector<double> t;
      double wall = 0, cpu = 0;
      for (const Window& x : w.windows) {
        t.push_back(x.wall);
        wall += x.wall;
        cpu += x.cpu;
      }
      std::sort(t.begin(), t.end());
      double mean = 0, var = 0;
      for (double x : t) mean += x / double(t.size());
      for (double x : t) var += (x - mean) * (x - mean) / double(t.size());
      const double ratio = t.back() / t.front();
      steady = steady && ratio <= 1.1;
      std::printf("  %4d %9.1f %9.1f %9.1f %8.2fx %6.3f %8.2f\n", w.cpu, t.front(),
                  t[t.size() / 2], t.back(), ratio, std::sqrt(var) / mean, cpu / wall);
    }
  }
  std::printf("\n%s\n", steady ? "steady: every CPU's slowest window within 1.1x of its fastest"
                               : "NOT steady: identical work took more than 1.1x its fastest "
                                 "window on some CPU");
  return 0;
}
