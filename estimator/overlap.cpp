// Overlap of compute C (ms, alone) and communication D (ms, alone), both started together;
// kc = compute_slowdown >= 1, kd = comm_slowdown >= 1 (1 = no interference):
//   D*kd <= C*kc (communication finishes first, after D*kd ms; C - D*kd/kc of compute is left):
//       T = D*kd + (C - D*kd/kc)
//   D*kd >  C*kc (compute finishes first, after C*kc ms; D - C*kc/kd of communication is left):
//       T = C*kc + (D - C*kc/kd)
// Both branches agree at D*kd == C*kc; with kc = kd = 1, T = max(C, D). Exposed = T - C >= 0.
#include "estimator/overlap.h"

#include <algorithm>

namespace paratune::estimator {

Milliseconds overlapped_time(Milliseconds compute, Milliseconds comm,
                             const OverlapCoefficients& k) {
  const double c = std::max(0.0, compute.value);
  const double d = std::max(0.0, comm.value);
  const double kc = std::max(1.0, k.compute_slowdown);
  const double kd = std::max(1.0, k.comm_slowdown);
  if (c == 0 || d == 0) return Milliseconds(c + d);
  if (d * kd <= c * kc) return Milliseconds(d * kd + (c - d * kd / kc));
  return Milliseconds(c * kc + (d - c * kc / kd));
}

Milliseconds overlap_exposed(Milliseconds compute, Milliseconds comm,
                             const OverlapCoefficients& k) {
  return Milliseconds(std::max(0.0, (overlapped_time(compute, comm, k) - compute).value));
}

}  // namespace paratune::estimator
