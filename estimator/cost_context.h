// What every cost function of the estimator reads: the model, the cluster, the model profile,
// the global shape of the plan (devices, pipeline degree, micro-batches, batch) and the options.
//
//   CostContext ctx{&model, &cluster, &profile, /*num_devices=*/8, /*pp=*/2,
//                   /*micro_batches=*/4, /*global_batch=*/32, EstimatorOptions{}};
//   PARATUNE_RETURN_IF_ERROR(validate(ctx));
//   LayerCost c = transformer_layer_cost(ctx, /*stage=*/0, LayerStrategy{.tp = 2, .dp = 2});
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/cluster_profile.h"
#include "core/model_config.h"
#include "core/model_profile.h"
#include "core/status.h"
#include "core/units.h"

namespace paratune::estimator {

/// What a collective is for: tensor parallelism (TP / SP activations, the vocab-parallel loss)
/// or data parallelism (gradient sync, ZeRO parameter gathers, the tied-embedding allreduce).
/// The same op and group size cost differently in the two: a ZeRO step's reduce-scatters come
/// with work around them that an activation's do not.
enum class CommUse { kTensor, kData };
const char* to_string(CommUse u);  // "tp" | "dp"

/// One collective's multiplier in TermScales: `op` for `use` over groups of `group_size` ranks,
/// inside one island or spanning islands (`placement`; unset: either, as in calibrations written
/// before placements were told apart). A group inside a node and one across the slow link run on
/// different transports, and a multiplier fitted on one says nothing about the other.
struct CollectiveScale {
  CommUse use = CommUse::kData;
  CollectiveOp op = CollectiveOp::kAllReduce;
  int group_size = 2;
  double scale = 1;
  std::optional<Placement> placement;
};

/// Multipliers on the cost model's terms, fitted by `paratune calibrate` to short training runs
/// of a few plans on the cluster being planned for (calibrate/calibration.h). Each one scales
/// what the profiles say a term costs; 1 (the default) leaves the profiles as measured.
struct TermScales {
  double compute = 1;   // per-layer forward / backward (incl. recompute), optimizer step
  double wait = 1;      // arrival waits before a collective (cluster.arrival_waits)
  double pipeline = 1;  // p2p transfers between stages and the handoff delay
  // A checkpointed layer's first forward (no autograd; what checkpointing adds to a step, the
  // recompute being a plain forward); on top of `compute`.
  double checkpoint = 1;
  // Not a multiplier: ms added per blocking collective call of a micro-batch (LayerCost::calls,
  // a reshard's two), what a call costs on top of its priced time where ranks share cores: the
  // rank that blocked waits to be scheduled again. 0 (the default) adds nothing; a calibration
  // file may set it (scales.call_ms), `paratune calibrate` leaves it at 0 (docs/accuracy.md,
  // round 22: fitted it stays at 0; fixed at 0.2 ms it helped the 2 x 2 rows, not the 2 x 4).
  double call_ms = 0;
  // Not a multiplier: an exponent. Every layer's profiled compute is also multiplied by
  // g^(-granularity), g = samples a rank computes per micro-batch over its tp (b / t). The
  // executor's time per micro-batch grows more slowly with b than the model profile's layer
  // points (round 25: 1.11-1.21x the profile at g = 1, 0.95-1.08x at 2, 0.92-1.05x at 4). 0 (the
  // default) changes nothing; `paratune calibrate` fits it, in [-1, 1], from its plan at half
  // the micro-batches (--no-granularity: not fitted).
  double granularity = 0;
  // The sizes g the exponent was fitted over (the calibration plans' b / t): outside them g is
  // taken at the nearer end, as a power law from two sizes says nothing beyond them (round 25,
  // row AI: at g = 4 the unclamped exponent predicted 38.5 ms for 50.0 measured, clamped 48.0).
  double granularity_lo = 1, granularity_hi = 1;
  // Per use, collective, group size and placement; a (use, op, size, placement) not listed: the
  // entry without a placement for (use, op, size), else 1.
  std::vector<CollectiveScale> collectives;

  double collective(CommUse use, CollectiveOp op, int group_size, Placement placement) const;
  bool identity() const;
  /// Every scale finite and in [1/16, 16], group sizes >= 2, each (use, op, size, placement)
  /// listed once; errors name the field.
  Status validate() const;
};

/// Knobs of the cost model. Every default is what the executor does unless told otherwise.
struct EstimatorOptions {
  // Fixed per-device memory outside the model: CUDA context, allocator slack, NCCL/Gloo buffers.
  // Default 1 GiB (Galvatron's pytorch_context_mem); set 0 for CPU runs measured by paratune's
  // tracking allocator, which sees only tensors.
  double runtime_buffer_bytes = 1.0 * kGiB;
  // Only for bf16/fp16 models (fp32 models always train in plain fp32): true (default) = mixed
  // precision, dtype params + grads, fp32 master weights and fp32 Adam m, v (2 + 2 + 12 = 16
  // bytes/param); false = pure low-precision training, every state in the dtype (2+2+2+2).
  bool mixed_precision = true;
  // Mixed precision only: keep gradients in fp32 (Megatron's main_grad) -> 4 bytes/param for
  // grads and fp32 gradient communication instead of the dtype's 2. Default false.
  bool fp32_grads = false;
  // DDP / ZeRO gradient-reduction bucket (PyTorch DDP bucket_cap_mb = 25). Each bucket pays one
  // collective latency, so a layer is charged latency * (its gradient bytes / bucket). 0 = one
  // collective per layer. Default 25 MiB.
  double grad_bucket_bytes = 25.0 * kMiB;
  // Gradient reduction (DDP allreduce, ZeRO reduce_scatter) overlaps with the backward of the
  // last micro-batch, slowed by the cluster's overlap coefficients (PyTorch DDP hooks,
  // Galvatron). Default false: the whole reduction is exposed after the backward, which is what
  // paratune's executor does (executor/trainer.h: DDP buckets are allreduced after the last
  // backward; ZeRO-2/3 reduce-scatter each unit's gradient inside its backward, on the critical
  // path).
  bool overlap_grad_sync = false;
  // ZeRO-3 parameter allgathers overlap with the layer's own compute (prefetch). Default false:
  // gathered synchronously right before the layer runs, fully on the critical path.
  bool overlap_zero3_gather = false;
  // Fraction of the device's peak FLOP/s reached by the analytic compute model (used when the
  // model profile lacks a point, or with no profile at all). Default 0.5.
  double analytic_efficiency = 0.5;
  // Price collectives from the cluster profile's measured samples where it has them (the fit
  // plus the samples' residual, comm_model.cpp). Default false: the alpha-beta fit alone. Tried
  // in round 21 and measured worse: re-predicting 11 stored accuracy rows, held-out time error
  // 13.2% / max 41.5% / tau 0.693 against 10.8% / 29.4% / 0.757 with the fit alone (single
  // samples are noisy; the fit smooths them). Kept so that the comparison can be rerun
  // (bench_calibration_refit --comm-samples).
  bool comm_samples = false;
  // Ranks bound one CPU each on a shared host (pipeline.cpp, bound_pipeline_time): a stage's TP
  // collectives inside an island (loopback copies) count as CPU work of the stage, which the
  // other stages on its CPUs wait for, rather than as time in which they compute (round 26).
  bool host_comm_holds_cpu = false;
  // Per-term multipliers (all 1 unless a calibration file is given).
  TermScales scales;

  /// All sizes finite and >= 0, efficiency in (0, 1].
  Status validate() const;
};

/// Plain struct, pointers non-owning (they must outlive every call). `profile` may be null:
/// then every figure comes from the analytic model (analytic_profile.h).
struct CostContext {
  const ModelConfig* model = nullptr;
  const ClusterProfile* cluster = nullptr;
  const ModelProfile* profile = nullptr;
  int num_devices = 1;    // devices of the plan (ranks 0 .. num_devices-1 of the cluster)
  int pp = 1;             // pipeline stages; each stage owns num_devices / pp devices
  int micro_batches = 1;  // per iteration (1F1B)
  int global_batch = 1;   // samples per iteration
  EstimatorOptions options;

  int devices_per_stage() const { return num_devices / pp; }
  /// Samples of one micro-batch of the whole stage: global_batch / micro_batches.
  int stage_micro_batch() const { return global_batch / micro_batches; }
  /// bf16/fp16 model and options.mixed_precision.
  bool mixed_precision() const;
  /// Per-device runtime buffer: the cluster profile's device.runtime_buffer when it has one
  /// (a measured CPU profile says 0), else options.runtime_buffer_bytes.
  double runtime_buffer_bytes() const;
  /// "measured" / "galvatron-import" / ... from the profile, "analytic" without one.
  std::string profile_source() const;
};

/// Non-null model and cluster, 1 <= num_devices <= cluster devices, pp divides num_devices,
/// micro_batches divides global_batch, options valid, analytic compute possible without profile.
Status validate(const CostContext& ctx);

/// Local micro-batch of a layer with data-parallel degree dp: global_batch / micro_batches / dp,
/// or 0 when that is not a positive integer (`why_not`, if given, says why).
int local_micro_batch(const CostContext& ctx, int dp, std::string* why_not = nullptr);

}  // namespace paratune::estimator
