#include "executor/tp_ops.h"

#include <torch/csrc/autograd/custom_function.h>

namespace paratune::executor {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace {

Group& group_of(AutogradContext* ctx) {
  return *reinterpret_cast<Group*>(ctx->saved_data["g"].toInt());
}

at::Tensor allreduced(const at::Tensor& x, Group& g) {
  at::Tensor y = x.clone(at::MemoryFormat::Contiguous);
  g.allreduce_(y);
  return y;
}

at::Tensor gather_dim1(const at::Tensor& x, Group& g) { return at::cat(g.allgather(x), 1); }

at::Tensor reduce_scatter_dim1(const at::Tensor& x, Group& g) {
  const int64_t n = g.size(), s = x.size(1);
  TORCH_CHECK(s % n == 0, "paratune: sequence ", s, " not divisible by tp ", n);
  std::vector<int64_t> shape = x.sizes().vec();  // [b, s, ...] -> [n, b, s/n, ...]
  std::vector<int64_t> split = shape;
  split[1] = s / n;
  split.insert(split.begin() + 1, n);  // [b, n, s/n, ...]
  at::Tensor chunks = x.reshape(split).transpose(0, 1).contiguous();
  at::Tensor mine = g.reduce_scatter(chunks.view({n, -1}).reshape({-1}));
  std::vector<int64_t> out = shape;
  out[1] = s / n;
  return mine.view(out);
}

struct CopyToTp : torch::autograd::Function<CopyToTp> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, int64_t g) {
    ctx->saved_data["g"] = g;
    return x.view_as(x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list go) {
    return {allreduced(go[0], group_of(ctx)), at::Tensor()};
  }
};

struct ReduceFromTp : torch::autograd::Function<ReduceFromTp> {
  static at::Tensor forward(AutogradContext*, at::Tensor x, int64_t g) {
    return allreduced(x, *reinterpret_cast<Group*>(g));
  }
  static variable_list backward(AutogradContext*, variable_list go) { return {go[0], at::Tensor()}; }
};

struct GatherSeq : torch::autograd::Function<GatherSeq> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, int64_t g) {
    ctx->saved_data["g"] = g;
    return gather_dim1(x, *reinterpret_cast<Group*>(g));
  }
  static variable_list backward(AutogradContext* ctx, variable_list go) {
    return {reduce_scatter_dim1(go[0], group_of(ctx)), at::Tensor()};
  }
};

struct ReduceScatterSeq : torch::autograd::Function<ReduceScatterSeq> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, int64_t g) {
    ctx->saved_data["g"] = g;
    return reduce_scatter_dim1(x, *reinterpret_cast<Group*>(g));
  }
  static variable_list backward(AutogradContext* ctx, variable_list go) {
    return {gather_dim1(go[0], group_of(ctx)), at::Tensor()};
  }
};

// loss_i = log(sum_v exp(z_iv - max_i)) - (z_i,t_i - max_i), reductions over the vocab shards.
struct VocabParallelCe : torch::autograd::Function<VocabParallelCe> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor logits, at::Tensor targets,
                            int64_t start, int64_t gp) {
    Group& g = *reinterpret_cast<Group*>(gp);
    const int64_t vl = logits.size(1);
    at::Tensor mx = std::get<0>(logits.max(1)).contiguous();
    g.allreduce_(mx, c10d::ReduceOp::MAX);
    at::Tensor shifted = logits - mx.unsqueeze(1);
    at::Tensor ex = shifted.exp();
    at::Tensor sum = ex.sum(1).contiguous();
    g.allreduce_(sum);
    at::Tensor outside = (targets < start).logical_or(targets >= start + vl);
    at::Tensor local = (targets - start).masked_fill(outside, 0);
    at::Tensor picked = shifted.gather(1, local.unsqueeze(1)).squeeze(1).masked_fill(outside, 0.0);
    picked = picked.contiguous();
    g.allreduce_(picked);
    ctx->save_for_backward({ex / sum.unsqueeze(1), local, outside});
    return sum.log() - picked;
  }
  static variable_list backward(AutogradContext* ctx, variable_list go) {
    auto saved = ctx->get_saved_variables();
    at::Tensor grad = saved[0].clone();
    at::Tensor onehot = at::zeros_like(grad).scatter_(1, saved[1].unsqueeze(1), 1.0);
    onehot.masked_fill_(saved[2].unsqueeze(1), 0.0);
    grad.sub_(onehot).mul_(go[0].unsqueeze(1));
    return {grad, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

int64_t ptr(Group& g) { return reinterpret_cast<int64_t>(&g); }

}  // namespace

at::Tensor copy_to_tp(const at::Tensor& x, Group& g) {
  return g.size() == 1 ? x : CopyToTp::apply(x, ptr(g));
}
at::Tensor reduce_from_tp(const at::Tensor& x, Group& g) {
  return g.size() == 1 ? x : ReduceFromTp::apply(x, ptr(g));
}
at::Tensor gather_seq(const at::Tensor& x, Group& g) {
  return g.size() == 1 ? x : GatherSeq::apply(x, ptr(g));
}
at::Tensor reduce_scatter_seq(const at::Tensor& x, Group& g) {
  return g.size() == 1 ? x : ReduceScatterSeq::apply(x, ptr(g));
}
at::Tensor vocab_parallel_ce(const at::Tensor& logits, const at::Tensor& targets,
                             int64_t vocab_start, Group& g) {
  return VocabParallelCe::apply(logits, targets, vocab_start, ptr(g));
}

at::Tensor GlooTpHooks::enter(const at::Tensor& x) {
  return sp_ ? gather_seq(x, g_) : copy_to_tp(x, g_);
}
at::Tensor GlooTpHooks::exit(const at::Tensor& x) {
  return sp_ ? reduce_scatter_seq(x, g_) : reduce_from_tp(x, g_);
}
at::Tensor GlooTpHooks::vocab_parallel_ce(const at::Tensor& logits, const at::Tensor& targets,
                                          int64_t vocab_start) {
  if (g_.size() == 1) return models::TpHooks::vocab_parallel_ce(logits, targets, vocab_start);
  return executor::vocab_parallel_ce(logits, targets, vocab_start, g_);
}

}  // namespace paratune::executor
