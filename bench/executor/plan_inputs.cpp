#include "bench/executor/plan_inputs.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "bench/executor/bench_util.h"
#include "search/decision_tree.h"

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
  return BenchInputs{std::move(*c), std::move(*m), std::move(*p)};
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
  const int n = in.cluster.num_devices();
  std::vector<Strategy> out;
  for (const auto& [pp, cands] :
       search::enumerate_by_pp(n, 0, search::DecisionTreeOptions{}, in.model)) {
    for (const LayerStrategy& ls : cands) {
      Strategy s = uniform_strategy(n, pp, ls, in.model.num_layers, batch, 1);
      if (ls.tp > 1 && in.model.vocab % ls.tp) s.embedding.tp = 1, s.embedding.dp = n / pp;
      s.embedding.sp = false;
      s.micro_batches = micro_batches_for(s, batch);
      if (s.micro_batches == 0 || !validate(s, in.model, "plan").ok()) continue;
      out.push_back(std::move(s));
    }
  }
  return out;
}

}  // namespace paratune::bench
