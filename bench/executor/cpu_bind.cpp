// Does binding each rank to its share of the CPUs (`paratune launch --cpu-bind spread`, the
// default) train faster than letting the scheduler place the ranks (`--cpu-bind none`)? Trains an
// even sample of the uniform strategies both ways, interleaved (every round visits every
// (plan, binding) pair, alternating direction), and prints per plan the median step time of
// each and the ratio none / spread, then the geometric mean of the ratios and how many plans
// were faster bound.
//
//   bench_cpu_bind --cluster cluster.json --model M.json --profile P.json
//       [--launch "--nnodes 2 --nproc-per-node 2 --emulate-link 1gbit:200us"]
//       (default "--nproc-per-node N", N = the cluster's devices) [--plans 12] [--repeats 3]
//       [--steps 10] [--global-batch 8]
//
// The cluster and model profiles only serve to enumerate the plans (as bench_accuracy).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/executor/bench_util.h"
#include "bench/executor/plan_inputs.h"

using namespace paratune;

int main(int argc, char** argv) {
  std::string cluster, model, profile, launch;
  int plans = 12, repeats = 3, steps = 10, batch = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--cluster") cluster = v;
    else if (k == "--model") model = v;
    else if (k == "--profile") profile = v;
    else if (k == "--launch") launch = v;
    else if (k == "--plans") plans = std::atoi(v.c_str());
    else if (k == "--repeats") repeats = std::atoi(v.c_str());
    else if (k == "--steps") steps = std::atoi(v.c_str());
    else if (k == "--global-batch") batch = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "bench_cpu_bind: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  constexpr int kWarmup = 2;
  if (cluster.empty() || model.empty() || profile.empty() || plans < 1 || repeats < 1 ||
      steps <= kWarmup) {
    std::fprintf(stderr, "bench_cpu_bind: --cluster, --model and --profile are required, "
                         "--plans >= 1, --repeats >= 1, --steps > %d\n", kWarmup);
    return 2;
  }
  if (launch.find("--cpu-bind") != std::string::npos) {
    std::fprintf(stderr, "bench_cpu_bind: --launch must not set --cpu-bind (the bench sets it)\n");
    return 2;
  }
  bench::BenchInputs in = bench::load_inputs_or_die("bench_cpu_bind", cluster, model, profile);
  if (launch.empty()) launch = "--nproc-per-node " + std::to_string(in.cluster.num_devices());
  const std::vector<Strategy> all = bench::uniform_plans(in, batch);
  std::vector<Strategy> sample;
  const int n = std::min<int>(plans, int(all.size()));
  for (int k = 0; k < n; ++k) sample.push_back(all[size_t(k) * all.size() / size_t(n)]);
  std::vector<bench::Job> jobs;
  for (const Strategy& s : sample)
    for (const char* bind : {"spread", "none"})
      jobs.push_back({s, 0, bench::plan_name(s) + " " + bind,
                      launch + " --cpu-bind " + std::string(bind)});
  std::printf("bench_cpu_bind: %s, %d of %zu uniform plans x {spread, none} x %d runs "
              "(interleaved), %d steps each (%d warm-up), launch %s\n",
              in.model.name.c_str(), n, all.size(), repeats, steps, kWarmup, launch.c_str());
  std::fflush(stdout);
  bench::TempDir dir;
  bench::write_or_die(dir.path() + "/model.json", to_json(in.model));
  const auto meas = bench::measure_interleaved(PARATUNE_BIN, launch, dir.path(),
                                               dir.path() + "/model.json", jobs, steps, kWarmup,
                                               repeats);
  std::printf("%-36s %12s %12s %9s\n", "plan", "spread ms", "none ms", "none/spr");
  double log_sum = 0;
  int counted = 0, faster = 0;
  for (int k = 0; k < n; ++k) {
    const bench::Measured &b = meas[size_t(2 * k)], &u = meas[size_t(2 * k + 1)];
    const std::string name = bench::plan_name(sample[size_t(k)]);
    if (!b.ok || !u.ok) {
      std::printf("%-36s %12s %12s\n", name.c_str(), b.ok ? "" : "FAILED", u.ok ? "" : "FAILED");
      continue;
    }
    const double r = u.ms / b.ms;
    std::printf("%-36s %12.1f %12.1f %8.2fx\n", name.c_str(), b.ms, u.ms, r);
    log_sum += std::log(r);
    ++counted;
    faster += r > 1;
  }
  if (counted == 0) {
    std::printf("no plan ran both ways\n");
    return 1;
  }
  std::printf("geometric mean none / spread over %d plans: %.3fx; faster bound: %d of %d\n",
              counted, std::exp(log_sum / counted), faster, counted);
  return 0;
}
