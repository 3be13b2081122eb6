#include "models/adam.h"

#include <cmath>

namespace paratune::models {

void adam_update(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, int64_t step,
                 const AdamOptions& o) {
  at::NoGradGuard no_grad;
  m.mul_(o.beta1).add_(g, 1.0 - o.beta1);
  v.mul_(o.beta2).addcmul_(g, g, 1.0 - o.beta2);
  const double bc1 = 1.0 - std::pow(o.beta1, double(step));
  const double bc2 = 1.0 - std::pow(o.beta2, double(step));
  at::Tensor denom = (v / bc2).sqrt_().add_(o.eps);
  p.addcdiv_(m, denom, -o.lr / bc1);
}

double clip_coefficient(double total_norm, const AdamOptions& o) {
  if (o.max_grad_norm <= 0) return 1.0;
  const double c = o.max_grad_norm / (total_norm + 1e-6);
  return c < 1.0 ? c : 1.0;
}

}  // namespace paratune::models
