// The search: decision-tree candidates + layer-wise DP per stage + pipeline partition, inside
// outer loops over the pipeline degree, the micro-batch count, the global batch and the
// embedding / LM-head strategy. Every figure comes from the estimator, so a plan and its
// `paratune estimate` agree.
//
//   SearchOptions o; o.memory_per_device = Bytes(36 * kGiB); o.global_batches = {16};
//   StatusOr<SearchResult> r = search(model, cluster, profile, o);
//   write_file_atomic("strategy.json", dump_json(to_json(r->strategy)));
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/cluster_profile.h"
#include "core/model_config.h"
#include "core/model_profile.h"
#include "core/status.h"
#include "core/strategy.h"
#include "estimator/plan_estimate.h"
#include "search/decision_tree.h"

namespace paratune::search {

struct SearchOptions {
  int num_devices = 0;                // devices to plan for; 0 = every device of the cluster
  Bytes memory_per_device;            // the per-device memory limit (required, > 0)
  std::vector<int> global_batches;    // candidate global batch sizes (required, non-empty);
                                      // the plan with the highest samples/s wins
  std::vector<int> pp_degrees;        // pipeline degrees to try; empty = powers of two
                                      // dividing num_devices, at most the layer count
  int max_micro_batches = 64;         // largest micro-batch count tried (counts divide the batch)
  DecisionTreeOptions tree;           // the per-layer space (default: paratune's full space)
  bool embedding_search = true;       // search the embedding/head strategy (else tp1-ddp)
  int memory_buckets = 512;           // memory discretisation of the per-stage DP
  int stage_window = 2;               // a stage holds at most window*ceil(L/pp)+1 layers
  int threads = 0;                    // worker threads over outer loops; 0 = hardware threads
  estimator::EstimatorOptions estimator;  // cost-model options
  Status validate() const;
};

/// Size of the space a search covered (for the benchmark and the report).
struct SpaceStats {
  int64_t outer_configs = 0;     // (batch, pp, micro-batches, embedding) combinations
  int64_t pruned_configs = 0;    // skipped by a lower bound or infeasible up front
  int64_t layer_strategies = 0;  // per-layer candidates summed over the pp degrees
  int64_t stage_dp_runs = 0;     // per-stage DP solves
  double log10_plans = 0;        // log10 of the number of distinct plans in the space
};

struct SearchResult {
  Strategy strategy;
  estimator::PlanEstimate estimate;
  SpaceStats stats;
};

/// Finds the fastest plan that fits. Infeasible: the message gives the smallest memory limit
/// that would work (found by re-running with larger limits).
StatusOr<SearchResult> search(const ModelConfig& model, const ClusterProfile& cluster,
                              const ModelProfile& profile, const SearchOptions& options);

/// Number of devices the options ask for on this cluster, or an error when they don't fit.
StatusOr<int> resolve_devices(const ClusterProfile& cluster, int requested);

}  // namespace paratune::search
