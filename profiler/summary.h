// Human-readable table of a cluster profile (`paratune profile-cluster --summary FILE`).
// Torch-free.
//
//   std::cout << cluster_summary(*load_cluster_profile("cluster.json"));
#pragma once

#include <string>

#include "core/cluster_profile.h"

namespace paratune::profiler {

std::string cluster_summary(const ClusterProfile& c);

}  // namespace paratune::profiler
