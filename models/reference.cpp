#include "models/reference.h"

#include <cmath>

#include "models/init.h"
#include "models/param_spec.h"

namespace paratune::models {

ReferenceTrainer::ReferenceTrainer(const ModelConfig& cfg, uint64_t seed, AdamOptions opts)
    : cfg_(cfg), opts_(opts) {
  auto make = [&](UnitKind kind, int layer) {
    ParamMap pm;
    const std::string unit = unit_name(kind, layer);
    for (const ParamSpec& s : unit_params(cfg, kind)) {
      at::Tensor t = init_full_param(s, seed, unit).set_requires_grad(true);
      pm[s.name] = t;
      params_.push_back(t);
    }
    units_.push_back(std::move(pm));
  };
  make(UnitKind::kEmbedding, 0);
  for (int l = 0; l < cfg.num_layers; ++l) make(UnitKind::kLayer, l);
  make(UnitKind::kHead, 0);
  for (const at::Tensor& p : params_) {
    m_.push_back(at::zeros_like(p));
    v_.push_back(at::zeros_like(p));
  }
}

at::Tensor ReferenceTrainer::forward(const at::Tensor& batch) {
  TpHooks none;
  const int64_t s = cfg_.seq_len;
  at::Tensor inputs = batch.narrow(1, 0, s), targets = batch.narrow(1, 1, s);
  at::Tensor x = embedding_forward(cfg_, units_.front(), inputs, none);
  for (int l = 0; l < cfg_.num_layers; ++l) x = layer_forward(cfg_, units_[1 + l], x, none);
  const ParamMap& head = units_.back();
  at::Tensor lm = cfg_.tied_embeddings ? units_.front().at("tok") : head.at("lm");
  return head_forward(cfg_, head, lm, x, targets, none) / double(batch.size(0) * s);
}

double ReferenceTrainer::loss(const at::Tensor& batch) {
  at::NoGradGuard g;
  return forward(batch).item<double>();
}

double ReferenceTrainer::step(const at::Tensor& batch) {
  for (at::Tensor& p : params_) p.mutable_grad() = at::Tensor();
  at::Tensor loss = forward(batch);
  loss.backward();
  double sumsq = 0;
  for (at::Tensor& p : params_) sumsq += p.grad().pow(2).sum().item<double>();
  const double coef = clip_coefficient(std::sqrt(sumsq), opts_);
  ++step_;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor g = params_[i].grad();
    if (coef < 1.0) g = g * coef;
    at::Tensor p = params_[i];
    adam_update(p, g, m_[i], v_[i], step_, opts_);
  }
  return loss.item<double>();
}

}  // namespace paratune::models
