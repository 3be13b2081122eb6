// Megatron tensor-parallel operators as C++ autograd functions over a TP Group, and the
// TpHooks that plug them into the model code of models/transformer.h.
//
//   copy_to_tp:       fwd identity,                 bwd allreduce
//   reduce_from_tp:   fwd allreduce,                bwd identity
//   gather_seq:       fwd all-gather along dim 1,   bwd reduce-scatter along dim 1   (SP enter)
//   reduce_scatter_seq: fwd reduce-scatter dim 1,   bwd all-gather along dim 1       (SP exit)
//   vocab_parallel_ce: cross entropy over vocab shards (allreduce of max, sum-exp, target logit)
//
//   GlooTpHooks hooks(tp_group, /*sp=*/true);  models::layer_forward(cfg, params, x, hooks);
#pragma once

#include "executor/comm.h"
#include "models/transformer.h"

namespace paratune::executor {

at::Tensor copy_to_tp(const at::Tensor& x, Group& g);
at::Tensor reduce_from_tp(const at::Tensor& x, Group& g);
at::Tensor gather_seq(const at::Tensor& x, Group& g);
at::Tensor reduce_scatter_seq(const at::Tensor& x, Group& g);
at::Tensor vocab_parallel_ce(const at::Tensor& logits, const at::Tensor& targets,
                             int64_t vocab_start, Group& g);

class GlooTpHooks : public models::TpHooks {
 public:
  GlooTpHooks(Group& g, bool sp) : g_(g), sp_(sp && g.size() > 1) {}
  int size() const override { return g_.size(); }
  int rank() const override { return g_.index(); }
  bool sp() const override { return sp_; }
  at::Tensor enter(const at::Tensor& x) override;
  at::Tensor exit(const at::Tensor& x) override;
  at::Tensor vocab_parallel_ce(const at::Tensor& logits, const at::Tensor& targets,
                               int64_t vocab_start) override;

 private:
  Group& g_;
  bool sp_;
};

}  // namespace paratune::executor
