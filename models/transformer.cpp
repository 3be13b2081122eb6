#include "models/transformer.h"

#include <cmath>

namespace paratune::models {

namespace {

const at::Tensor& get(const ParamMap& p, const std::string& name) {
  auto it = p.find(name);
  TORCH_CHECK(it != p.end(), "paratune: missing parameter ", name);
  return it->second;
}

at::Tensor opt(const ParamMap& p, const std::string& name) {
  auto it = p.find(name);
  return it == p.end() ? at::Tensor() : it->second;
}

at::Tensor norm(const ModelConfig& cfg, const ParamMap& p, const std::string& prefix,
                const at::Tensor& x) {
  const at::Tensor& w = get(p, prefix + ".w");
  if (cfg.norm == NormKind::kLayerNorm)
    return at::layer_norm(x, {x.size(-1)}, w, get(p, prefix + ".b"), cfg.norm_eps);
  at::Tensor r = at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + cfg.norm_eps);
  return x * r * w;
}

at::Tensor linear(const ParamMap& p, const std::string& name, const at::Tensor& x,
                  bool with_bias = true) {
  return at::linear(x, get(p, name), with_bias ? opt(p, name + "_b") : at::Tensor());
}

// Rotary embedding (rotate-half form) on [b, heads, seq, head_dim], positions 0..seq-1.
at::Tensor rope(const at::Tensor& x) {
  const int64_t s = x.size(2), hd = x.size(3), half = hd / 2;
  auto fopts = x.options();
  at::Tensor inv = at::pow(10000.0, -at::arange(0, half, fopts) * (2.0 / hd));
  at::Tensor ang = at::arange(0, s, fopts).unsqueeze(1) * inv.unsqueeze(0);  // [s, half]
  at::Tensor cos = ang.cos(), sin = ang.sin();
  at::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  return at::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1);
}

at::Tensor attention(const ModelConfig& cfg, const ParamMap& p, const at::Tensor& h,
                     TpHooks& tp) {
  const int64_t b = h.size(0), s = h.size(1), hd = cfg.head_dim();
  const int64_t hq = cfg.heads / tp.size(), hkv = cfg.kv_heads / tp.size();
  at::Tensor q = linear(p, "wq", h).view({b, s, hq, hd}).transpose(1, 2);
  at::Tensor k = linear(p, "wk", h).view({b, s, hkv, hd}).transpose(1, 2);
  at::Tensor v = linear(p, "wv", h).view({b, s, hkv, hd}).transpose(1, 2);
  if (cfg.position == PositionKind::kRope) {
    q = rope(q);
    k = rope(k);
  }
  if (hkv != hq) {
    k = k.repeat_interleave(hq / hkv, 1);
    v = v.repeat_interleave(hq / hkv, 1);
  }
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(double(hd)));
  at::Tensor mask = at::ones({s, s}, h.options().dtype(at::kBool)).triu(1);
  scores = scores.masked_fill(mask, -std::numeric_limits<float>::infinity());
  at::Tensor ctx = at::matmul(at::softmax(scores, -1), v);  // [b, hq, s, hd]
  ctx = ctx.transpose(1, 2).reshape({b, s, hq * hd});
  return at::linear(ctx, get(p, "wo"));
}

at::Tensor mlp(const ModelConfig& cfg, const ParamMap& p, const at::Tensor& h) {
  if (cfg.activation == ActivationKind::kGelu)
    return at::linear(at::gelu(linear(p, "fc1", h), "tanh"), get(p, "fc2"));
  return at::linear(at::silu(linear(p, "gate", h)) * linear(p, "up", h), get(p, "down"));
}

at::Tensor add_bias(const ParamMap& p, const std::string& name, const at::Tensor& x) {
  at::Tensor b = opt(p, name + "_b");
  return b.defined() ? x + b : x;
}

}  // namespace

at::Tensor TpHooks::vocab_parallel_ce(const at::Tensor& logits, const at::Tensor& targets,
                                      int64_t vocab_start) {
  TORCH_CHECK(vocab_start == 0 && size() == 1, "paratune: TpHooks::vocab_parallel_ce needs tp=1");
  return at::nll_loss(at::log_softmax(logits, -1), targets, {}, at::Reduction::None);
}

at::Tensor embedding_forward(const ModelConfig& cfg, const ParamMap& p, const at::Tensor& tokens,
                             TpHooks& tp) {
  const at::Tensor& tok = get(p, "tok");
  at::Tensor x;
  if (tp.size() == 1) {
    x = at::embedding(tok, tokens);
  } else {
    const int64_t n = tok.size(0), start = tp.rank() * n;
    at::Tensor outside = (tokens < start).logical_or(tokens >= start + n);
    at::Tensor local = (tokens - start).masked_fill(outside, 0);
    x = at::embedding(tok, local).masked_fill(outside.unsqueeze(-1), 0.0);
  }
  x = tp.exit(x);  // sum of the vocab shards (reduce-scatter along the sequence with SP)
  if (cfg.position == PositionKind::kLearned) {
    const int64_t s = x.size(1), off = tp.sp() ? tp.rank() * s : 0;
    x = x + get(p, "pos").narrow(0, off, s);
  }
  return x;
}

at::Tensor layer_forward(const ModelConfig& cfg, const ParamMap& p, const at::Tensor& x,
                         TpHooks& tp) {
  at::Tensor a = tp.exit(attention(cfg, p, tp.enter(norm(cfg, p, "norm1", x)), tp));
  at::Tensor h = x + add_bias(p, "wo", a);
  at::Tensor m = tp.exit(mlp(cfg, p, tp.enter(norm(cfg, p, "norm2", h))));
  const char* down = cfg.activation == ActivationKind::kGelu ? "fc2" : "down";
  return h + add_bias(p, down, m);
}

at::Tensor head_forward(const ModelConfig& cfg, const ParamMap& p, const at::Tensor& lm_weight,
                        const at::Tensor& x, const at::Tensor& targets, TpHooks& tp) {
  at::Tensor h = tp.enter(norm(cfg, p, "norm", x));
  at::Tensor logits = at::linear(h, lm_weight);  // [b, seq, vocab / tp]
  const int64_t vl = logits.size(-1);
  at::Tensor per_token =
      tp.vocab_parallel_ce(logits.reshape({-1, vl}), targets.reshape({-1}), tp.rank() * vl);
  return per_token.sum();
}

}  // namespace paratune::models
