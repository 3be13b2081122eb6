#include "models/adam.h"

#include <algorithm>
#include <cmath>

namespace paratune::models {

void adam_update(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, int64_t step,
                 const AdamOptions& o) {
  at::NoGradGuard no_grad;
  const double bc1 = 1.0 - std::pow(o.beta1, double(step));
  const double bc2 = 1.0 - std::pow(o.beta2, double(step));
  auto update = [&](at::Tensor p_, const at::Tensor& g_, at::Tensor m_, at::Tensor v_) {
    m_.mul_(o.beta1).add_(g_, 1.0 - o.beta1);
    v_.mul_(o.beta2).addcmul_(g_, g_, 1.0 - o.beta2);
    at::Tensor denom = (v_ / bc2).sqrt_().add_(o.eps);
    p_.addcdiv_(m_, denom, -o.lr / bc1);
  };
  // Elementwise, so running it chunk by chunk gives the same bits and bounds the temporary
  // (denom) to one chunk instead of a copy of the whole tensor.
  const bool flat_ok = p.is_contiguous() && g.is_contiguous() && m.is_contiguous() &&
                       v.is_contiguous();
  if (!flat_ok || p.numel() <= kAdamChunk) {
    update(p, g, m, v);
    return;
  }
  at::Tensor pf = p.view(-1), gf = g.reshape(-1), mf = m.view(-1), vf = v.view(-1);
  for (int64_t i = 0; i < pf.numel(); i += kAdamChunk) {
    const int64_t n = std::min(kAdamChunk, pf.numel() - i);
    update(pf.narrow(0, i, n), gf.narrow(0, i, n), mf.narrow(0, i, n), vf.narrow(0, i, n));
  }
}

double clip_coefficient(double total_norm, const AdamOptions& o) {
  if (o.max_grad_norm <= 0) return 1.0;
  const double c = o.max_grad_norm / (total_norm + 1e-6);
  return c < 1.0 ? c : 1.0;
}

}  // namespace paratune::models
