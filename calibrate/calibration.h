// Calibration: the estimator's term multipliers (estimator::TermScales) fitted to short training
// runs of a few plans, on the cluster and model profiles that the search will use.
//
// The profiles measure each term alone (a GEMM, a collective with idle ranks, one p2p). On
// shared cores a real step also pays what the terms do to each other (Gloo's threads taking
// cores from compute, collectives waiting longer under load). `paratune calibrate` trains one
// plan of each family (calibration_plans), and fit_calibration() picks the multipliers on
// compute, arrival waits, the pipeline links and each collective by group size (and, with
// FitInputs::per_placement, placement: inside an island / across islands) that bring the
// predictions of those runs closest to what was measured (least squares on log(pred / meas),
// with a penalty that keeps a multiplier at 1 unless the runs move it).
//
//   StatusOr<Calibration> c = load_calibration("calibration.json");
//   PARATUNE_RETURN_IF_ERROR(check_matches(*c, cluster, profile, "calibration.json"));
//   options.scales = c->scales;
//
// File format (format_version 1):
//   {"format_version": 1, "kind": "paratune-calibration", "cluster": NAME, "model": NAME,
//    "cluster_digest": HEX, "profile_digest": HEX, "global_batch": 8,
//    "scales": {"compute": 1.2, "wait": 1.0, "pipeline": 1.4, "checkpoint": 0.6 (optional, 1),
//               "collectives": [{"use": "dp", "op": "allreduce", "group_size": 4,
//                                "placement": "inter" (optional: without it, both), "scale": 1.3},
//                               ...]},
//    "fit": {"log_rms_before": 0.41, "log_rms_after": 0.09,
//            "collective_groups": "by-use" (optional, by-size), "per_placement": true (optional)},
//    "runs": [{"plan": "pp1-m2 tp1-dp4", "strategy": {...}, "measured_ms": 58.1,
//              "predicted_ms": 41.0, "calibrated_ms": 55.2}, ...]}
// The digests are FNV-1a 64 of the canonical JSON of the cluster and model profiles the fit used:
// a calibration belongs to that pair of profiles (check_matches).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/cluster_profile.h"
#include "core/json_reader.h"
#include "core/model_config.h"
#include "core/model_profile.h"
#include "core/status.h"
#include "core/strategy.h"
#include "estimator/cost_context.h"

namespace paratune::calibrate {

struct CalibrationRun {
  std::string plan;  // runner::plan_name
  Strategy strategy;
  double measured_ms = 0;    // median step time of the training runs
  double predicted_ms = 0;   // the estimator with every scale at 1
  double calibrated_ms = 0;  // the estimator with the fitted scales
};

/// Which collective entries share one multiplier in the fit: one per use, op and group size
/// (kBySize), per use and op (kByOp), or per use (kByUse: one for TP's collectives, one for DP's);
/// kNested: one per use times one per use, op and group size, the latter held closer to 1
/// (FitInputs::deviation_penalty).
enum class CollectiveGroups { kBySize, kByOp, kByUse, kNested };
const char* to_string(CollectiveGroups g);  // "by-size", "by-op", "by-use", "nested"
StatusOr<CollectiveGroups> collective_groups_from_string(const std::string& s);

/// How collective multipliers treat placement (inside an island / across islands): one for both
/// (kShared), one per placement that a plan runs, 1 for the others (kSeparate, round 16), or
/// the shared one times a factor per placement held near 1 (kDeviation, round 26): a placement
/// no plan runs takes the shared value. `paratune calibrate --placement-fit` (default separate:
/// on 19 stored rows of the emulated 2 x 2 cluster it predicted the held-out plans best,
/// docs/accuracy.md round 26).
enum class PlacementFit { kShared, kSeparate, kDeviation };
const char* to_string(PlacementFit p);  // "shared", "separate", "deviation"
StatusOr<PlacementFit> placement_fit_from_string(const std::string& s);

struct Calibration {
  std::string cluster, model;  // names from the profiles
  std::string cluster_digest, profile_digest;
  int global_batch = 0;
  estimator::TermScales scales;
  double log_rms_before = 0, log_rms_after = 0;  // sqrt(mean log(pred / meas)^2) over runs
  // How the fit grouped the collective multipliers (FitInputs); written to the file's "fit" only
  // when not the default, so that files of the default fit read in older builds.
  CollectiveGroups collective_groups = CollectiveGroups::kBySize;
  bool per_placement = false;
  bool placement_deviation = false;  // FitInputs::placement_deviation
  std::vector<CalibrationRun> runs;
};

Json to_json(const Calibration& c);
StatusOr<Calibration> calibration_from_json(const Json& j, const std::string& file);
StatusOr<Calibration> load_calibration(const std::string& path);

/// "compute x1.21, wait x0.90, pipeline x1.35, dp allreduce/4 x1.40, ..." (only scales != 1;
/// "all 1" when none).
std::string describe(const estimator::TermScales& s);

/// FNV-1a 64 of dump_json(j), as 16 hex digits.
std::string digest(const Json& j);
/// OK when `c` was fitted on exactly these profiles (by digest); otherwise an error naming
/// `file` and saying which profile differs.
Status check_matches(const Calibration& c, const ClusterProfile& cluster,
                     const ModelProfile& profile, const std::string& file);

/// Every uniform strategy of the default search space on `num_devices` devices (each pp, each
/// per-layer candidate of the decision tree on every layer; the embedding falls back to tp 1 when
/// the vocabulary does not split), micro-batches = runner::micro_batches_for; only plans that
/// validate against the model.
std::vector<Strategy> uniform_plans(const ModelConfig& model, int num_devices, int batch);

/// The plans `paratune calibrate` trains: one uniform plan of each family that exists for this
/// model and device count, in this order: DDP over all devices, ZeRO-2 and ZeRO-3 over all
/// devices, DDP with checkpointing, the widest TP, TP 2 with DDP, TP 2 with ZeRO-2, TP 2 with ZeRO-3, TP 2 with
/// sequence parallelism, the widest TP with sequence parallelism, the deepest pipeline, a 2-stage
/// pipeline with DDP, TP 2 over strided ranks with DDP, a 2-stage pipeline with ZeRO-2, a
/// 2-stage pipeline with TP 2; then the shallowest of those pipelines with DDP again at half its
/// micro-batches (twice the samples per rank per micro-batch; where that leaves at least one
/// per stage). Duplicates dropped.
std::vector<Strategy> calibration_plans(const ModelConfig& model, int num_devices, int batch);


/// What the fit reads: the profiles and the estimator options every other figure uses
/// (options.scales is ignored: the fit starts from all 1).
struct FitInputs {
  const ModelConfig* model = nullptr;
  const ClusterProfile* cluster = nullptr;
  const ModelProfile* profile = nullptr;
  int global_batch = 1;
  estimator::EstimatorOptions options;
  double penalty = -1;  // weight of the pull towards 1; < 0: kPenalty
  // One collective multiplier per placement (inside an island / across islands), or one for
  // both (the library's default). Not better on the 9 stored rows of round 16, whose calibration
  // plans ran no TP across the link; better on 19 rows in round 26 (held-out 10.6% against
  // 11.8%), so `paratune calibrate` and bench_calibration_refit turn it on by default
  // (`--placement-fit separate`; set_placement_fit()).
  bool per_placement = false;
  // With per_placement: each placement's multiplier is the shared one (as without per_placement)
  // times a factor of its own held towards 1 by deviation_penalty, so that a placement no plan
  // runs takes the shared value instead of 1 (`--placement-fit deviation`; round 26).
  bool placement_deviation = false;
  CollectiveGroups collective_groups = CollectiveGroups::kBySize;
  double deviation_penalty = -1;  // kNested, placement_deviation: weight on each entry's own
                                  // factor; < 0: kDeviationPenalty
  // TermScales::call_ms, the time added per blocking collective call (round 22): fixed at
  // `call_ms`, or with per_call fitted from there up (0 .. 1.5 ms). Neither is on in `paratune
  // calibrate`; bench_calibration_refit --call-ms X / --per-call (docs/accuracy.md, round 22).
  double call_ms = 0;
  bool per_call = false;
  // TermScales::granularity, the exponent of compute's dependence on samples per rank per
  // micro-batch over tp (round 25), fitted when the plans differ in that size (it stays 0
  // otherwise): on by default (`paratune calibrate --no-granularity`,
  // bench_calibration_refit --no-granularity turn it off).
  bool per_granularity = true;

  /// Sets per_placement and placement_deviation.
  void set_placement_fit(PlacementFit p) {
    per_placement = p != PlacementFit::kShared;
    placement_deviation = p == PlacementFit::kDeviation;
  }
};

/// The estimator's iteration time (ms) of `plan` on every device of the cluster with `scales`;
/// an error when the estimator rejects the plan.
StatusOr<double> predict_ms(const FitInputs& in, const Strategy& plan,
                            const estimator::TermScales& scales);

/// Fits the scales to `measured` (plan, median step ms; at least 2 runs, every ms > 0).
/// Minimises mean(log(pred / meas)^2) + kPenalty * sum(log(scale)^2) by coordinate descent
/// (golden section on each log-scale in [log 1/16, log 16]). The scales: compute, wait, pipeline,
/// checkpoint and every collective by use (tp / dp) and group size (2, 4, .. devices) that the
/// plans use; with in.per_placement, by placement (intra / inter island) too.
StatusOr<Calibration> fit_calibration(const FitInputs& in,
                                      const std::vector<std::pair<Strategy, double>>& measured);

/// Weight of the penalty that keeps an unconstrained scale at 1.
inline constexpr double kPenalty = 0.001;
/// TermScales::call_ms = kCallBaseMs * (exp(x) - 1) with x in [0, log 16] (0 .. 1.5 ms), x
/// penalised like a log-scale.
inline constexpr double kCallBaseMs = 0.1;
/// Weight of the penalty on a collective entry's own factor under CollectiveGroups::kNested.
inline constexpr double kDeviationPenalty = 0.03;

}  // namespace paratune::calibrate
