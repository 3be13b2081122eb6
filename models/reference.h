// Single-process reference training: the full, unsharded model, one process, plain autograd.
// The parity oracle: any strategy must reproduce its per-step losses within fp32 round-off.
//
//   ReferenceTrainer ref(cfg, /*seed=*/1);
//   double loss = ref.step(batch);  // batch: [global_batch, seq_len + 1] token ids
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "core/model_config.h"
#include "models/adam.h"
#include "models/transformer.h"

namespace paratune::models {

class ReferenceTrainer {
 public:
  ReferenceTrainer(const ModelConfig& cfg, uint64_t seed, AdamOptions opts = {});
  /// One step (forward, backward, clip, Adam) on `batch` [B, seq_len + 1]; returns the mean
  /// per-token loss before the update.
  double step(const at::Tensor& batch);
  /// Mean loss of `batch` without training.
  double loss(const at::Tensor& batch);
  const std::vector<ParamMap>& units() const { return units_; }

 private:
  at::Tensor forward(const at::Tensor& batch);
  ModelConfig cfg_;
  AdamOptions opts_;
  int64_t step_ = 0;
  std::vector<ParamMap> units_;  // embedding, layers..., head
  std::vector<at::Tensor> params_, m_, v_;
};

}  // namespace paratune::models
