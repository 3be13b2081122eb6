// Compute/communication overlap with the cluster's measured slowdown coefficients (Galvatron's
// rule): while both run, compute is slowed by compute_slowdown and communication by
// comm_slowdown; whatever is left of the longer one then runs alone at full speed.
//
//   Milliseconds extra = overlap_exposed(backward, grad_sync, cluster.overlap);
#pragma once

#include "core/cluster_profile.h"
#include "core/units.h"

namespace paratune::estimator {

/// Wall time of `compute` and `comm` issued together (see overlap.cpp for the formula).
Milliseconds overlapped_time(Milliseconds compute, Milliseconds comm, const OverlapCoefficients& k);
/// overlapped_time(compute, comm) - compute: what the communication adds to the compute.
Milliseconds overlap_exposed(Milliseconds compute, Milliseconds comm, const OverlapCoefficients& k);

}  // namespace paratune::estimator
