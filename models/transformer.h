// The math of each unit of a decoder-only transformer, written once for every layout.
//
// Tensor-parallel communication is injected through TpHooks (Megatron's f / g operators):
//   enter(x): before column-parallel linears. No SP: identity fwd, allreduce bwd.
//             SP: all-gather along the sequence fwd, reduce-scatter bwd.
//   exit(x):  after row-parallel linears (and the vocab-parallel embedding lookup).
//             No SP: allreduce fwd, identity bwd. SP: reduce-scatter along the sequence fwd.
//   vocab_parallel_ce: cross entropy of logits split over the vocabulary.
// The default TpHooks (tp = 1) makes the same code the single-process model.
//
// Shapes: activations [batch, seq, hidden]; with SP the residual stream holds seq / tp tokens.
// Tokens are global vocabulary ids [batch, seq_len] (always the full sequence).
//
//   TpHooks none;  at::Tensor x = embedding_forward(cfg, emb_params, tokens, none);
#pragma once

#include <map>
#include <string>

#include <ATen/ATen.h>

#include "core/model_config.h"

namespace paratune::models {

using ParamMap = std::map<std::string, at::Tensor>;

class TpHooks {
 public:
  virtual ~TpHooks() = default;
  virtual int size() const { return 1; }
  virtual int rank() const { return 0; }
  virtual bool sp() const { return false; }
  virtual at::Tensor enter(const at::Tensor& x) { return x; }
  virtual at::Tensor exit(const at::Tensor& x) { return x; }
  /// Per-token loss [N] of logits [N, vocab / size()] (this rank's vocab slice starting at
  /// vocab_start) against global targets [N].
  virtual at::Tensor vocab_parallel_ce(const at::Tensor& logits, const at::Tensor& targets,
                                       int64_t vocab_start);
};

/// Token (+ learned position) embedding. tok: [vocab / tp, hidden] shard. Returns the residual
/// stream [b, seq (/ tp with SP), hidden].
at::Tensor embedding_forward(const ModelConfig& cfg, const ParamMap& p, const at::Tensor& tokens,
                             TpHooks& tp);
/// One decoder layer (pre-norm attention + MLP with residuals).
at::Tensor layer_forward(const ModelConfig& cfg, const ParamMap& p, const at::Tensor& x,
                         TpHooks& tp);
/// Final norm + LM head + cross entropy: the SUM of per-token losses of this block (a scalar).
/// `lm_weight` is the [vocab / tp, hidden] shard (the embedding's when tied).
at::Tensor head_forward(const ModelConfig& cfg, const ParamMap& p, const at::Tensor& lm_weight,
                        const at::Tensor& x, const at::Tensor& targets, TpHooks& tp);

}  // namespace paratune::models
