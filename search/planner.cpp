// The search, top to bottom.
//
// Outer loops: global batch B x pipeline degree pp x micro-batch count M (M | B, M <= max) form
// one "config", evaluated independently (threads over configs); inside it, a loop over the
// embedding/LM-head strategy E (only the first and last stage depend on E). Per-layer costs and
// switch costs are computed once per stage island signature, switch costs once per pair of
// activation layouts (tp, consecutive side, sp, dp).
// For one config, stage s (ranks [s*g, (s+1)*g), g = N/pp) sees the per-layer problem
//   time[l][k]      = M * (fwd_k + bwd_k) + sync_exposed_k                       (ms / iteration)
//   memory[l][k]    = model_states_k + inflight(s) * activation_k                 (bytes)
//   transient[l][k] = transient_k                                                 (bytes)
//   switch[a][b]    = M * reshard(a -> b)                                         (ms / iteration)
//   budget          = limit - (runtime buffers + E's states and activations on s) (bytes)
// with inflight(s) = min(M, pp - s) (1F1B). Transformer layers are identical, so one prefix DP
// per stage gives the stage's best plan for every layer count n (search/stage_dp.h). The stage
// time splits into micro(s, n) = sum(fwd + bwd) + sum(switch)/M + E's fwd+bwd + p2p(s) and
// sync(s, n) = sum(exposed sync) + E's exposed sync; the partition search picks n_0..n_{pp-1}
// minimising the 1F1B iteration time (estimator::pipeline_iteration_time, exact over all
// compositions with n_s <= window * ceil(L/pp) + 1). With host sharing (cluster.host_sharing,
// CPU ranks sharing cores) the iteration is estimator::iteration_time = max(T1, T2): the
// partition search minimises T1 (the formula on the stages' micro-batch times at the speed they
// get from the host's shared cores, estimator::shared_micro) exactly and
// the config's time is max(T1, T2) of that partition. T2 (the host's compute capacity) depends
// on the partition only through the smallest stage communication time, so this is exact up to
// that term. With ranks bound one CPU each (cluster.host_sharing.cpus) T2 is the 1F1B schedule
// played out on the CPUs (estimator::bound_pipeline_time), also taken on T1's partition.
//
// Pruning (exact): a config's iteration time is at least the pipeline formula with every layer
// at its fastest candidate, no switches, no sync and an even split; configs whose resulting
// throughput bound is below the best found so far are skipped. Ties between configs are broken
// by the config's position in the enumeration order, so the result does not depend on threads.
#include "search/planner.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <map>
#include <numeric>
#include <tuple>
#include <thread>

#include "estimator/layer_cost.h"
#include "estimator/pipeline.h"
#include "estimator/resharding.h"
#include "search/pipeline_partition.h"
#include "search/stage_dp.h"

namespace paratune::search {

namespace est = paratune::estimator;

Status SearchOptions::validate() const {
  if (num_devices < 0) return InvalidArgument("--devices must be >= 0");
  if (!(memory_per_device.value > 0) || !std::isfinite(memory_per_device.value))
    return InvalidArgument("--memory-per-device must be a positive size");
  if (global_batches.empty()) return InvalidArgument("--global-batch: no batch size given");
  for (int b : global_batches)
    if (b < 1) return InvalidArgument("--global-batch must be >= 1");
  for (int p : pp_degrees)
    if (p < 1 || (p & (p - 1))) return InvalidArgument("pipeline degrees must be powers of two");
  if (max_micro_batches < 1) return InvalidArgument("max micro-batches must be >= 1");
  if (memory_buckets < 16) return InvalidArgument("memory buckets must be >= 16");
  if (stage_window < 1) return InvalidArgument("stage window must be >= 1");
  if (threads < 0) return InvalidArgument("threads must be >= 0");
  PARATUNE_RETURN_IF_ERROR(tree.validate());
  return estimator.validate();
}

StatusOr<int> resolve_devices(const ClusterProfile& cluster, int requested) {
  const int total = cluster.num_devices();
  const int n = requested == 0 ? total : requested;
  if (n > total)
    return InvalidArgument("--devices " + std::to_string(n) + " does not fit the cluster '" +
                           cluster.name + "' (" + std::to_string(total) + " devices)");
  if (n & (n - 1))
    return InvalidArgument("--devices " + std::to_string(n) + " must be a power of two");
  const int per_island = cluster.devices_per_island();
  if (n > per_island && n % per_island != 0)
    return InvalidArgument("--devices " + std::to_string(n) + " must be a multiple of the " +
                           std::to_string(per_island) + " devices of one island");
  return n;
}

namespace {

struct Inputs {
  const ModelConfig* model;
  const ClusterProfile* cluster;
  const ModelProfile* profile;
  const SearchOptions* options;
  int num_devices;
  // per pp degree: the per-layer candidates of the decision tree (model-filtered)
  std::vector<int> pps;
  std::vector<std::vector<LayerStrategy>> candidates;  // parallel to pps
};

struct Config {
  int batch = 0;
  int pp_index = 0;
  int micro_batches = 0;
  double bound_ms = 0;  // lower bound of the iteration time
};

struct ConfigResult {
  bool feasible = false;
  double iteration_ms = std::numeric_limits<double>::infinity();
  double samples_per_s = 0;
  Strategy strategy;
  int64_t stage_dp_runs = 0;
};

est::CostContext make_context(const Inputs& in, int pp, int micro, int batch) {
  est::CostContext ctx;
  ctx.model = in.model;
  ctx.cluster = in.cluster;
  ctx.profile = in.profile;
  ctx.num_devices = in.num_devices;
  ctx.pp = pp;
  ctx.micro_batches = micro;
  ctx.global_batch = batch;
  ctx.options = in.options->estimator;
  return ctx;
}

std::vector<LayerStrategy> embedding_candidates(const Inputs& in, int g) {
  std::vector<LayerStrategy> out;
  const SearchOptions& o = *in.options;
  if (!o.embedding_search) {
    LayerStrategy e;
    e.tp = 1;
    e.dp = g;
    out.push_back(e);
    return out;
  }
  const int max_tp = o.tree.max_tp > 0 ? std::min(o.tree.max_tp, g) : g;
  for (int t = 1; t <= max_tp; t *= 2) {
    if (g % t || in.model->vocab % t || in.model->hidden % t) continue;
    const int d = g / t;
    std::vector<DpType> types{DpType::kDdp};
    if (d > 1) {
      if (o.tree.allow_zero2) types.push_back(DpType::kZero2);
      if (o.tree.allow_zero3) types.push_back(DpType::kZero3);
    }
    for (DpType ty : types) {
      LayerStrategy e;
      e.tp = t;
      e.dp = d;
      e.dp_type = ty;
      out.push_back(e);
    }
  }
  return out;
}

/// Island pattern of stage s relative to its first rank: stages with equal signatures see
/// identical group placements, hence identical per-layer and switch costs.
std::vector<int> stage_signature(const ClusterProfile& c, int num_devices, int pp, StageIdx s) {
  const int g = num_devices / pp;
  const Rank first = s * g;
  std::vector<int> sig(g);
  for (int i = 0; i < g; ++i) sig[i] = c.island_of(first + i) - c.island_of(first);
  return sig;
}

/// Layout of a strategy as far as activations are concerned: switch costs depend on it only.
std::tuple<int, bool, bool, int> layout_key(const LayerStrategy& ls) {
  return {ls.tp, ls.tp_consecutive, ls.sp, ls.dp};
}

/// Per-stage costs of one (batch, pp, M) unit, shared by every embedding strategy.
struct StageCosts {
  std::vector<est::LayerCost> layer;           // per candidate
  std::vector<std::vector<double>> switch_ms;  // per micro-batch, candidate x candidate
};

/// `best_tput` is the best throughput any config has reached so far (shared between threads):
/// embedding strategies whose lower bound cannot beat it are skipped (exact pruning).
ConfigResult solve_config(const Inputs& in, const Config& cfg,
                          const std::vector<LayerStrategy>& embeddings,
                          const std::atomic<double>& best_tput) {
  ConfigResult res;
  const int pp = in.pps[cfg.pp_index];
  const int L = in.model->num_layers;
  const int M = cfg.micro_batches;
  const SearchOptions& o = *in.options;
  est::CostContext ctx = make_context(in, pp, M, cfg.batch);

  // Candidates feasible for this batch split (e.g. dp must divide the micro-batch).
  std::vector<LayerStrategy> cands;
  for (const LayerStrategy& ls : in.candidates[cfg.pp_index]) {
    if (est::transformer_layer_cost(ctx, 0, ls).feasible) cands.push_back(ls);
  }
  const int S = static_cast<int>(cands.size());
  if (S == 0) return res;
  // Layout classes: switch costs are computed once per pair of classes.
  std::vector<int> cls(S);
  std::vector<int> class_rep;
  {
    std::map<std::tuple<int, bool, bool, int>, int> ids;
    for (int k = 0; k < S; ++k) {
      auto it = ids.emplace(layout_key(cands[k]), static_cast<int>(class_rep.size())).first;
      if (it->second == static_cast<int>(class_rep.size())) class_rep.push_back(k);
      cls[k] = it->second;
    }
  }
  const int K = static_cast<int>(class_rep.size());

  // Per-stage costs, shared between stages with the same island signature.
  std::vector<int> stage_costs_index(pp);
  std::vector<StageCosts> costs;
  {
    std::vector<std::vector<int>> sigs;
    for (StageIdx s = 0; s < pp; ++s) {
      std::vector<int> sig = stage_signature(*in.cluster, in.num_devices, pp, s);
      int found = -1;
      for (size_t i = 0; i < sigs.size(); ++i)
        if (sigs[i] == sig) found = static_cast<int>(i);
      if (found < 0) {
        StageCosts sc;
        sc.layer.resize(S);
        for (int k = 0; k < S; ++k) sc.layer[k] = est::transformer_layer_cost(ctx, s, cands[k]);
        std::vector<std::vector<double>> csw(K, std::vector<double>(K, 0.0));
        for (int a = 0; a < K; ++a)
          for (int b = 0; b < K; ++b)
            if (a != b) csw[a][b] = est::switch_cost(ctx, s, cands[class_rep[a]], cands[class_rep[b]]).value;
        sc.switch_ms.assign(S, std::vector<double>(S, 0.0));
        for (int a = 0; a < S; ++a)
          for (int b = 0; b < S; ++b) sc.switch_ms[a][b] = csw[cls[a]][cls[b]];
        found = static_cast<int>(costs.size());
        costs.push_back(std::move(sc));
        sigs.push_back(std::move(sig));
      }
      stage_costs_index[s] = found;
    }
  }

  const int per_stage = (L + pp - 1) / pp;
  const int nmax = std::min(L - pp + 1, o.stage_window * per_stage + 1);
  struct StageTable {
    std::vector<std::optional<StageCost>> cost;       // [n - 1], n = 1..L (micro_ms: solo)
    std::vector<est::StageTime> time;                 // [n - 1]
    std::vector<std::vector<StrategyIdx>> choice;     // [n - 1]
  };
  const double least_factor = est::least_solo_compute_factor(ctx);  // for the lower bounds
  auto solo_lb = [&](double micro, double shrinks) {
    return micro - shrinks * (1.0 - least_factor);
  };
  // E's own layout -> the stage's first layer (stage 0) and the last layer -> E's (the head on
  // the last stage): the executor reshards there too (executor/trainer.cpp). Per micro-batch,
  // per candidate; 0 on the other stages.
  // The reshard into the first layer also needs its buffers (switch_transient) while it runs.
  auto embedding_switches = [&](StageIdx s, const LayerStrategy& e, std::vector<double>* in_ms,
                                std::vector<double>* out_ms, std::vector<double>* in_bytes) {
    in_ms->assign(S, 0.0);
    out_ms->assign(S, 0.0);
    in_bytes->assign(S, 0.0);
    for (int c = 0; c < K; ++c) {
      const LayerStrategy& rep = cands[class_rep[c]];
      const double to_first = s == 0 ? est::switch_cost(ctx, s, e, rep).value : 0.0;
      const double to_head = s == pp - 1 ? est::switch_cost(ctx, s, rep, e).value : 0.0;
      const double first_bytes = s == 0 ? est::switch_transient(ctx, s, e, rep).value : 0.0;
      for (int k = 0; k < S; ++k) {
        if (cls[k] != c) continue;
        (*in_ms)[k] = to_first;
        (*out_ms)[k] = to_head;
        (*in_bytes)[k] = first_bytes;
      }
    }
  };
  auto solve_stage_table = [&](StageIdx s, const est::LayerCost& ec, const LayerStrategy& e) {
    const StageCosts& sc = costs[stage_costs_index[s]];
    std::vector<double> e_in, e_out, e_in_bytes;
    embedding_switches(s, e, &e_in, &e_out, &e_in_bytes);
    const int inflight = est::in_flight_micro_batches(pp, s, M);
    StageTable t;
    t.cost.assign(L, std::nullopt);
    t.time.assign(L, {});
    t.choice.assign(L, {});
    const double base = ctx.runtime_buffer_bytes() + ec.model_states.value +
                        inflight * ec.activation_per_micro_batch.value + ec.transient.value;
    if (base > o.memory_per_device.value) return t;  // nothing fits on this stage
    StageProblem p;
    p.time_ms.assign(nmax, std::vector<double>(S));
    p.memory_bytes.assign(nmax, std::vector<double>(S));
    p.transient_bytes.assign(nmax, std::vector<double>(S));
    for (int l = 0; l < nmax; ++l) {
      for (int k = 0; k < S; ++k) {
        const est::LayerCost& c = sc.layer[k];
        p.time_ms[l][k] = M * (c.forward.value + c.backward.value) + c.grad_sync_exposed.value;
        p.memory_bytes[l][k] = c.model_states.value + inflight * c.activation_per_micro_batch.value;
        p.transient_bytes[l][k] = c.transient.value;
      }
    }
    // The stage DP's first position pays E -> that layer; the switch into the head depends on the
    // stage's last layer, which the prefix DP does not fix: it is added to the chosen plan below
    // (not optimised over), as is the switch into a later stage's first layer (estimate_plan).
    for (int k = 0; k < S; ++k) {
      p.time_ms[0][k] += M * e_in[k];
      p.transient_bytes[0][k] = std::max(p.transient_bytes[0][k], e_in_bytes[k]);
    }
    p.switch_ms.assign(S, std::vector<double>(S));
    for (int a = 0; a < S; ++a)
      for (int b = 0; b < S; ++b) p.switch_ms[a][b] = M * sc.switch_ms[a][b];
    p.base_memory_bytes = base;
    p.memory_budget_bytes = o.memory_per_device.value;
    StageDpOptions dpo;
    dpo.memory_buckets = o.memory_buckets;
    std::vector<std::optional<StagePlanResult>> best = solve_stage_prefixes(p, dpo);
    ++res.stage_dp_runs;
    // The p2p to the next stage goes in the layout of the stage's last layer: like the switch
    // into the head, added to the chosen plan (per candidate), not optimised over.
    std::vector<double> p2p(S, 0.0);
    if (s + 1 < pp)
      for (int k = 0; k < S; ++k) p2p[k] = est::p2p_time(ctx, s, cands[k]).value;
    for (int n = 1; n <= nmax && n <= static_cast<int>(best.size()); ++n) {
      if (!best[n - 1]) continue;
      const std::vector<StrategyIdx>& ch = best[n - 1]->choice;
      double mi = ec.forward.value + ec.backward.value + p2p[ch[n - 1]],
             sy = ec.grad_sync_exposed.value;
      double co = ec.compute.value, wa = ec.waits.value, hc = ec.host_comm.value;
      double fw = ec.forward.value, fb = ec.forward.value + ec.backward.value;  // forward_share
      bool reshards = e_in[ch[0]] > 0 || e_out[ch[n - 1]] > 0;
      double calls = ec.calls + est::p2p_calls(ctx, s) +
                     est::kReshardCalls * ((e_in[ch[0]] > 0) + (e_out[ch[n - 1]] > 0));
      std::vector<LayerStrategy> layers;
      for (int l = 0; l < n; ++l) {
        mi += sc.layer[ch[l]].forward.value + sc.layer[ch[l]].backward.value;
        fw += sc.layer[ch[l]].forward.value;
        fb += sc.layer[ch[l]].forward.value + sc.layer[ch[l]].backward.value;
        co += sc.layer[ch[l]].compute.value;
        wa += sc.layer[ch[l]].waits.value;
        hc += sc.layer[ch[l]].host_comm.value;
        sy += sc.layer[ch[l]].grad_sync_exposed.value;
        calls += sc.layer[ch[l]].calls;
        if (l > 0) {
          mi += sc.switch_ms[ch[l - 1]][ch[l]];
          const bool sw = sc.switch_ms[ch[l - 1]][ch[l]] > 0;
          reshards = reshards || sw;
          calls += sw ? est::kReshardCalls : 0.0;
        }
        layers.push_back(cands[ch[l]]);
      }
      mi += e_in[ch[0]] + e_out[ch[n - 1]];
      t.time[n - 1] =
          est::StageTime{Milliseconds(mi), Milliseconds(co), Milliseconds(sy), Milliseconds(wa),
                         est::host_groups(ctx, s, e, layers, reshards), calls};
      t.time[n - 1].host_comm = Milliseconds(hc);
      if (fb > 0) t.time[n - 1].forward_share = fw / fb;
      t.cost[n - 1] = StageCost{est::shared_micro(ctx, s, t.time[n - 1]).value, sy};
      t.choice[n - 1] = ch;
    }
    return t;
  };

  // Fastest layer micro-batch time, for the per-E lower bound below.
  double fastest = std::numeric_limits<double>::infinity();
  for (const StageCosts& sc : costs)
    for (const est::LayerCost& c : sc.layer)
      fastest = std::min(fastest, solo_lb(c.forward.value + c.backward.value,
                                          c.compute.value + c.waits.value));

  // Middle stages do not hold the embedding or the head: solved once for every E.
  std::vector<std::optional<StageTable>> middle(pp);
  for (const LayerStrategy& e : embeddings) {
    bool ok = true;
    std::vector<est::LayerCost> ec(pp);
    for (StageIdx s : {0, pp - 1}) {
      ec[s] = est::embedding_cost(ctx, s, e);
      ok = ok && ec[s].feasible;
    }
    if (!ok) continue;
    // T >= sum_s micro_s + (M-1) max_s micro_s with sum_s micro_s >= L * fastest + E's compute
    // and max_s micro_s >= max(sum / pp, ceil(L / pp) * fastest) (micro at solo speed: T >= T1).
    const auto e_solo = [&](const est::LayerCost& c) {
      return solo_lb(c.forward.value + c.backward.value, c.compute.value + c.waits.value);
    };
    const double e_ms = e_solo(ec[0]) + (pp > 1 ? e_solo(ec[pp - 1]) : 0.0);
    const double sum_lb = L * fastest + e_ms;
    const double bound = sum_lb + (M - 1) * std::max(sum_lb / pp, per_stage * fastest);
    const double tput_ub = cfg.batch / (bound / 1e3);
    if (tput_ub < best_tput.load() || (res.feasible && tput_ub <= res.samples_per_s)) continue;
    std::vector<const StageTable*> tables(pp);
    StageTable first, last;
    first = solve_stage_table(0, ec[0], e);
    tables[0] = &first;
    if (pp > 1) {
      last = solve_stage_table(pp - 1, ec[pp - 1], e);
      tables[pp - 1] = &last;
    }
    for (StageIdx s = 1; s + 1 < pp; ++s) {
      if (!middle[s]) middle[s] = solve_stage_table(s, est::embedding_cost(ctx, s, e), e);
      tables[s] = &*middle[s];
    }
    PartitionProblem pprob;
    pprob.num_micro_batches = M;
    for (StageIdx s = 0; s < pp; ++s) pprob.costs.push_back(tables[s]->cost);
    std::optional<PartitionResult> part = solve_partition(pprob);
    if (!part) continue;
    std::vector<est::StageTime> times;
    for (StageIdx s = 0; s < pp; ++s) times.push_back(tables[s]->time[part->layers_per_stage[s] - 1]);
    // A later stage's first layer reshards from the layout the previous stage's last layer
    // delivers: charged to the chosen partition (the stage tables are solved independently).
    for (StageIdx s = 1; s < pp; ++s) {
      const int n_prev = part->layers_per_stage[s - 1], n = part->layers_per_stage[s];
      const LayerStrategy& from = cands[tables[s - 1]->choice[n_prev - 1][n_prev - 1]];
      const LayerStrategy& to = cands[tables[s]->choice[n - 1][0]];
      const Milliseconds sw = est::switch_cost(ctx, s, from, to);
      times[s].micro += sw;
      if (sw.value > 0) {
        times[s].groups = 1;  // the reshard joins the stage's ranks
        times[s].calls += est::kReshardCalls;
      }
    }
    const double iteration_ms = est::iteration_time(ctx, times).value;
    const double tput = cfg.batch / (iteration_ms / 1e3);
    if (res.feasible && !(tput > res.samples_per_s)) continue;  // ties: earlier E wins

    Strategy st;
    st.num_devices = in.num_devices;
    st.pp = pp;
    st.micro_batches = M;
    st.global_batch = cfg.batch;
    st.embedding = e;
    st.pp_division = part->layers_per_stage;
    for (StageIdx s = 0; s < pp; ++s) {
      const int n = part->layers_per_stage[s];
      for (int l = 0; l < n; ++l) st.layers.push_back(cands[tables[s]->choice[n - 1][l]]);
    }
    // The stage DPs see each layer's transient and the reshard into stage 0's first layer, not
    // the other reshards' buffers (between layers, into a later stage, into the head): the
    // estimator's peak, which has them all, must also fit.
    {
      StatusOr<est::PlanEstimate> pe = est::estimate_plan(ctx, st);
      bool fits = pe.ok();
      if (fits)
        for (const est::StageEstimate& se : pe->stages)
          fits = fits && se.peak_memory.value <= o.memory_per_device.value;
      if (!fits) continue;
    }
    res.feasible = true;
    res.iteration_ms = iteration_ms;
    res.samples_per_s = tput;
    res.strategy = std::move(st);
  }
  return res;
}

/// Lower bound of a config's iteration time: every layer at its fastest candidate, even split.
double config_bound(const Inputs& in, const Config& cfg, bool* any_feasible) {
  const int pp = in.pps[cfg.pp_index];
  est::CostContext ctx = make_context(in, pp, cfg.micro_batches, cfg.batch);
  const double least_factor = est::least_solo_compute_factor(ctx);  // micro-batch at solo speed
  double best = std::numeric_limits<double>::infinity();
  for (const LayerStrategy& ls : in.candidates[cfg.pp_index]) {
    est::LayerCost c = est::transformer_layer_cost(ctx, 0, ls);
    if (!c.feasible) continue;
    best = std::min(best, c.micro_batch_time().value -
                              (c.compute.value + c.waits.value) * (1.0 - least_factor));
  }
  *any_feasible = std::isfinite(best);
  if (!*any_feasible) return best;
  const double L = in.model->num_layers;
  return L * best + (cfg.micro_batches - 1) * std::ceil(L / pp) * best;
}

std::vector<int> micro_batch_counts(int batch, int max_micro) {
  std::vector<int> out;
  for (int m = 1; m <= std::min(batch, max_micro); ++m)
    if (batch % m == 0) out.push_back(m);
  return out;
}

double log10_binomial(int n, int k) {
  return (std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0)) / std::log(10.0);
}

StatusOr<SearchResult> search_once(const ModelConfig& model, const ClusterProfile& cluster,
                                   const ModelProfile& profile, const SearchOptions& options,
                                   int num_devices) {
  Inputs in;
  in.model = &model;
  in.cluster = &cluster;
  in.profile = &profile;
  in.options = &options;
  in.num_devices = num_devices;
  SpaceStats stats;
  std::vector<int> pps = options.pp_degrees;
  if (pps.empty())
    for (int p = 1; p <= num_devices && p <= model.num_layers; p *= 2)
      if (num_devices % p == 0) pps.push_back(p);
  for (int p : pps) {
    if (num_devices % p) continue;
    if (p > model.num_layers) continue;
    std::vector<LayerStrategy> c = filter_for_model(
        enumerate_layer_strategies(num_devices / p, options.tree), model);
    if (c.empty()) continue;
    stats.layer_strategies += static_cast<int64_t>(c.size());
    in.pps.push_back(p);
    in.candidates.push_back(std::move(c));
  }
  if (in.pps.empty())
    return InvalidArgument("no pipeline degree fits " + std::to_string(model.num_layers) +
                           " layers on " + std::to_string(num_devices) + " devices");

  // Enumerate configs in a fixed order; compute bounds.
  std::vector<Config> configs;
  double log_plans = -std::numeric_limits<double>::infinity();
  for (int b : options.global_batches) {
    for (int pi = 0; pi < static_cast<int>(in.pps.size()); ++pi) {
      const int pp = in.pps[pi];
      const int n_emb = static_cast<int>(embedding_candidates(in, num_devices / pp).size());
      for (int m : micro_batch_counts(b, options.max_micro_batches)) {
        Config c;
        c.batch = b;
        c.pp_index = pi;
        c.micro_batches = m;
        bool ok = false;
        c.bound_ms = config_bound(in, c, &ok);
        stats.outer_configs += n_emb;
        if (!ok) {
          stats.pruned_configs += n_emb;
          continue;
        }
        double lp = model.num_layers * std::log10(in.candidates[pi].size()) +
                    log10_binomial(model.num_layers - 1, pp - 1) + std::log10(std::max(1, n_emb));
        log_plans = std::max(log_plans, lp) +
                    std::log10(1.0 + std::pow(10.0, std::min(log_plans, lp) - std::max(log_plans, lp)));
        configs.push_back(c);
      }
    }
  }
  stats.log10_plans = std::isfinite(log_plans) ? log_plans : 0.0;

  // Most promising first (highest throughput bound), stable on the enumeration order.
  std::vector<size_t> order(configs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return configs[a].batch / configs[a].bound_ms > configs[b].batch / configs[b].bound_ms;
  });

  std::vector<ConfigResult> results(configs.size());
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::atomic<double> best_tput{0.0};  // only grows; updated under mu
  std::atomic<int64_t> pruned{0}, dp_runs{0};
  auto worker = [&] {
    for (;;) {
      const size_t i = next.fetch_add(1);
      if (i >= order.size()) return;
      const Config& c = configs[order[i]];
      {
        std::lock_guard<std::mutex> lock(mu);
        if (c.batch / c.bound_ms * 1e3 < best_tput) {  // strictly worse: exact pruning
          pruned += static_cast<int64_t>(embedding_candidates(in, in.num_devices / in.pps[c.pp_index]).size());
          continue;
        }
      }
      ConfigResult r = solve_config(in, c, embedding_candidates(in, in.num_devices / in.pps[c.pp_index]), best_tput);
      dp_runs += r.stage_dp_runs;
      if (r.feasible) {
        std::lock_guard<std::mutex> lock(mu);
        if (r.samples_per_s > best_tput.load()) best_tput.store(r.samples_per_s);
      }
      results[order[i]] = std::move(r);
    }
  };
  int threads = options.threads > 0 ? options.threads
                                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = std::max(1, std::min<int>(threads, static_cast<int>(configs.size())));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  stats.pruned_configs += pruned.load();
  stats.stage_dp_runs = dp_runs.load();

  // Best by throughput; ties: lowest enumeration index.
  int best = -1;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].feasible) continue;
    if (best < 0 || results[i].samples_per_s > results[best].samples_per_s) best = static_cast<int>(i);
  }
  if (best < 0) return Infeasible("no plan fits");

  SearchResult out;
  out.strategy = std::move(results[best].strategy);
  out.strategy.model_fingerprint = fingerprint(model);
  out.strategy.cluster_fingerprint = fingerprint(cluster);
  est::CostContext ctx = make_context(in, out.strategy.pp, out.strategy.micro_batches,
                                      out.strategy.global_batch);
  StatusOr<est::PlanEstimate> e = est::estimate_plan(ctx, out.strategy);
  if (!e.ok()) return Internal("searched plan does not estimate: " + e.status().message());
  // The estimator and the search compose the same per-layer costs: they must agree.
  const double rel = std::abs(e->iteration.value - results[best].iteration_ms) /
                     std::max(1e-12, results[best].iteration_ms);
  PARATUNE_CHECK_MSG(rel < 1e-6, "search and estimate disagree: " +
                                     std::to_string(results[best].iteration_ms) + " vs " +
                                     std::to_string(e->iteration.value) + " ms");
  Prediction pred;
  pred.iteration = e->iteration;
  pred.samples_per_s = e->samples_per_s;
  for (const auto& st : e->stages) pred.stage_peak_memory.push_back(st.peak_memory);
  pred.profile_source = profile.source;
  out.strategy.predicted = pred;
  out.estimate = std::move(*e);
  out.stats = stats;
  return out;
}

std::string format_bytes(double b) {
  char buf[64];
  if (b >= kGiB)
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / kGiB);
  else
    std::snprintf(buf, sizeof buf, "%.2f MiB", b / kMiB);
  return buf;
}

}  // namespace

StatusOr<SearchResult> search(const ModelConfig& model, const ClusterProfile& cluster,
                              const ModelProfile& profile, const SearchOptions& options) {
  PARATUNE_RETURN_IF_ERROR(options.validate());
  PARATUNE_ASSIGN_OR_RETURN(const int n, resolve_devices(cluster, options.num_devices));
  StatusOr<SearchResult> r = search_once(model, cluster, profile, options, n);
  if (r.ok() || r.status().code() != StatusCode::kInfeasible) return r;

  // Infeasible: find the smallest limit that works (doubling, then bisection to 1%).
  SearchOptions probe = options;
  probe.threads = options.threads;
  double lo = options.memory_per_device.value, hi = lo;
  bool found = false;
  for (int i = 0; i < 12 && !found; ++i) {
    hi *= 2;
    probe.memory_per_device = Bytes(hi);
    found = search_once(model, cluster, profile, probe, n).ok();
    if (!found) lo = hi;
  }
  if (!found)
    return Infeasible("no plan fits in " + format_bytes(options.memory_per_device.value) +
                      " per device (none fits even in " + format_bytes(hi) + ")");
  while (hi - lo > 0.01 * hi) {
    const double mid = 0.5 * (lo + hi);
    probe.memory_per_device = Bytes(mid);
    if (search_once(model, cluster, profile, probe, n).ok()) hi = mid; else lo = mid;
  }
  // Suggest a limit rounded up in MiB (KiB for small models) so that it still works.
  const bool mib = hi >= 1024 * kMiB;
  const long long amount = static_cast<long long>(std::ceil(hi / (mib ? kMiB : kKiB)));
  return Infeasible("no plan fits in " + format_bytes(options.memory_per_device.value) +
                    " per device; the smallest limit that works is about " + format_bytes(hi) +
                    " (--memory-per-device " + std::to_string(amount) + (mib ? "MiB" : "KiB") + ")");
}

}  // namespace paratune::search
