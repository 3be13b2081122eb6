// Helpers shared by the planning subcommands: size and range parsing, loading the three inputs
// of a search (cluster, model, profile) with the analytic fallback, tables.
#pragma once

#include <string>
#include <vector>

#include "core/cluster_profile.h"
#include "core/model_config.h"
#include "core/model_profile.h"
#include "core/status.h"
#include "core/strategy.h"
#include "estimator/plan_estimate.h"

namespace paratune::apps {

/// "36GiB", "36GB", "512MiB", "1.5TiB", "1000000" (bytes) -> bytes. Names the flag on error.
StatusOr<double> parse_size(const std::string& text, const std::string& flag);
/// "16" -> {16}; "8:64" -> {8,16,32,64} (powers of two in range); "8,12,16" -> list.
StatusOr<std::vector<int>> parse_batches(const std::string& text, const std::string& flag);
std::string format_bytes(double bytes);  // "12.34 GiB" (>= 1 GiB), "5.20 MiB", "7.00 KiB"

struct PlanInputs {
  ClusterProfile cluster;
  ModelConfig model;
  ModelProfile profile;   // measured, imported, or analytic (profile.source says which)
};
/// Loads --cluster/--model/--profile; an empty profile path means an analytic profile.
StatusOr<PlanInputs> load_plan_inputs(const std::string& cluster, const std::string& model,
                                      const std::string& profile);

/// `--calibration` (a `paratune calibrate` file): when `path` is not empty, loads it, checks that
/// it was fitted on in.cluster and in.profile, and sets options.scales; prints one line saying
/// what was applied.
Status apply_calibration(const std::string& path, const PlanInputs& in,
                         estimator::EstimatorOptions& options);

/// Human-readable plan: per stage, per layer (runs of equal layers collapsed), predicted
/// iteration time, samples/s, peak memory per stage.
void print_plan(const Strategy& s, const estimator::PlanEstimate& e, bool per_layer);

/// Prints "paratune <cmd>: <message>" to stderr and returns 1.
int fail(const std::string& cmd, const Status& st);

}  // namespace paratune::apps
