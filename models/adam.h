// Adam and global-norm gradient clipping, shared by the single-process reference and the
// sharded executor so both apply bit-for-bit the same elementwise update.
//
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)        (t = 1-based step)
//   clipping: total = sqrt(sum over all params of g^2); g *= min(1, max_norm / (total + 1e-6))
//
//   adam_update(p, g, m, v, step, opts);
#pragma once

#include <ATen/ATen.h>

namespace paratune::models {

struct AdamOptions {
  double lr = 1e-3;        // learning rate (default 1e-3)
  double beta1 = 0.9;      // default 0.9
  double beta2 = 0.999;    // default 0.999
  double eps = 1e-8;       // default 1e-8
  double max_grad_norm = 1.0;  // global-norm clipping threshold; <= 0 disables (default 1.0)
};

/// Elements per chunk of adam_update (1 MiB of fp32): its only temporary.
inline constexpr int64_t kAdamChunk = 1 << 18;

/// In-place Adam step on any shape (p, g, m, v alike); `step` is 1-based. No autograd.
void adam_update(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, int64_t step,
                 const AdamOptions& o);
/// The clip coefficient for a global gradient norm (1 when no clipping happens).
double clip_coefficient(double total_norm, const AdamOptions& o);

}  // namespace paratune::models
