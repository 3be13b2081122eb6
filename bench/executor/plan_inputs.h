// Inputs and plans shared by the benches that compare predictions with runs (bench_accuracy,
// bench_plan_quality): the three input files, the estimate on the CPU executor's terms, and
// every uniform strategy of the default space. Torch-free.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/cluster_profile.h"
#include "core/model_config.h"
#include "core/model_profile.h"
#include "core/strategy.h"
#include "estimator/plan_estimate.h"

namespace paratune::bench {

struct BenchInputs {
  ClusterProfile cluster;
  ModelConfig model;
  ModelProfile profile;
  estimator::TermScales scales;  // from --calibration; all 1 without
  std::vector<Strategy> calibration_plans = {};  // the plans that calibration was fitted on
};

/// Loads the three files; on an error prints "<bench>: <message>" and exits with 1.
BenchInputs load_inputs_or_die(const std::string& bench, const std::string& cluster,
                               const std::string& model, const std::string& profile);

/// Reads a `paratune calibrate` file into in.scales and in.calibration_plans; it must have been
/// fitted on in.cluster and in.profile (calibrate::check_matches). Exits with 1 otherwise.
void load_calibration_or_die(const std::string& bench, const std::string& path, BenchInputs& in);
/// True when `s` is one of the plans that the calibration was fitted on.
bool is_calibration_plan(const BenchInputs& in, const Strategy& s);

/// The estimator's figures for `plan` at global batch `batch` on every device of the cluster,
/// with no runtime buffer (the CPU executor's allocator sees only tensors) and in.scales;
/// nullopt when the
/// estimator rejects the plan.
std::optional<estimator::PlanEstimate> estimate_for_executor(const BenchInputs& in,
                                                             const Strategy& plan, int batch);

/// Largest per-stage peak memory of an estimate (bytes).
double peak_bytes(const estimator::PlanEstimate& e);

/// Every uniform strategy of the default space on all devices (each pp, each per-layer
/// candidate on every layer; the embedding falls back to tp 1 when the vocabulary does not
/// split), with micro_batches_for() set; only plans that validate against the model.
std::vector<Strategy> uniform_plans(const BenchInputs& in, int batch);

}  // namespace paratune::bench
