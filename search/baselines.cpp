#include "search/baselines.h"

#include <cmath>

#include "estimator/layer_cost.h"

namespace paratune::search {

namespace est = paratune::estimator;

namespace {

Strategy uniform_plan(int n, int pp, int batch, int micro, const LayerStrategy& ls,
                      const LayerStrategy& emb, int layers) {
  Strategy s;
  s.num_devices = n;
  s.pp = pp;
  s.global_batch = batch;
  s.micro_batches = micro;
  s.embedding = emb;
  s.layers.assign(layers, ls);
  for (int i = 0; i < pp; ++i) s.pp_division.push_back(layers / pp + (i < layers % pp ? 1 : 0));
  return s;
}

/// Fastest fitting micro-batch count for a fixed layout; sets res.strategy/estimate or why_not.
void best_over_micro(const ModelConfig& model, const ClusterProfile& cluster,
                     const ModelProfile& profile, const SearchOptions& o, int n, int pp, int batch,
                     const LayerStrategy& ls, const LayerStrategy& emb, BaselineResult* res) {
  double best = -1;
  double smallest_peak = -1;
  for (int m = 1; m <= std::min(batch, o.max_micro_batches); ++m) {
    if (batch % m) continue;
    Strategy s = uniform_plan(n, pp, batch, m, ls, emb, model.num_layers);
    if (!validate(s, model, "baseline").ok()) continue;
    est::CostContext ctx;
    ctx.model = &model;
    ctx.cluster = &cluster;
    ctx.profile = &profile;
    ctx.num_devices = n;
    ctx.pp = pp;
    ctx.micro_batches = m;
    ctx.global_batch = batch;
    ctx.options = o.estimator;
    StatusOr<est::PlanEstimate> e = est::estimate_plan(ctx, s);
    if (!e.ok()) continue;
    double peak = 0;
    for (const auto& st : e->stages) peak = std::max(peak, st.peak_memory.value);
    if (smallest_peak < 0 || peak < smallest_peak) smallest_peak = peak;
    if (peak > o.memory_per_device.value) continue;
    if (e->samples_per_s > best) {
      best = e->samples_per_s;
      Prediction p;
      p.iteration = e->iteration;
      p.samples_per_s = e->samples_per_s;
      for (const auto& st : e->stages) p.stage_peak_memory.push_back(st.peak_memory);
      p.profile_source = profile.source;
      s.predicted = p;
      s.model_fingerprint = fingerprint(model);
      s.cluster_fingerprint = fingerprint(cluster);
      res->strategy = s;
      res->estimate = std::move(*e);
    }
  }
  if (!res->strategy) {
    char buf[160];
    if (smallest_peak >= kGiB)
      std::snprintf(buf, sizeof buf, "does not fit: needs %.2f GiB per device", smallest_peak / kGiB);
    else if (smallest_peak > 0)
      std::snprintf(buf, sizeof buf, "does not fit: needs %.2f MiB per device", smallest_peak / kMiB);
    else
      std::snprintf(buf, sizeof buf, "not applicable to this model/batch");
    res->why_not = buf;
  }
}

}  // namespace

std::vector<BaselineResult> run_baselines(const ModelConfig& model, const ClusterProfile& cluster,
                                          const ModelProfile& profile,
                                          const SearchOptions& o, int n, int batch) {
  std::vector<BaselineResult> out;
  {
    BaselineResult r;
    r.name = "pure-dp";
    LayerStrategy ls;
    ls.tp = 1;
    ls.dp = n;
    best_over_micro(model, cluster, profile, o, n, 1, batch, ls, ls, &r);
    out.push_back(std::move(r));
  }
  {
    BaselineResult r;
    r.name = "zero3";
    LayerStrategy ls;
    ls.tp = 1;
    ls.dp = n;
    ls.dp_type = n > 1 ? DpType::kZero3 : DpType::kDdp;
    best_over_micro(model, cluster, profile, o, n, 1, batch, ls, ls, &r);
    out.push_back(std::move(r));
  }
  {
    BaselineResult r;
    r.name = "megatron";
    const int per_island = std::min(n, cluster.devices_per_island());
    int tp = 1;
    while (tp * 2 <= per_island && model.heads % (tp * 2) == 0 && model.kv_heads % (tp * 2) == 0 &&
           model.ffn_hidden % (tp * 2) == 0 && model.vocab % (tp * 2) == 0)
      tp *= 2;
    int pp = std::max(1, n / per_island);
    while (pp > model.num_layers) pp /= 2;
    LayerStrategy ls;
    ls.tp = tp;
    ls.dp = n / pp / tp;
    ls.tp_consecutive = true;
    best_over_micro(model, cluster, profile, o, n, pp, batch, ls, ls, &r);
    if (!r.strategy) {
      LayerStrategy emb = ls;
      ls.checkpoint = true;
      BaselineResult r2;
      r2.name = r.name;
      best_over_micro(model, cluster, profile, o, n, pp, batch, ls, emb, &r2);
      if (r2.strategy) r = std::move(r2);
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace paratune::search
