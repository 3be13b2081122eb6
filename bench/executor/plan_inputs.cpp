#include "bench/executor/plan_inputs.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "bench/executor/bench_util.h"
#include "calibrate/calibration.h"

namespace paratune::bench {

BenchInputs load_inputs_or_die(const std::string& bench, const std::string& cluster,
                               const std::string& model, const std::string& profile) {
  auto c = load_cluster_profile(cluster);
  auto m = load_model_config(model);
  auto p = load_model_profile(profile);
  for (const Status& st : {c.status(), m.status(), p.status()}) {
    if (!st.ok()) {
      std::fprintf(stderr, "%s: %s\n", bench.c_str(), st.message().c_str());
      std::exit(1);
    }
  }
  return BenchInputs{std::move(*c), std::move(*m), std::move(*p), {}};
}

void load_calibration_or_die(const std::string& bench, const std::string& path, BenchInputs& in) {
  StatusOr<calibrate::Calibration> c = calibrate::load_calibration(path);
  Status st = c.ok() ? calibrate::check_matches(*c, in.cluster, in.profile, path) : c.status();
  if (!st.ok()) {
    std::fprintf(stderr, "%s: %s\n", bench.c_str(), st.message().c_str());
    std::exit(1);
  }
  in.scales = c->scales;
  in.calibration_plans.clear();
  for (const calibrate::CalibrationRun& r : c->runs) in.calibration_plans.push_back(r.strategy);
}

bool is_calibration_plan(const BenchInputs& in, const Strategy& s) {
  const Json j = to_json(s);
  for (const Strategy& c : in.calibration_plans)
    if (to_json(c) == j) return true;
  return false;
}

std::optional<estimator::PlanEstimate> estimate_for_executor(const BenchInputs& in,
                                                             const Strategy& plan, int batch) {
  estimator::CostContext ctx;
  ctx.model = &in.model;
  ctx.cluster = &in.cluster;
  ctx.profile = &in.profile;
  ctx.num_devices = in.cluster.num_devices();
  ctx.pp = plan.pp;
  ctx.micro_batches = plan.micro_batches;
  ctx.global_batch = batch;
  ctx.options.runtime_buffer_bytes = 0;
  ctx.options.scales = in.scales;
  auto e = estimator::estimate_plan(ctx, plan);
  if (!e.ok()) return std::nullopt;
  return std::move(*e);
}

double peak_bytes(const estimator::PlanEstimate& e) {
  double peak = 0;
  for (const auto& s : e.stages) peak = std::max(peak, s.peak_memory.value);
  return peak;
}

std::vector<Strategy> uniform_plans(const BenchInputs& in, int batch) {
  return calibrate::uniform_plans(in.model, in.cluster.num_devices(), batch);
}

}  // namespace paratune::bench
