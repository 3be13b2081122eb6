// Plan composition (the estimator's evaluate_plan).
//
// For stage s with transformer layers L_s, strategies x_l, embedding strategy x_e:
//   E_s      = embedding_cost(ctx, s, x_e)            (embedding on s = 0, head on s = pp - 1)
//   micro_s  = sum_{l in L_s} (fwd_l + bwd_l) + sum_{l in L_s, not first} switch(x_{l-1}, x_l)
//              + (fwd + bwd)(E_s) + p2p_time(ctx, s, x_last(L_s))                     [ms]
//   sync_s   = sum_{l in L_s} grad_sync_exposed_l + grad_sync_exposed(E_s)           [ms]
//   c_s      = the compute part of micro_s (LayerCost::compute of its layers and E_s)
//   G_s      = host_groups(): the sets of the stage's ranks on a host that no per-micro-batch
//              collective joins (1 when the stage reshards anywhere)
//   calls_s  = LayerCost::calls of its layers and E_s + 2 per reshard + p2p_calls(ctx, s)
//   f_s      = the forward's share of the layers' and E_s's fwd + bwd
//   T        = iteration_time(ctx, {micro, c, sync, waits, G, calls, f})   (pipeline.cpp: the 1F1B
//              formula, or with cluster.host_sharing its version for ranks that share a host's
//              cores)  [ms]
//   samples/s = B / (T / 1000)
// Memory per device of stage s (bytes):
//   base_s   = runtime_buffer_bytes + model_states(E_s)   (the cluster's device.runtime_buffer
//              when the profile has one, else EstimatorOptions::runtime_buffer_bytes)
//   peak_s   = base_s + sum_l model_states_l
//              + in_flight(s) * (sum_l activation_l + activation(E_s))
//              + transient(E_s) + max(max_l transient_l, the stage's reshard transients)
// (the head's fp32 logits and a layer's recompute / ZeRO-3 buffers are both counted: 1F1B
// interleaves them closely, and it is what the planner's per-stage problem charges).
// Resharding (switch_cost) is charged wherever the executor reshards: between consecutive
// layers of a stage, from the embedding into stage 0's first layer, from the previous stage's
// last layer (the layout the p2p delivers) into a later stage's first layer, and from the last
// layer into the LM head; each reshard's buffers (switch_transient) are a transient there.
#include "estimator/plan_estimate.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/model_config.h"

namespace paratune::estimator {

namespace {

Status agree(const char* field, int ctx_value, int strategy_value) {
  if (ctx_value == strategy_value) return Status::Ok();
  return InvalidArgument(std::string("estimate: strategy field \"") + field + "\" is " +
                         std::to_string(strategy_value) + " but the cost context has " +
                         std::to_string(ctx_value));
}

}  // namespace

StatusOr<PlanEstimate> estimate_plan(const CostContext& ctx, const Strategy& s) {
  PARATUNE_RETURN_IF_ERROR(validate(ctx));
  PARATUNE_RETURN_IF_ERROR(validate(s, *ctx.model, "strategy"));
  PARATUNE_RETURN_IF_ERROR(agree("num_devices", ctx.num_devices, s.num_devices));
  PARATUNE_RETURN_IF_ERROR(agree("pp", ctx.pp, s.pp));
  PARATUNE_RETURN_IF_ERROR(agree("micro_batches", ctx.micro_batches, s.micro_batches));
  PARATUNE_RETURN_IF_ERROR(agree("global_batch", ctx.global_batch, s.global_batch));

  PlanEstimate e;
  e.profile_source = ctx.profile_source();
  std::vector<StageTime> times;
  for (StageIdx st = 0; st < s.pp; ++st) {
    const LayerCost emb = embedding_cost(ctx, st, s.embedding);
    if (!emb.feasible) {
      return Infeasible("estimate: embedding/head strategy " + to_string(s.embedding) +
                        " on stage " + std::to_string(st) + ": " + emb.why_not);
    }
    if (st == 0) e.embedding_first = emb;
    if (st == s.pp - 1) e.lm_head_last = emb;

    StageEstimate se;
    se.in_flight = in_flight_micro_batches(s.pp, st, s.micro_batches);
    se.p2p = p2p_time(ctx, st, s.layers[s.first_layer(st) + s.pp_division[st] - 1]);
    if (!std::isfinite(se.p2p.value)) {
      return Infeasible("estimate: cluster profile \"" + ctx.cluster->name +
                        "\" has no p2p or collective data for stage " + std::to_string(st));
    }
    se.micro_batch_time = emb.forward + emb.backward + se.p2p;
    se.micro_batch_compute = emb.compute;
    se.micro_batch_waits = emb.waits;
    Milliseconds host_comm = emb.host_comm;
    Milliseconds forward = emb.forward, backward = emb.backward;
    double calls = emb.calls + p2p_calls(ctx, st);
    se.sync_exposed = emb.grad_sync_exposed;
    Bytes activation = emb.activation_per_micro_batch;
    Bytes layer_transient;
    bool reshards = false;
    std::vector<LayerStrategy> stage_layers;

    const LayerIdx first = s.first_layer(st);
    for (LayerIdx l = first; l < first + s.pp_division[st]; ++l) {
      LayerEstimate le;
      le.layer = l;
      le.strategy = s.layers[l];
      le.cost = transformer_layer_cost(ctx, st, le.strategy);
      if (!le.cost.feasible) {
        return Infeasible("estimate: layer " + std::to_string(l) + " (" + to_string(le.strategy) +
                          "): " + le.cost.why_not);
      }
      // From the previous layer, or at the stage's first layer from the embedding (stage 0) or
      // from the previous stage's last layer, whose layout the p2p delivers.
      const LayerStrategy& prev = l > 0 ? s.layers[l - 1] : s.embedding;
      le.switch_in = switch_cost(ctx, st, prev, le.strategy);
      if (!std::isfinite(le.switch_in.value)) {
        return Infeasible("estimate: cluster profile \"" + ctx.cluster->name +
                          "\" has no data to reshard into layer " + std::to_string(l));
      }
      layer_transient = std::max(layer_transient, switch_transient(ctx, st, prev, le.strategy));
      reshards = reshards || le.switch_in.value > 0;
      calls += le.cost.calls + (le.switch_in.value > 0 ? kReshardCalls : 0.0);
      stage_layers.push_back(le.strategy);
      se.micro_batch_time += le.cost.forward + le.cost.backward + le.switch_in;
      se.micro_batch_compute += le.cost.compute;
      forward += le.cost.forward;
      backward += le.cost.backward;
      se.micro_batch_waits += le.cost.waits;
      host_comm += le.cost.host_comm;
      se.sync_exposed += le.cost.grad_sync_exposed;
      se.model_states += le.cost.model_states;
      activation += le.cost.activation_per_micro_batch;
      layer_transient = std::max(layer_transient, le.cost.transient);
      e.layers.push_back(le);
    }
    if (st == s.pp - 1) {
      se.switch_out = switch_cost(ctx, st, s.layers.back(), s.embedding);
      if (!std::isfinite(se.switch_out.value)) {
        return Infeasible("estimate: cluster profile \"" + ctx.cluster->name +
                          "\" has no data to reshard into the LM head");
      }
      se.micro_batch_time += se.switch_out;
      reshards = reshards || se.switch_out.value > 0;
      calls += se.switch_out.value > 0 ? kReshardCalls : 0.0;
      layer_transient =
          std::max(layer_transient, switch_transient(ctx, st, s.layers.back(), s.embedding));
    }
    se.activations = activation * se.in_flight;
    se.transient = emb.transient + layer_transient;
    se.base = Bytes(ctx.runtime_buffer_bytes()) + emb.model_states;
    se.peak_memory = se.base + se.model_states + se.activations + se.transient;
    se.host_sets = host_groups(ctx, st, s.embedding, stage_layers, reshards);
    se.calls = calls;
    times.push_back({se.micro_batch_time, se.micro_batch_compute, se.sync_exposed,
                     se.micro_batch_waits, se.host_sets, calls});
    times.back().host_comm = host_comm;
    if ((forward + backward).value > 0)
      times.back().forward_share = forward.value / (forward + backward).value;
    se.shared_micro = shared_micro(ctx, st, times.back());
    e.stages.push_back(se);
  }
  e.iteration = iteration_time(ctx, times);
  e.samples_per_s = e.iteration.value > 0 ? s.global_batch / (e.iteration.value / 1e3) : 0.0;
  return e;
}

Prediction to_prediction(const PlanEstimate& e) {
  Prediction p;
  p.iteration = e.iteration;
  p.samples_per_s = e.samples_per_s;
  for (const StageEstimate& s : e.stages) p.stage_peak_memory.push_back(s.peak_memory);
  p.profile_source = e.profile_source;
  return p;
}

}  // namespace paratune::estimator
