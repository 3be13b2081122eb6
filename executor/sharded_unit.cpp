#include "executor/sharded_unit.h"

#include <algorithm>

#include <c10/core/CPUAllocator.h>

#include "models/init.h"

namespace paratune::executor {

namespace {
void free_storage(at::Tensor& t) {
  c10::StorageImpl* s = t.storage().unsafeGetStorageImpl();
  s->set_data_ptr_noswap(at::DataPtr(nullptr, at::Device(at::kCPU)));
  s->set_nbytes(0);
}
void alloc_storage(at::Tensor& t, size_t nbytes) {
  c10::StorageImpl* s = t.storage().unsafeGetStorageImpl();
  s->set_data_ptr_noswap(c10::GetAllocator(at::kCPU)->allocate(nbytes));
  s->set_nbytes(nbytes);
}
}  // namespace

ShardedUnit::ShardedUnit(const ModelConfig& cfg, models::UnitKind kind, int layer, uint64_t seed,
                         const LayerStrategy& ls, Group& tp, Group& dp, bool count_in_norm)
    : kind_(kind), name_(models::unit_name(kind, layer)), ls_(ls), tp_(tp), dp_(dp),
      specs_(models::unit_params(cfg, kind)), primary_(count_in_norm) {
  const int t = tp_.size(), d = dp_.size();
  for (const auto& s : specs_) {
    offsets_.push_back(numel_);
    if (s.tp_replicated()) replicated_.push_back({numel_, s.local_numel(t)});
    numel_ += s.local_numel(t);
  }
  padded_ = (numel_ + d - 1) / d * d;
  shard_ = padded_ / d;
  at::NoGradGuard ng;
  full_ = at::zeros({padded_}, at::kFloat);
  // Elements this rank counts in the global norm, as ranges of the flat local buffer: each
  // parameter element on exactly one rank (TP-replicated ones on TP rank 0 only).
  std::vector<std::pair<int64_t, int64_t>> counted;
  for (size_t i = 0; i < specs_.size(); ++i) {
    const int64_t n = specs_[i].local_numel(t);
    at::Tensor v = full_.narrow(0, offsets_[i], n).view(specs_[i].local_shape(t));
    v.copy_(models::init_param_shard(specs_[i], seed, name_, t, tp_.index()));
    views_.push_back(v);
    const bool counts = count_in_norm && (!specs_[i].tp_replicated() || tp_.index() == 0);
    if (counts) counted.push_back({offsets_[i], n});
  }
  // ... restricted to the part of the buffer the optimizer gradient covers on this rank:
  // ddp, the whole buffer on DP rank 0 only; zero2/3, this rank's shard (shard coordinates).
  const int64_t lo = ls_.dp_type == DpType::kDdp ? 0 : dp_.index() * shard_;
  const int64_t hi = ls_.dp_type == DpType::kDdp ? (dp_.index() == 0 ? padded_ : 0) : lo + shard_;
  for (const auto& [off, n] : counted) {
    const int64_t a = std::max(off, lo), b = std::min(off + n, hi);
    if (a < b) norm_ranges_.push_back({a - lo, b - a});
  }
  if (ls_.dp_type == DpType::kDdp) {
    grad_full_ = at::zeros({padded_}, at::kFloat);
    m_ = at::zeros({padded_}, at::kFloat);
    v_ = at::zeros({padded_}, at::kFloat);
  } else {
    grad_shard_ = at::zeros({shard_}, at::kFloat);
    m_ = at::zeros({shard_}, at::kFloat);
    v_ = at::zeros({shard_}, at::kFloat);
  }
  if (ls_.dp_type == DpType::kZero3) {
    shard_param_ = full_.narrow(0, dp_.index() * shard_, shard_).clone();
    free_storage(full_);
  }
}

void ShardedUnit::materialize() {
  if (ls_.dp_type != DpType::kZero3) return;
  if (users_++ > 0) return;
  at::NoGradGuard ng;
  alloc_storage(full_, size_t(padded_) * sizeof(float));
  dp_.allgather_into(shard_param_, full_);
}

void ShardedUnit::dematerialize() {
  if (ls_.dp_type != DpType::kZero3) return;
  TORCH_CHECK(users_ > 0, "paratune: dematerialize without materialize");
  if (--users_ == 0) free_storage(full_);
}

std::vector<at::Tensor> ShardedUnit::make_leaves(models::ParamMap* map) const {
  std::vector<at::Tensor> out;
  for (size_t i = 0; i < specs_.size(); ++i) {
    // variable_data(): shares storage but not the version counter, so re-gathering ZeRO-3
    // parameters into the same storage does not invalidate the saved graph.
    at::Tensor leaf = views_[i].variable_data().requires_grad_(true);
    (*map)[specs_[i].name] = leaf;
    out.push_back(leaf);
  }
  return out;
}

void ShardedUnit::add_grads(std::vector<at::Tensor>&& grads) {
  at::NoGradGuard ng;
  TORCH_CHECK(grads.size() == specs_.size(), "paratune: gradient count mismatch in ", name_);
  // ddp accumulates straight into its gradient buffer; zero2/3 need one flat copy to
  // reduce-scatter. Each autograd gradient is released right after it is used.
  const bool ddp = ls_.dp_type == DpType::kDdp;
  const bool sp_sync = ls_.sp && tp_.size() > 1 && !replicated_.empty();
  at::Tensor flat = ddp && !sp_sync ? grad_full_ : at::zeros({padded_}, at::kFloat);
  for (size_t i = 0; i < specs_.size(); ++i) {
    if (grads[i].defined()) {
      at::Tensor dst = flat.narrow(0, offsets_[i], grads[i].numel());
      if (flat.is_same(grad_full_)) dst.add_(grads[i].reshape(-1));
      else dst.copy_(grads[i].reshape(-1));
    }
    grads[i] = at::Tensor();
  }
  if (sp_sync) {
    std::vector<at::Tensor> parts;
    for (auto [off, n] : replicated_) parts.push_back(flat.narrow(0, off, n));
    at::Tensor buf = at::cat(parts);
    tp_.allreduce_(buf);
    int64_t pos = 0;
    for (auto [off, n] : replicated_) {
      flat.narrow(0, off, n).copy_(buf.narrow(0, pos, n));
      pos += n;
    }
  }
  if (ddp) {
    if (!flat.is_same(grad_full_)) grad_full_.add_(flat);
  } else {
    grad_shard_.add_(dp_.reduce_scatter(flat));
  }
}

void ShardedUnit::drop_grad_storage() {
  TORCH_CHECK(ls_.dp_type == DpType::kDdp, "paratune: drop_grad_storage on a sharded unit ", name_);
  grad_full_ = at::Tensor();
}

void ShardedUnit::use_grad_storage(at::Tensor storage) {
  TORCH_CHECK(ls_.dp_type == DpType::kDdp && storage.numel() == padded_,
              "paratune: gradient storage of ", name_, " must be a [", padded_, "] ddp buffer");
  grad_full_ = std::move(storage);
  grad_full_.zero_();
}

double ShardedUnit::grad_sq() const {
  const at::Tensor& g = ls_.dp_type == DpType::kDdp ? grad_full_ : grad_shard_;
  double sq = 0;
  for (const auto& [off, n] : norm_ranges_) sq += g.narrow(0, off, n).pow(2).sum().item<double>();
  return sq;
}

void ShardedUnit::step(double coef, int64_t t, const models::AdamOptions& o) {
  at::NoGradGuard ng;
  at::Tensor g = optim_grad();
  if (coef < 1.0) g.mul_(coef);  // in place: the gradient is zeroed before the next step
  switch (ls_.dp_type) {
    case DpType::kDdp:
      models::adam_update(full_, g, m_, v_, t, o);
      break;
    case DpType::kZero2: {
      at::Tensor mine = full_.narrow(0, dp_.index() * shard_, shard_);
      models::adam_update(mine, g, m_, v_, t, o);
      at::Tensor copy = mine.clone();
      dp_.allgather_into(copy, full_);
      break;
    }
    case DpType::kZero3:
      models::adam_update(shard_param_, g, m_, v_, t, o);
      break;
  }
}

void ShardedUnit::zero_grad() {
  if (grad_full_.defined()) grad_full_.zero_();
  if (grad_shard_.defined()) grad_shard_.zero_();
}

int64_t ShardedUnit::state_bytes() const {
  int64_t n = m_.numel() + v_.numel();
  n += ls_.dp_type == DpType::kZero3 ? shard_param_.numel() : full_.numel();
  n += ls_.dp_type == DpType::kDdp ? grad_full_.numel() : grad_shard_.numel();
  return n * int64_t(sizeof(float));
}

ShardedUnit::State ShardedUnit::state() {
  State s;
  if (ls_.dp_type == DpType::kZero3) {
    s.params = shard_param_;
    s.params_begin = shard_begin();
  } else {
    s.params = full_;
  }
  s.m = m_;
  s.v = v_;
  s.optim_begin = ls_.dp_type == DpType::kDdp ? 0 : shard_begin();
  return s;
}

at::Tensor ShardedUnit::full_params() {
  materialize();
  at::Tensor out = full_.narrow(0, 0, numel_).clone();
  dematerialize();
  return out;
}

}  // namespace paratune::executor
