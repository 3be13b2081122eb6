#include "executor/trainer.h"

#include <cmath>
#include <deque>
#include <set>

#include <torch/csrc/autograd/autograd.h>

#include "core/device_mesh.h"
#include "executor/nodes.h"
#include "executor/tp_ops.h"
#include "executor/trace.h"
#include "models/transformer.h"

namespace paratune::executor {

using models::UnitKind;

namespace {
std::vector<Rank> stage_ranks(const Strategy& s, StageIdx st) {
  std::vector<Rank> r;
  for (int i = 0; i < s.devices_per_stage(); ++i)
    r.push_back(stage_first_rank(s.num_devices, s.pp, st) + i);
  return r;
}
bool tied_across_stages(const Strategy& s, const ModelConfig& cfg) {
  return cfg.tied_embeddings && s.pp > 1;
}
}  // namespace

std::vector<std::vector<Rank>> groups_needed(const Strategy& s, const ModelConfig& cfg) {
  std::set<std::vector<Rank>> out;
  auto add_layer = [&](StageIdx st, const LayerStrategy& ls) {
    for (auto& g : tp_groups(s.num_devices, s.pp, st, ls)) out.insert(g);
    for (auto& g : dp_groups(s.num_devices, s.pp, st, ls)) out.insert(g);
  };
  for (StageIdx st = 0; st < s.pp; ++st) {
    out.insert(stage_ranks(s, st));
    for (int l = s.first_layer(st); l < s.first_layer(st) + s.pp_division[st]; ++l)
      add_layer(st, s.layers[l]);
  }
  add_layer(0, s.embedding);
  add_layer(s.pp - 1, s.embedding);
  if (tied_across_stages(s, cfg)) {
    const int g = s.devices_per_stage();
    for (int i = 0; i < g; ++i)
      out.insert({stage_first_rank(s.num_devices, s.pp, 0) + i,
                  stage_first_rank(s.num_devices, s.pp, s.pp - 1) + i});
  }
  std::vector<Rank> world;
  for (int r = 0; r < s.num_devices; ++r) world.push_back(r);
  out.insert(world);
  return {out.begin(), out.end()};
}

Status check_runnable(const Strategy& s, const ModelConfig& cfg, int world_size,
                      const std::string& file) {
  PARATUNE_RETURN_IF_ERROR(validate(s, cfg, file));
  if (s.num_devices != world_size) {
    return InvalidArgument(file + ": field \"num_devices\": the plan is for " +
                           std::to_string(s.num_devices) + " devices but WORLD_SIZE is " +
                           std::to_string(world_size));
  }
  return Status::Ok();
}

Trainer::Trainer(const ModelConfig& cfg, const Strategy& s, Comms& comms, TrainerOptions opts)
    : cfg_(cfg), s_(s), comms_(comms), opts_(opts) {
  comms_.ensure(groups_needed(s_, cfg_));
  const Rank me = comms_.rank();
  const int g = s_.devices_per_stage();
  stage_ = me / g;
  local_ = me % g;
  stage_group_ = &comms_.group(stage_ranks(s_, stage_));
  auto make = [&](UnitKind kind, int layer, const LayerStrategy& ls, bool counts) {
    Group& tp = comms_.group(tp_group_of(s_.num_devices, s_.pp, ls, me));
    Group& dp = comms_.group(dp_group_of(s_.num_devices, s_.pp, ls, me));
    units_.push_back(std::make_unique<ShardedUnit>(cfg_, kind, layer, opts_.seed, ls, tp, dp, counts));
    return units_.back().get();
  };
  const bool first = stage_ == 0, last = stage_ == s_.pp - 1;
  if (first) embedding_ = make(UnitKind::kEmbedding, 0, s_.embedding, true);
  const int l0 = s_.first_layer(stage_), nl = s_.pp_division[stage_];
  for (int l = l0; l < l0 + nl; ++l) {
    layers_.push_back(make(UnitKind::kLayer, l, s_.layers[l], true));
    layer_blocks_.push_back(stage_blocks(s_, s_.layers[l], stage_));
  }
  if (last) {
    head_ = make(UnitKind::kHead, 0, s_.embedding, true);
    if (cfg_.tied_embeddings) {
      lm_owner_ = first ? embedding_ : make(UnitKind::kEmbedding, 0, s_.embedding, false);
    }
  }
  emb_blocks_ = stage_blocks(s_, s_.embedding, stage_);
  if (!first) {
    // The previous stage's last layer layout, seen through this stage's local indices.
    const LayerStrategy& prev = s_.layers[l0 - 1];
    for (int i = 0; i < g; ++i) in_blocks_.push_back(block_of(s_, prev, stage_ - 1, i));
  }
  // ddp buckets: consecutive ddp units with the same DP group (> 1 rank), up to bucket_bytes;
  // each unit's gradient becomes a view of its bucket's buffer.
  {
    std::vector<ShardedUnit*> bucket;
    int64_t bytes = 0;
    auto flush = [&]() {
      if (!bucket.empty() && bucket.front()->dp().size() > 1) {
        int64_t n = 0;
        // The units' own buffers go first: allocated next to the bucket they raised the
        // process's peak by the bucket's size (measured: pp1-m2 tp1-dp4-ckpt on gpt-mini peaked
        // at the states + all gradients, 15.91 MiB, above any step's 14.6).
        for (ShardedUnit* u : bucket) {
          n += u->padded_numel();
          u->drop_grad_storage();
        }
        Bucket b{&bucket.front()->dp(), at::zeros({n}, at::kFloat)};
        int64_t pos = 0;
        for (ShardedUnit* u : bucket) {
          u->use_grad_storage(b.flat.narrow(0, pos, u->padded_numel()));
          pos += u->padded_numel();
        }
        buckets_.push_back(std::move(b));
      }
      bucket.clear();
      bytes = 0;
    };
    for (auto& up : units_) {
      ShardedUnit* u = up.get();
      if (u->strategy().dp_type != DpType::kDdp) continue;
      if (!bucket.empty() && (&bucket.front()->dp() != &u->dp() || bytes >= opts_.bucket_bytes))
        flush();
      bucket.push_back(u);
      bytes += u->padded_numel() * int64_t(sizeof(float));
    }
    flush();
  }
  if (tied_across_stages(s_, cfg_) && (first || last)) {
    tied_pair_ = &comms_.group({stage_first_rank(s_.num_devices, s_.pp, 0) + local_,
                                stage_first_rank(s_.num_devices, s_.pp, s_.pp - 1) + local_});
  }
}

int64_t Trainer::state_bytes() const {
  int64_t n = 0;
  for (const auto& u : units_) n += u->state_bytes();
  return n;
}

at::Tensor Trainer::forward(int micro, const at::Tensor& batch, const at::Tensor& input) {
  const int64_t mb = s_.global_batch / s_.micro_batches, S = cfg_.seq_len;
  const double scale = 1.0 / double(int64_t(s_.global_batch) * S);
  auto rows = [&](const Block& b) {
    const int64_t n = mb / b.dp;
    return batch.narrow(0, micro * mb + b.dp_rank * n, n);
  };
  at::Tensor x;
  std::vector<Block> cur;
  if (stage_ == 0) {
    at::Tensor tokens = rows(emb_blocks_[local_]).narrow(1, 0, S);
    ShardedUnit* u = embedding_;
    x = run_units(tokens, {u}, [this, u](const at::Tensor& t, const std::vector<models::ParamMap>& p) {
      GlooTpHooks hooks(u->tp(), u->strategy().sp);
      return models::embedding_forward(cfg_, p[0], t, hooks);
    }, false);
    cur = emb_blocks_;
  } else {
    x = input;
    cur = in_blocks_;
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    x = reshard(x, *stage_group_, cur, layer_blocks_[i]);
    cur = layer_blocks_[i];
    ShardedUnit* u = layers_[i];
    x = run_units(x, {u}, [this, u](const at::Tensor& in, const std::vector<models::ParamMap>& p) {
      GlooTpHooks hooks(u->tp(), u->strategy().sp);
      return models::layer_forward(cfg_, p[0], in, hooks);
    }, u->strategy().checkpoint);
  }
  if (stage_ != s_.pp - 1) return x;
  x = reshard(x, *stage_group_, cur, emb_blocks_);
  at::Tensor targets = rows(emb_blocks_[local_]).narrow(1, 1, S);
  std::vector<ShardedUnit*> us{head_};
  if (lm_owner_) us.push_back(lm_owner_);
  ShardedUnit* h = head_;
  const bool tied = lm_owner_ != nullptr;
  return run_units(x, us, [this, h, tied, targets, scale](const at::Tensor& in,
                                                         const std::vector<models::ParamMap>& p) {
    GlooTpHooks hooks(h->tp(), h->strategy().sp);
    const at::Tensor& lm = tied ? p[1].at("tok") : p[0].at("lm");
    return models::head_forward(cfg_, p[0], lm, in, targets, hooks) * scale;
  }, false);
}

namespace {
std::vector<int64_t> block_shape(const Strategy& s, const ModelConfig& cfg, const Block& b) {
  const int64_t mb = s.global_batch / s.micro_batches;
  return {mb / b.dp, cfg.seq_len / b.seq_split, cfg.hidden};
}
}  // namespace

at::Tensor Trainer::recv_forward(int micro) {
  if (stage_ == 0) return at::Tensor();
  at::Tensor buf = at::empty(block_shape(s_, cfg_, in_blocks_[local_]), at::kFloat);
  const Rank src = stage_first_rank(s_.num_devices, s_.pp, stage_ - 1) + local_;
  wait_work(comms_.irecv(buf, src, 2 * micro), "pipeline recv (forward)", WaitKind::kRecvForward);
  return buf.requires_grad_(true);
}

void Trainer::send_forward(const at::Tensor& y, int micro) {
  const Rank dst = stage_first_rank(s_.num_devices, s_.pp, stage_ + 1) + local_;
  pending_sends_.push_back(comms_.isend(y.detach().contiguous(), dst, 2 * micro));
}

at::Tensor Trainer::recv_backward(int micro) {
  at::Tensor buf = at::empty(block_shape(s_, cfg_, layer_blocks_.back()[local_]), at::kFloat);
  const Rank src = stage_first_rank(s_.num_devices, s_.pp, stage_ + 1) + local_;
  wait_work(comms_.irecv(buf, src, 2 * micro + 1), "pipeline recv (backward)",
            WaitKind::kRecvBackward);
  return buf;
}

void Trainer::send_backward(const at::Tensor& dx, int micro) {
  if (stage_ == 0) return;
  const Rank dst = stage_first_rank(s_.num_devices, s_.pp, stage_ - 1) + local_;
  pending_sends_.push_back(comms_.isend(dx.contiguous(), dst, 2 * micro + 1));
}

at::Tensor Trainer::backward(InFlight& f, const at::Tensor& dy) {
  torch::autograd::backward({f.output}, {dy});
  at::Tensor dx = f.input.defined() ? f.input.grad() : at::Tensor();
  f = InFlight{};
  return dx;
}

void Trainer::sync_grads() {
  for (Bucket& b : buckets_) b.dp->allreduce_(b.flat);
  if (tied_pair_) {
    ShardedUnit* e = stage_ == 0 ? embedding_ : lm_owner_;
    tied_pair_->allreduce_(e->optim_grad());
  }
}

StepResult Trainer::step(const at::Tensor& batch) {
  TraceScope traced_step(TraceKind::kStep);
  for (auto& u : units_) u->zero_grad();
  const int M = s_.micro_batches, P = s_.pp;
  const bool last = stage_ == P - 1;
  const int warmup = std::min(P - stage_ - 1, M);
  std::deque<InFlight> inflight;
  double loss_sum = 0;
  auto run_forward = [&](int micro, const at::Tensor& in) {
    TraceScope traced(TraceKind::kForward, micro);
    InFlight f{in, forward(micro, batch, in)};
    if (last) loss_sum += f.output.item<double>();
    else send_forward(f.output, micro);
    inflight.push_back(f);
  };
  auto run_backward = [&](int micro) {
    at::Tensor dy = last ? at::ones_like(inflight.front().output) : recv_backward(micro);
    TraceScope traced(TraceKind::kBackward, micro);
    at::Tensor dx = backward(inflight.front(), dy);
    inflight.pop_front();
    send_backward(dx, micro);
  };
  for (int i = 0; i < warmup; ++i) run_forward(i, recv_forward(i));
  int b = 0;
  for (int i = warmup; i < M; ++i) {
    run_forward(i, recv_forward(i));
    run_backward(b++);
  }
  while (b < M) run_backward(b++);
  for (auto& w : pending_sends_) wait_work(w, "pipeline send", WaitKind::kSend);
  pending_sends_.clear();

  {
    TraceScope traced(TraceKind::kGradSync);
    sync_grads();
  }
  TraceScope traced_optimizer(TraceKind::kOptimizer);
  double sq = 0;
  for (auto& u : units_) sq += u->grad_sq();
  const bool counts_loss = last && head_->tp().index() == 0;
  at::Tensor red = at::tensor({counts_loss ? loss_sum : 0.0, sq}, at::kDouble);
  comms_.world().allreduce_(red);
  StepResult r;
  r.loss = red[0].item<double>();
  r.grad_norm = std::sqrt(red[1].item<double>());
  const double coef = models::clip_coefficient(r.grad_norm, opts_.adam);
  ++step_;
  for (auto& u : units_) u->step(coef, step_, opts_.adam);
  return r;
}

}  // namespace paratune::executor
