// Layer cost = compute (compute_model.cpp) + communication (comm_model.cpp) + memory
// (memory_model.cpp) of one layer under LayerStrategy {t = tp, d = dp, dp_type, sp, ckpt} on
// stage s. Per micro-batch quantities use the local micro-batch b = B / M / d samples
// (B = global batch, M = micro-batches); e = dtype bytes; A = b * seq * hidden * e bytes is the
// layer's input/output activation; P = parameters of the layer's TP shard; k_param, k_grad =
// bytes per parameter (memory_model.cpp).
//
// Transformer layer (Megatron TP):
//   tp_one   = allreduce(A) over the TP group        (SP: allgather(A) + reduce_scatter(A), the
//              same bus traffic 2(t-1)/t * A)
//   forward  = F(b, t) (ckpt: F0(b, t)) + 2 tp_one + gather_fwd
//   backward = W(b, t) + [ckpt] F(b, t) + (2 + [ckpt] 2) tp_one + gather_bwd
//              (the recompute repeats the forward's two TP collectives)
//   F, W = compute_model forward / backward; F0 = its forward without autograd (a checkpointed
//   layer's first forward records no graph: the executor runs it under no_grad; measured by
//   profile-model, F where not measured; times the calibration's `checkpoint` scale);
//   gather_* = ZeRO-3 parameter allgather below.
// Embedding (first stage, vocab-parallel): forward = F_emb + allreduce(A) (SP: reduce_scatter);
//   backward = W_emb (no input gradient to send).
// LM head + loss (last stage): forward = F_head + [SP] allgather(A) + 3 allreduce(b*seq*4 bytes)
//   (vocab-parallel cross-entropy: max, sum of exp, target logit); backward = W_head +
//   allreduce(A) (SP: reduce_scatter(A)).
//
// Data parallelism (group of d ranks, collectives priced with comm_model.cpp):
//   ddp:   reduce = allreduce(P * k_grad)                              once per iteration
//   zero2: backward += reduce_scatter(P * k_grad) per micro-batch (only the shard is kept, so
//          each micro-batch's gradient is reduced right after the layer's backward, as the
//          executor does); after_step = allgather(P * k_param)
//   zero3: backward += reduce_scatter(P * k_grad) per micro-batch; gather_fwd = gather_bwd =
//          allgather(P * k_param) (the recompute reuses the backward gather). Issued right
//          before the layer's compute (added to it), or with overlap_zero3_gather overlapped
//          with it: forward = overlapped_time(F, gather) (overlap.cpp).
//   Arrival waits (cluster.arrival_waits, comm_model.cpp): each blocking collective issued right
//   after compute also pays wait(that compute): TP's 2 (+2 ckpt) per direction (x2 with SP)
//   after an equal share of the direction's compute; the embedding's and the head's after
//   theirs; ZeRO's reduce-scatter after the layer's backward and ZeRO-3's forward gather after
//   the previous unit's forward, but only where that compute did not end with a TP collective
//   (tp > 1: the layer's last TP collective leaves only a residual add or a norm, so the ranks
//   arrive in step); ZeRO-3's backward gather never (it follows the previous unit's
//   reduce-scatter over the same group). DDP's end-of-iteration allreduce is not charged one.
//   Their sum is reported as LayerCost::waits: the pipeline model shrinks them with the compute
//   when a stage runs while the rest of its host is idle (pipeline.cpp).
//   Calls (LayerCost::calls): the blocking collectives of one micro-batch on one rank, each of
//   which takes CPU from ranks sharing the host (pipeline.cpp's T2): TP's 2 + (2 | 4 ckpt) (x2
//   with SP) + SP's replicated-gradient sync, ZeRO's reduce-scatter, ZeRO-3's two gathers; the
//   embedding's collective (+ SP's allgather and positions' sync), the head's 3 + 1 (+ SP's
//   allgather and norm sync). DDP's per-iteration allreduce is not a per-micro-batch call.
//   Each call also adds scales.call_ms (TermScales; 0 by default) to its direction's time: the
//   forward's TP collectives and ZeRO-3 gather to the forward, the rest to the backward.
//   DDP's allreduce and ZeRO-2's allgather are bucketed: latency charged
//   (P * k_grad) / grad_bucket_bytes times; the per-layer reduce-scatter is one call.
//   grad_sync         = reduce + M * per-micro-batch reduce-scatter + after_step (reported)
//   grad_sync_exposed = overlap_exposed(backward, reduce) + after_step  (overlap_grad_sync:
//                       the reduction overlaps with the last micro-batch's backward, slowed by
//                       the cluster's coefficients; the ZeRO-2 allgather follows the optimizer
//                       step and cannot overlap)  |  reduce + after_step  (no overlap)
//   optimizer = optimizer_step_time(P, or P / d with ZeRO over d > 1)  (compute_model.cpp; the
//               gradient norm, clipping, Adam and zeroing of the rank's own parameters, after
//               the sync; added to grad_sync_exposed)
//   Tied embeddings with pp > 1: the first and last stage also allreduce the embedding matrix's
//   gradient shard (vocab*hidden/t * k_grad) between them (2 ranks), exposed.
//
// Memory (bytes per device):
//   model_states = model_state_bytes(P, dp_type, d)
//   activation   = b * act(t, sp)               (no ckpt)  |  b * ckpt_input(t, sp)   (ckpt)
//   transient    = [ckpt] b * act(t, sp) (the recomputed micro-batch)
//                + P * k_grad (autograd's gradient of the unit, accumulated in place: ddp)
//                  zero2/3, d > 1: max of that and (2 + 1/d) * P * k_grad - [!ckpt]
//                  activation (flat copy + alltoall buffer + the reduce-scattered 1/d, made
//                  after the unit's backward has freed its saved activations and buffers)
//                + [zero3, d > 1] P * k_param (the gathered full shard)
//                + [LM head] n_l * b * seq * vocab/t * 4: fp32 logits-sized buffers alive at the
//                  loss's backward besides the kept log-probabilities, n_l = 2 at tp 1
//                  (log_softmax + nll_loss: the gradients of the log-probabilities and of the
//                  logits), 3 with the vocab-parallel cross-entropy (tp > 1: also its exp
//                  buffer) -- the executor's peak per extra sample measured with its tracking
//                  allocator (tests/profiler/profiler_dist_test.cpp)
#include "estimator/layer_cost.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "estimator/comm_model.h"
#include "estimator/compute_model.h"
#include "estimator/layer_kind.h"
#include "estimator/memory_model.h"
#include "estimator/overlap.h"

namespace paratune::estimator {

namespace {

// "" when the layout is possible for this layer kind, else why not.
std::string check_layout(const CostContext& ctx, const LayerStrategy& ls, bool transformer) {
  const ModelConfig& m = *ctx.model;
  const int g = ctx.devices_per_stage();
  const std::string t = std::to_string(ls.tp);
  if (ls.tp < 1 || ls.dp < 1 || ls.tp * ls.dp != g) {
    return "tp " + t + " x dp " + std::to_string(ls.dp) + " != " + std::to_string(g) +
           " devices per stage";
  }
  if (m.hidden % ls.tp != 0) {
    return "hidden " + std::to_string(m.hidden) + " not divisible by tp " + t;
  }
  if (transformer) {
    const int kv = m.kv_heads > 0 ? m.kv_heads : m.heads;
    if (m.heads % ls.tp != 0)
      return "heads " + std::to_string(m.heads) + " not divisible by tp " + t;
    if (kv % ls.tp != 0) return "kv_heads " + std::to_string(kv) + " not divisible by tp " + t;
    if (m.ffn_hidden % ls.tp != 0) {
      return "ffn_hidden " + std::to_string(m.ffn_hidden) + " not divisible by tp " + t;
    }
  } else if (m.vocab % ls.tp != 0) {
    return "vocab " + std::to_string(m.vocab) + " not divisible by tp " + t;
  }
  if (ls.sp && ls.tp == 1) return "sequence parallel needs tp > 1";
  if (ls.sp && m.seq_len % ls.tp != 0) {
    return "seq_len " + std::to_string(m.seq_len) + " not divisible by tp " + t + " (sp)";
  }
  return "";
}

// What a layer kind contributes before the data-parallel part is added.
struct Parts {
  Milliseconds fwd_compute, bwd_compute;  // incl. recompute
  Milliseconds fwd_tp, bwd_tp;
  double params = 0;  // of this device's TP shard
  Bytes activation, transient;
  Bytes forward_transient;  // alive only inside the forward (no gradient yet)
  Milliseconds extra_sync;  // exposed, not overlappable (tied-embedding allreduce)
  // The direction's compute ends with a TP collective (only a residual add or a norm after
  // it): the group is in step when the ZeRO collective that follows is issued.
  bool fwd_ends_synced = false, bwd_ends_synced = false;
  Milliseconds waits;  // the arrival waits in fwd_tp + bwd_tp
  double calls = 0;    // TP collective calls per micro-batch (LayerCost::calls)
  double fwd_calls = 0;  // those of them in the forward

  // Charges an arrival wait to a direction's TP time and reports it in `waits`.
  void add_wait(Milliseconds* tp, Milliseconds wait) {
    *tp += wait;
    waits += wait;
  }
};

// Sequence parallelism's per-micro-batch allreduce of the TP-replicated parameters'
// gradients (`params` of them) over the TP group.
Milliseconds sp_replicated_sync(const CostContext& ctx, CommPricer& price, const GroupShape& tpg,
                                double params) {
  if (params <= 0) return Milliseconds(0);
  return price.collective(CommUse::kTensor, CollectiveOp::kAllReduce, tpg,
                          Bytes(params * state_bytes_per_param(ctx).grad));
}

// Adds data parallelism (ZeRO-3 gathers, gradient sync, model states) to `parts`.
LayerCost finish(const CostContext& ctx, StageIdx stage, const LayerStrategy& ls,
                 const Parts& parts, CommPricer& price) {
  LayerCost c;
  const StateBytes k = state_bytes_per_param(ctx);
  const GroupShape dpg = dp_group_shape(ctx, stage, ls);
  const bool zero3 = ls.dp_type == DpType::kZero3 && ls.dp > 1;

  Milliseconds fwd = parts.fwd_compute, bwd = parts.bwd_compute;
  if (zero3) {
    const Milliseconds gather = price.collective(CommUse::kData, CollectiveOp::kAllGather, dpg,
                                                 Bytes(parts.params * k.param));
    if (ctx.options.overlap_zero3_gather) {
      fwd = overlapped_time(fwd, gather, ctx.cluster->overlap);
      bwd = overlapped_time(bwd, gather, ctx.cluster->overlap);
    } else {
      // Issued after the previous unit's forward: its slowest rank is waited for, unless that
      // compute ended with a TP collective. The backward gather follows the previous unit's
      // reduce-scatter over the same group, so the ranks arrive in step: no wait.
      const Milliseconds wait =
          parts.fwd_ends_synced ? Milliseconds(0) : price.wait(dpg, parts.fwd_compute);
      fwd += gather + wait;
      c.waits += wait;
      bwd += gather;
    }
  }
  c.zero3_gather = (fwd - parts.fwd_compute) + (bwd - parts.bwd_compute);
  c.calls = parts.calls + (zero3 ? 2.0 : 0.0) +
            (ls.dp > 1 && ls.dp_type != DpType::kDdp ? 1.0 : 0.0);  // + the reduce-scatter
  c.compute = parts.fwd_compute + parts.bwd_compute;
  c.tp_comm = parts.fwd_tp + parts.bwd_tp;
  if (ls.tp > 1 && tp_group_shape(ctx, stage, ls).placement == Placement::kIntraIsland)
    c.host_comm = Milliseconds(std::max(0.0, (c.tp_comm - parts.waits).value));
  c.forward = fwd + parts.fwd_tp;
  c.backward = bwd + parts.bwd_tp;
  // The calibration's charge per blocking call (TermScales::call_ms), in the direction of the
  // call: the forward's TP collectives and ZeRO-3 gather, the rest in the backward.
  const double fwd_calls = parts.fwd_calls + (zero3 ? 1.0 : 0.0);
  c.forward += Milliseconds(ctx.options.scales.call_ms * fwd_calls);
  c.backward += Milliseconds(ctx.options.scales.call_ms * (c.calls - fwd_calls));

  const Bytes grad_bytes(parts.params * k.grad);
  const double calls =
      ctx.options.grad_bucket_bytes > 0 ? grad_bytes.value / ctx.options.grad_bucket_bytes : 1.0;
  Milliseconds reduce, after_step, per_micro_reduce;
  switch (ls.dp_type) {
    case DpType::kDdp:
      reduce = price.collective(CommUse::kData, CollectiveOp::kAllReduce, dpg, grad_bytes, calls);
      break;
    case DpType::kZero2:
      per_micro_reduce =
          price.collective(CommUse::kData, CollectiveOp::kReduceScatter, dpg, grad_bytes);
      after_step = price.collective(CommUse::kData, CollectiveOp::kAllGather, dpg,
                                    Bytes(parts.params * k.param), calls);
      break;
    case DpType::kZero3:
      per_micro_reduce =
          price.collective(CommUse::kData, CollectiveOp::kReduceScatter, dpg, grad_bytes);
      break;
  }
  // ZeRO-2/3 keep only the gradient shard, so the executor reduce-scatters each micro-batch's
  // gradient right after the layer's backward (one collective per layer, blocking): it is part
  // of every micro-batch's backward, not of the iteration's end.
  if (ls.dp <= 1) per_micro_reduce = Milliseconds(0);
  else if (ls.dp_type != DpType::kDdp && !parts.bwd_ends_synced) {
    const Milliseconds wait = price.wait(dpg, parts.bwd_compute);
    per_micro_reduce += wait;
    c.waits += wait;
  }
  c.waits += parts.waits;
  c.backward += per_micro_reduce;
  const int micro = std::max(ctx.micro_batches, 1);
  c.grad_sync = reduce + per_micro_reduce * micro + after_step + parts.extra_sync;
  // The optimizer step runs on the parameters this rank updates: its TP shard, and with ZeRO
  // over d > 1 ranks 1/d of it.
  const bool sharded_opt = ls.dp_type != DpType::kDdp && ls.dp > 1;
  c.optimizer = optimizer_step_time(ctx, sharded_opt ? parts.params / ls.dp : parts.params);
  c.grad_sync_exposed =
      (ctx.options.overlap_grad_sync ? overlap_exposed(c.backward, reduce, ctx.cluster->overlap)
                                     : reduce) +
      after_step + parts.extra_sync + c.optimizer;

  c.model_states = model_state_bytes(parts.params, ls.dp_type, ls.dp, k);
  c.activation_per_micro_batch = parts.activation;
  // Backward transient of the gradient (executor/sharded_unit.cpp add_grads): autograd's
  // gradient, P * k_grad, while it is accumulated (ddp); zero2/3 over d > 1: a flat copy, the
  // reduce-scatter's alltoall buffer and its 1/d result, (2 + 1/d) * P * k_grad.
  // The flat copy is made after autograd has finished the unit's backward, when the
  // micro-batch's saved activations (not a checkpoint's kept input) and the backward's own
  // buffers are already freed, so the two phases peak separately:
  //   during: parts.transient + P * k_grad   after: (2 + 1/d) P k_grad - [!ckpt] activation.
  const bool sharded_grad = ls.dp_type != DpType::kDdp && ls.dp > 1;
  c.transient = parts.transient + grad_bytes;
  if (sharded_grad) {
    const Bytes after = grad_bytes * (2.0 + 1.0 / ls.dp) -
                        (ls.checkpoint ? Bytes(0) : parts.activation);
    c.transient = Bytes(std::max(c.transient.value, after.value));
  }
  // A forward-only transient (SP's allgather buffers) while no gradient exists yet.
  c.transient = Bytes(std::max(c.transient.value, parts.forward_transient.value));
  if (zero3) c.transient += Bytes(parts.params * k.param);  // the gathered full parameters
  if (!price.missing().empty()) return infeasible_cost(price.missing());
  return c;
}

// Gradient allreduce of the tied embedding matrix between the first and the last stage.
Milliseconds tied_embedding_sync(const CostContext& ctx, const LayerStrategy& ls,
                                 CommPricer& price) {
  const ModelConfig& m = *ctx.model;
  if (!m.tied_embeddings || ctx.pp == 1) return Milliseconds(0);
  const int g = ctx.devices_per_stage();
  GroupShape pair{2, Placement::kIntraIsland, g == 1 && ctx.pp == 2};
  for (int i = 0; i < g; ++i) {
    if (island_of_rank(ctx, i) != island_of_rank(ctx, (ctx.pp - 1) * g + i)) {
      pair.placement = Placement::kInterIsland;
    }
  }
  const double matrix = static_cast<double>(m.vocab) * m.hidden / ls.tp;
  return price.collective(CommUse::kData, CollectiveOp::kAllReduce, pair,
                          Bytes(matrix * state_bytes_per_param(ctx).grad));
}

}  // namespace

LayerCost infeasible_cost(std::string why_not) {
  LayerCost c;
  c.feasible = false;
  c.why_not = std::move(why_not);
  return c;
}

LayerCost transformer_layer_cost(const CostContext& ctx, StageIdx stage, const LayerStrategy& ls) {
  PARATUNE_CHECK(stage >= 0 && stage < ctx.pp);
  const std::string bad = check_layout(ctx, ls, /*transformer=*/true);
  if (!bad.empty()) return infeasible_cost(bad);
  std::string why;
  const int b = local_micro_batch(ctx, ls.dp, &why);
  if (b == 0) return infeasible_cost(why);

  const ModelConfig& m = *ctx.model;
  CommPricer price(*ctx.cluster, &ctx.options.scales, ctx.options.comm_samples);
  const GroupShape tpg = tp_group_shape(ctx, stage, ls);
  const Bytes act(static_cast<double>(b) * m.seq_len * m.hidden * dtype_bytes(m.dtype));
  const Milliseconds tp_one =
      ls.sp ? price.collective(CommUse::kTensor, CollectiveOp::kAllGather, tpg, act) +
                  price.collective(CommUse::kTensor, CollectiveOp::kReduceScatter, tpg, act)
            : price.collective(CommUse::kTensor, CollectiveOp::kAllReduce, tpg, act);
  const ComputeTime ct = compute_time(ctx, LayerKind::kTransformer, b, ls.tp);

  Parts p;
  p.fwd_compute = ls.checkpoint ? ct.forward_no_grad * ctx.options.scales.checkpoint : ct.forward;
  p.bwd_compute = ct.backward + (ls.checkpoint ? ct.forward : Milliseconds(0));
  p.fwd_tp = tp_one * 2.0;
  p.bwd_tp = tp_one * (ls.checkpoint ? 4.0 : 2.0);
  // Each TP collective follows its share of the compute and waits for the slowest TP rank.
  const double per_one = ls.sp ? 2.0 : 1.0;  // collectives per tp_one
  const double fwd_calls = 2.0 * per_one, bwd_calls = (ls.checkpoint ? 4.0 : 2.0) * per_one;
  p.add_wait(&p.fwd_tp, price.wait(tpg, p.fwd_compute / fwd_calls) * fwd_calls);
  p.add_wait(&p.bwd_tp, price.wait(tpg, p.bwd_compute / bwd_calls) * bwd_calls);
  p.fwd_ends_synced = p.bwd_ends_synced = ls.tp > 1;
  if (ls.tp > 1) {
    p.calls = fwd_calls + bwd_calls + (ls.sp ? 1.0 : 0.0);  // + SP's sync below
    p.fwd_calls = fwd_calls;
  }
  const double replicated = static_cast<double>(m.layer_tp_replicated_param_count());
  p.params = (static_cast<double>(m.layer_param_count()) - replicated) / ls.tp + replicated;
  // With SP the norms and row-parallel biases see only this rank's part of the sequence: the
  // executor allreduces their gradients over the TP group after each micro-batch's backward
  // (executor/sharded_unit.cpp add_grads). It follows the backward's last TP collective and a
  // norm's backward: the ranks arrive in step.
  if (ls.sp && ls.tp > 1) p.bwd_tp += sp_replicated_sync(ctx, price, tpg, replicated);
  const Bytes full = activation_per_sample(ctx, LayerKind::kTransformer, ls.tp, ls.sp) * b;
  if (ls.checkpoint) {
    p.activation = checkpoint_per_sample(ctx, ls.tp, ls.sp) * b;
    p.transient = full;
  } else {
    p.activation = full;
  }
  // SP's allgather of the sequence: the executor's list of gathered shards plus Gloo's own flat
  // output (ProcessGroupGloo gathers into one new tensor and copies it out), 2 x the full
  // micro-batch activation, before the concatenated result exists.
  if (ls.sp && ls.tp > 1) p.forward_transient = act * 2.0;
  return finish(ctx, stage, ls, p, price);
}

LayerCost embedding_cost(const CostContext& ctx, StageIdx stage, const LayerStrategy& ls) {
  PARATUNE_CHECK(stage >= 0 && stage < ctx.pp);
  const bool first = stage == 0, last = stage == ctx.pp - 1;
  if (!first && !last) return LayerCost{};
  const std::string bad = check_layout(ctx, ls, /*transformer=*/false);
  if (!bad.empty()) return infeasible_cost(bad);
  std::string why;
  const int b = local_micro_batch(ctx, ls.dp, &why);
  if (b == 0) return infeasible_cost(why);

  const ModelConfig& m = *ctx.model;
  CommPricer price(*ctx.cluster, &ctx.options.scales, ctx.options.comm_samples);
  const GroupShape tpg = tp_group_shape(ctx, stage, ls);
  const Bytes act(static_cast<double>(b) * m.seq_len * m.hidden * dtype_bytes(m.dtype));
  const double matrix = static_cast<double>(m.vocab) * m.hidden;  // vocab x hidden weights

  Parts p;
  if (first) {
    const ComputeTime ct = compute_time(ctx, LayerKind::kEmbedding, b, ls.tp);
    p.fwd_compute += ct.forward;
    p.bwd_compute += ct.backward;
    p.fwd_tp += price.collective(CommUse::kTensor,
                                 ls.sp ? CollectiveOp::kReduceScatter : CollectiveOp::kAllReduce,
                                 tpg, act);
    p.add_wait(&p.fwd_tp, price.wait(tpg, ct.forward));
    if (ls.tp > 1) p.calls += 1, p.fwd_calls += 1;
    p.params += matrix / ls.tp + (static_cast<double>(m.embedding_param_count()) - matrix);
    if (ls.sp && ls.tp > 1) {
      // The reduce-scatter's backward allgathers the output gradient; after the lookup's
      // backward the learned positions' gradient (each rank has its part of the sequence) is
      // allreduced, so the slowest rank's backward is waited for.
      p.bwd_tp += price.collective(CommUse::kTensor, CollectiveOp::kAllGather, tpg, act);
      const Milliseconds sync = sp_replicated_sync(
          ctx, price, tpg, static_cast<double>(m.embedding_tp_replicated_param_count()));
      p.bwd_tp += sync;
      if (sync.value > 0) p.add_wait(&p.bwd_tp, price.wait(tpg, ct.backward));
      p.calls += 1 + (sync.value > 0 ? 1 : 0);
    }
    p.activation += activation_per_sample(ctx, LayerKind::kEmbedding, ls.tp, ls.sp) * b;
  }
  // Forward: the embedding ends with its TP allreduce, the head with the loss's. Backward: the
  // head ends with its input gradient's; the embedding sends none, except SP's positions sync.
  p.fwd_ends_synced = ls.tp > 1;
  p.bwd_ends_synced =
      ls.tp > 1 && (!first || (ls.sp && m.embedding_tp_replicated_param_count() > 0));
  if (last) {
    const ComputeTime ct = compute_time(ctx, LayerKind::kLmHead, b, ls.tp);
    p.fwd_compute += ct.forward;
    p.bwd_compute += ct.backward;
    if (ls.sp) p.fwd_tp += price.collective(CommUse::kTensor, CollectiveOp::kAllGather, tpg, act);
    p.fwd_tp += price.collective(CommUse::kTensor, CollectiveOp::kAllReduce, tpg,
                                 Bytes(static_cast<double>(b) * m.seq_len * 4)) *
                3.0;
    p.bwd_tp +=
        price.collective(CommUse::kTensor,
                         ls.sp ? CollectiveOp::kReduceScatter : CollectiveOp::kAllReduce, tpg, act);
    // The loss's collectives follow the head's compute, its input gradient the backward's.
    p.add_wait(&p.fwd_tp, price.wait(tpg, ct.forward));
    p.add_wait(&p.bwd_tp, price.wait(tpg, ct.backward));
    // SP: the final norm's gradient, after the input gradient's reduce-scatter (in step).
    if (ls.sp && ls.tp > 1) {
      const Milliseconds sync = sp_replicated_sync(
          ctx, price, tpg, static_cast<double>(m.head_tp_replicated_param_count()));
      p.bwd_tp += sync;
      p.calls += sync.value > 0 ? 1 : 0;
    }
    // The loss's 3 allreduces and the input gradient's collective (+ SP's allgather).
    if (ls.tp > 1) p.calls += 4 + (ls.sp ? 1 : 0), p.fwd_calls += 3 + (ls.sp ? 1 : 0);
    // Untied: the head owns its matrix. Tied: it shares the embedding's on a single stage and
    // keeps a copy on the last stage otherwise.
    const double head_matrix = m.tied_embeddings ? (first ? 0.0 : matrix) : matrix;
    const double head_rest =
        static_cast<double>(m.head_param_count()) - (m.tied_embeddings ? 0.0 : matrix);
    p.params += head_matrix / ls.tp + head_rest;
    p.activation += activation_per_sample(ctx, LayerKind::kLmHead, ls.tp, ls.sp) * b;
    const double logits_buffers = ls.tp == 1 ? 2.0 : 3.0;
    p.transient +=
        Bytes(logits_buffers * static_cast<double>(b) * m.seq_len * (m.vocab / ls.tp) * 4.0);
  }
  p.extra_sync = tied_embedding_sync(ctx, ls, price);
  return finish(ctx, stage, ls, p, price);
}

}  // namespace paratune::estimator
