// The parameters of one unit (embedding, layer, head) on one rank, stored as one flat fp32
// buffer of its TP-local shards, with gradients and Adam state sharded per the unit's dp_type.
//
// Memory per rank, N = TP-local parameter count of the unit, d = DP degree (4 bytes each):
//   ddp:   params N, grads N, Adam m+v 2N                     -> 4N
//   zero2: params N, grads N/d (+ one transient N per backward), Adam 2N/d
//   zero3: params N/d (+ transient N while the unit runs), grads N/d, Adam 2N/d -> ~4N/d
// Gradients of one micro-batch arrive through add_grads(): with SP the TP-replicated params
// (norms, row biases, positions) get partial gradients per TP rank and are allreduced over TP
// first; ddp then accumulates the full local gradient (allreduced over DP once per step,
// bucketed by the trainer), zero2/3 reduce-scatter it over DP into this rank's shard at once.
// The flat buffer is padded to a multiple of d; shard k is elements [k*N/d, (k+1)*N/d).
//
//   ShardedUnit u(cfg, UnitKind::kLayer, 3, seed, ls, tp_group, dp_group, true);
//   u.materialize(); auto leaves = u.make_leaves(); ...; u.add_grads(grads); u.dematerialize();
#pragma once

#include <vector>

#include "core/strategy.h"
#include "executor/comm.h"
#include "models/adam.h"
#include "models/param_spec.h"
#include "models/transformer.h"

namespace paratune::executor {

class ShardedUnit {
 public:
  /// count_in_norm = false for a duplicate (the last stage's copy of tied embeddings).
  ShardedUnit(const ModelConfig& cfg, models::UnitKind kind, int layer, uint64_t seed,
              const LayerStrategy& ls, Group& tp, Group& dp, bool count_in_norm);
  ShardedUnit(const ShardedUnit&) = delete;
  ShardedUnit& operator=(const ShardedUnit&) = delete;

  models::UnitKind kind() const { return kind_; }
  const std::string& name() const { return name_; }
  const LayerStrategy& strategy() const { return ls_; }
  Group& tp() { return tp_; }
  Group& dp() { return dp_; }
  size_t num_params() const { return specs_.size(); }

  /// zero3: allgathers the full local parameters (reference counted); others: no-op.
  void materialize();
  /// zero3: frees the full parameters when the last user releases them.
  void dematerialize();
  /// Fresh leaf tensors (requires_grad) sharing storage with the flat buffer, one per spec;
  /// the map names them for the model code.
  std::vector<at::Tensor> make_leaves(models::ParamMap* map) const;
  /// Adds one micro-batch's gradients (one per spec, undefined = zero); see the top comment.
  /// Consumes them: each is released as soon as it is accumulated, so the transient is one
  /// flat copy (zero2/3: plus the alltoall buffer of the reduce-scatter), not two.
  void add_grads(std::vector<at::Tensor>&& grads);
  /// ddp only: keep the gradient in `storage` (a zeroed [padded_numel()] view of the trainer's
  /// bucket buffer) instead of a buffer of its own, so a bucket is allreduced in place.
  void use_grad_storage(at::Tensor storage);
  /// ddp only: frees the unit's own (still zero) gradient buffer before the trainer allocates
  /// the bucket that replaces it, so the two never exist at once (use_grad_storage must follow
  /// before the first backward).
  void drop_grad_storage();
  /// Length of the flat (padded) local parameter buffer.
  int64_t padded_numel() const { return padded_; }
  /// The gradient the optimizer consumes: ddp the full flat gradient, zero2/3 this rank's shard.
  at::Tensor& optim_grad() { return ls_.dp_type == DpType::kDdp ? grad_full_ : grad_shard_; }
  /// Sum of squares of the gradient entries this rank counts in the global norm (each
  /// parameter element counted on exactly one rank of the world).
  double grad_sq() const;
  /// Adam on this rank's part (scaled by `coef`), then zero2 allgathers the updated params.
  void step(double coef, int64_t t, const models::AdamOptions& o);
  void zero_grad();
  /// Bytes of params + grads + Adam state held persistently by this rank.
  int64_t state_bytes() const;
  /// The full TP-local parameters (materialized), for tests.
  at::Tensor full_params();

  // Checkpointing (executor/checkpoint.h). Spec i occupies flat elements
  // [offset(i), offset(i) + specs()[i].local_numel(tp)) of numel(); this rank's DP shard is
  // [shard_begin(), shard_begin() + shard_size()) (padding past numel() included).
  const std::vector<models::ParamSpec>& specs() const { return specs_; }
  int64_t offset(size_t i) const { return offsets_[i]; }
  int64_t numel() const { return numel_; }
  int64_t shard_begin() const { return dp_.index() * shard_; }
  int64_t shard_size() const { return shard_; }
  /// False for the last stage's duplicate of tied embeddings (its state is the embedding's).
  bool primary() const { return primary_; }
  /// The persistent state as flat fp32 tensors sharing the unit's storage (writing into them
  /// loads state): `params` holds flat elements from params_begin (ddp, zero2: all of them;
  /// zero3: this rank's shard), `m` and `v` (Adam) from optim_begin (ddp: all; zero2/3: the
  /// shard).
  struct State {
    at::Tensor params, m, v;
    int64_t params_begin = 0, optim_begin = 0;
  };
  State state();

 private:
  models::UnitKind kind_;
  std::string name_;
  LayerStrategy ls_;
  Group& tp_;
  Group& dp_;
  std::vector<models::ParamSpec> specs_;
  std::vector<int64_t> offsets_;
  int64_t numel_ = 0, padded_ = 0, shard_ = 0;
  at::Tensor full_;        // [padded] (zero3: storage freed when not materialized)
  std::vector<at::Tensor> views_;  // params as views of full_
  at::Tensor shard_param_; // zero3: [shard]
  at::Tensor grad_full_, grad_shard_, m_, v_;
  // (offset, numel) ranges of optim_grad() this rank counts in the global norm
  std::vector<std::pair<int64_t, int64_t>> norm_ranges_;
  std::vector<std::pair<int64_t, int64_t>> replicated_;  // (offset, numel) of TP-replicated params
  int users_ = 0;
  bool primary_ = true;
};

}  // namespace paratune::executor
