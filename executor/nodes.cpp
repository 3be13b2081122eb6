#include "executor/nodes.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/function.h>

namespace paratune::executor {

namespace {

using torch::autograd::variable_list;

struct UnitNode : torch::autograd::Node {
  std::vector<ShardedUnit*> units;
  UnitFn fn;
  bool checkpoint = false;
  bool x_requires_grad = false;
  at::Tensor x_saved;        // input (detached); the inner leaf when not checkpointing
  at::Tensor y_inner;        // inner output (graph kept) when not checkpointing
  std::vector<at::Tensor> leaves;

  std::string name() const override { return "paratune::UnitNode"; }

  variable_list apply(variable_list&& grads) override {
    at::AutoGradMode grad_mode(true);
    for (ShardedUnit* u : units) u->materialize();
    at::Tensor x_leaf = x_saved, y = y_inner;
    if (checkpoint) {
      std::vector<models::ParamMap> maps(units.size());
      leaves.clear();
      for (size_t i = 0; i < units.size(); ++i) {
        auto l = units[i]->make_leaves(&maps[i]);
        leaves.insert(leaves.end(), l.begin(), l.end());
      }
      x_leaf = x_requires_grad ? x_saved.detach().requires_grad_(true) : x_saved;
      y = fn(x_leaf, maps);
    }
    std::vector<at::Tensor> inputs = leaves;
    if (x_requires_grad) inputs.push_back(x_leaf);
    variable_list g = torch::autograd::grad({y}, inputs, {grads[0]}, /*retain_graph=*/false,
                                            /*create_graph=*/false, /*allow_unused=*/true);
    y_inner = at::Tensor();
    size_t pos = 0;
    for (ShardedUnit* u : units) {
      const size_t n = u->num_params();
      u->add_grads(std::vector<at::Tensor>(std::make_move_iterator(g.begin() + pos),
                                           std::make_move_iterator(g.begin() + pos + n)));
      pos += n;
    }
    for (ShardedUnit* u : units) u->dematerialize();
    leaves.clear();
    x_saved = at::Tensor();
    return {x_requires_grad ? g.back() : at::Tensor()};
  }
};

}  // namespace

at::Tensor run_units(const at::Tensor& x, std::vector<ShardedUnit*> units, UnitFn fn,
                     bool checkpoint) {
  const bool build = at::GradMode::is_enabled();
  for (ShardedUnit* u : units) u->materialize();
  std::vector<models::ParamMap> maps(units.size());
  std::vector<at::Tensor> leaves;
  for (size_t i = 0; i < units.size(); ++i) {
    auto l = units[i]->make_leaves(&maps[i]);
    leaves.insert(leaves.end(), l.begin(), l.end());
  }
  const bool x_rg = x.requires_grad();
  at::Tensor x_leaf = x_rg && build && !checkpoint ? x.detach().requires_grad_(true) : x.detach();
  at::Tensor y;
  {
    at::AutoGradMode mode(build && !checkpoint);
    y = fn(x_leaf, maps);
  }
  for (ShardedUnit* u : units) u->dematerialize();
  if (!build) return y;
  auto node = std::shared_ptr<UnitNode>(new UnitNode(), torch::autograd::deleteNode);
  node->units = std::move(units);
  node->fn = std::move(fn);
  node->checkpoint = checkpoint;
  node->x_requires_grad = x_rg;
  node->x_saved = x_leaf;
  if (!checkpoint) {
    node->y_inner = y;
    node->leaves = std::move(leaves);
  }
  node->set_next_edges(torch::autograd::collect_next_edges(x));
  at::Tensor out = y.detach();
  torch::autograd::create_gradient_edge(out, node);
  return out;
}

namespace {

std::vector<int64_t> encode(const std::vector<Block>& b) {
  std::vector<int64_t> v;
  for (const Block& x : b) v.insert(v.end(), {x.dp, x.dp_rank, x.seq_split, x.seq_rank});
  return v;
}
std::vector<Block> decode(const std::vector<int64_t>& v) {
  std::vector<Block> b;
  for (size_t i = 0; i + 3 < v.size(); i += 4)
    b.push_back({int(v[i]), int(v[i + 1]), int(v[i + 2]), int(v[i + 3])});
  return b;
}

at::Tensor move_blocks(const at::Tensor& x, Group& g, const std::vector<Block>& from,
                       const std::vector<Block>& to) {
  std::vector<at::Tensor> pieces = g.allgather(x);
  const int64_t bs = x.size(0), ss = x.size(1);
  std::vector<int64_t> shape = x.sizes().vec();
  shape[0] = bs * from[0].dp;
  shape[1] = ss * from[0].seq_split;
  at::Tensor full = at::empty(shape, x.options());
  std::vector<Block> seen;
  for (size_t i = 0; i < from.size(); ++i) {
    const Block& b = from[i];
    if (std::find(seen.begin(), seen.end(), b) != seen.end()) continue;
    seen.push_back(b);
    full.narrow(0, b.dp_rank * bs, bs).narrow(1, b.seq_rank * ss, ss).copy_(pieces[i]);
  }
  const Block& t = to[g.index()];
  const int64_t tb = shape[0] / t.dp, ts = shape[1] / t.seq_split;
  return full.narrow(0, t.dp_rank * tb, tb).narrow(1, t.seq_rank * ts, ts).contiguous();
}

struct Reshard : torch::autograd::Function<Reshard> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor x, int64_t g,
                            std::vector<int64_t> from, std::vector<int64_t> to) {
    ctx->saved_data["g"] = g;
    ctx->saved_data["from"] = from;
    ctx->saved_data["to"] = to;
    return move_blocks(x, *reinterpret_cast<Group*>(g), decode(from), decode(to));
  }
  static variable_list backward(torch::autograd::AutogradContext* ctx, variable_list go) {
    Group& g = *reinterpret_cast<Group*>(ctx->saved_data["g"].toInt());
    auto from = decode(ctx->saved_data["from"].toIntVector());
    auto to = decode(ctx->saved_data["to"].toIntVector());
    return {move_blocks(go[0].contiguous(), g, to, from), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor reshard(const at::Tensor& x, Group& stage, const std::vector<Block>& from,
                   const std::vector<Block>& to) {
  if (same_layout(from, to)) return x;
  return Reshard::apply(x, reinterpret_cast<int64_t>(&stage), encode(from), encode(to));
}

}  // namespace paratune::executor
