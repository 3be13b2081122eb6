// Memory model (bytes per device).
//
// Model states of a layer with P parameters, TP degree t, DP degree d (per-param bytes k_*):
//   fp32 training:            k_param = 4, k_grad = 4, k_opt = 8 (Adam m, v)        = 16
//   mixed precision (bf16):   k_param = 2, k_grad = 2 (4 with fp32_grads), k_opt = 4 (fp32 master)
//                             + 8 (fp32 m, v) = 12                                    = 16 (18)
//   pure bf16/fp16:           every state in the dtype: 2 + 2 + 4                     = 8
//   ddp:   P/t * (k_param + k_grad + k_opt)
//   zero2: P/t * (k_param + (k_grad + k_opt) / d)          params replicated
//   zero3: P/t * (k_param + k_grad + k_opt) / d            everything sharded
//
// Activations kept for backward, per local sample (bytes), s = seq_len, h = hidden, a = heads,
// h_kv = kv_heads * head_dim, f = ffn_hidden, e = dtype bytes, dropout masks 1 byte, n_f = 2 MLP
// tensors of width f for GELU (fc1 output, fc2 input), 3 for SwiGLU (gate, up, product).
// Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models",
// generalised to GQA / SwiGLU / fp32; for e = 2, MHA, GELU, f = 4h it is exactly the paper's
//   no TP: s*h*(34 + 5*a*s/h),  TP t: s*h*(10 + 24/t + 5*a*s/(h*t)),  TP t + SP: that /t:
//   replicated  R = s * (e*(2h [2 norm inputs] + h [QKV input] + h [fc1 input]) + 2h [masks])
//   sharded     S = s * (e*(h [Q] + 2 h_kv [K, V] + h [proj input] + n_f f)
//                        + a*s*(2e + 1) [softmax output, dropout output, dropout mask])
//   transformer, no SP: R + S/t          with SP: (R + S)/t
//   checkpointed: only the layer input s*h*e is kept (/t with SP); during the recompute of one
//   micro-batch the layer's full activation (above) exists again as a transient.
//   LM head: final-norm input + head input 2*s*h*e (/t with SP) + logits s*(V/t)*e.
//   embedding: 0 (only token ids are kept).
// Profile activation points (per tp, sp) win over the formula; a missing (tp, sp) is the
// nearest measured point (same sp first, then closest log2 tp, then smaller tp) scaled by the
// formula's ratio analytic(tp, sp) / analytic(tp', sp').
#include "estimator/memory_model.h"

#include <cmath>
#include <cstdlib>
#include <tuple>

namespace paratune::estimator {

StateBytes state_bytes_per_param(const ModelConfig& m, const EstimatorOptions& o) {
  const double e = dtype_bytes(m.dtype);
  if (m.dtype == DType::kFp32) return StateBytes{4, 4, 8};
  if (o.mixed_precision) return StateBytes{e, o.fp32_grads ? 4.0 : e, 4 + 8};
  return StateBytes{e, e, 2 * e};
}

Bytes model_state_bytes(double params, DpType dp_type, int dp, const StateBytes& k) {
  PARATUNE_CHECK(dp >= 1);
  switch (dp_type) {
    case DpType::kDdp:
      return Bytes(params * k.total());
    case DpType::kZero2:
      return Bytes(params * (k.param + (k.grad + k.optimizer) / dp));
    case DpType::kZero3:
      return Bytes(params * k.total() / dp);
  }
  return Bytes(0);
}

Bytes analytic_activation_per_sample(const ModelConfig& m, LayerKind kind, int tp, bool sp) {
  PARATUNE_CHECK(tp >= 1);
  const double s = m.seq_len, h = m.hidden, e = dtype_bytes(m.dtype), t = tp;
  switch (kind) {
    case LayerKind::kTransformer: {
      const double a = m.heads;
      const double h_kv = static_cast<double>(m.kv_heads > 0 ? m.kv_heads : m.heads) *
                          (m.heads > 0 ? h / m.heads : 0.0);
      const double f = m.ffn_hidden;
      const double n_f = m.activation == ActivationKind::kSwiGlu ? 3 : 2;
      const double replicated = s * (e * 4 * h + 2 * h);
      const double sharded = s * (e * (2 * h + 2 * h_kv + n_f * f) + a * s * (2 * e + 1));
      return Bytes(sp ? (replicated + sharded) / t : replicated + sharded / t);
    }
    case LayerKind::kEmbedding:
      return Bytes(0);
    case LayerKind::kLmHead: {
      const double hidden_part = 2 * s * h * e;
      return Bytes((sp ? hidden_part / t : hidden_part) + s * (m.vocab / t) * e);
    }
  }
  return Bytes(0);
}

Bytes analytic_checkpoint_per_sample(const ModelConfig& m) {
  return Bytes(static_cast<double>(m.seq_len) * m.hidden * dtype_bytes(m.dtype));
}

namespace {

const LayerTypeProfile* find_type(const CostContext& ctx, LayerKind kind) {
  return ctx.profile == nullptr ? nullptr : ctx.profile->find(profile_name(kind));
}

}  // namespace

Bytes activation_per_sample(const CostContext& ctx, LayerKind kind, int tp, bool sp) {
  const Bytes analytic = analytic_activation_per_sample(*ctx.model, kind, tp, sp);
  const LayerTypeProfile* p = find_type(ctx, kind);
  if (p == nullptr || p->activation.empty()) return analytic;
  const ActivationPoint* best = nullptr;
  auto key = [&](const ActivationPoint& q) {
    return std::make_tuple(q.sp != sp, std::abs(std::log2(static_cast<double>(q.tp) / tp)), q.tp);
  };
  for (const ActivationPoint& q : p->activation) {
    if (q.tp < 1) continue;
    if (q.tp == tp && q.sp == sp) return q.bytes_per_sample;
    if (best == nullptr || key(q) < key(*best)) best = &q;
  }
  if (best == nullptr) return analytic;
  const Bytes ref = analytic_activation_per_sample(*ctx.model, kind, best->tp, best->sp);
  if (!(ref.value > 0)) return best->bytes_per_sample;
  return best->bytes_per_sample * (analytic / ref);
}

Bytes checkpoint_per_sample(const CostContext& ctx, int tp, bool sp) {
  const LayerTypeProfile* p = find_type(ctx, LayerKind::kTransformer);
  Bytes b = (p != nullptr && p->checkpoint_bytes_per_sample.value > 0)
                ? p->checkpoint_bytes_per_sample
                : analytic_checkpoint_per_sample(*ctx.model);
  return sp ? b / tp : b;
}

}  // namespace paratune::estimator
