// The plan: strategy.json, the executor's only input besides the model config.
//
// A Strategy fixes the pipeline degree, the layers of each stage, the micro-batch count and
// global batch, and for every transformer layer its LayerStrategy (tp, dp, which of the two takes
// consecutive devices, dp_type, sequence parallel, checkpointing). The embedding and LM head share
// one LayerStrategy (vocab-parallel tp, dp, dp_type). Inside stage s (ranks [s*g, (s+1)*g), with
// g = num_devices / pp) every layer uses tp * dp == g devices.
//
//   Strategy s = ...; PARATUNE_RETURN_IF_ERROR(validate(s, model, "strategy.json"));
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/json_reader.h"
#include "core/model_config.h"
#include "core/status.h"
#include "core/units.h"

namespace paratune {

enum class DpType { kDdp, kZero2, kZero3 };
const char* to_string(DpType t);  // "ddp" | "zero2" | "zero3"

/// How one layer is split over its stage's devices.
struct LayerStrategy {
  int tp = 1;                   // tensor-parallel degree (power of two)
  bool tp_consecutive = true;   // true: TP groups take consecutive ranks, DP strided
  bool sp = false;              // Megatron sequence parallel (only with tp > 1)
  int dp = 1;                   // data-parallel degree; tp * dp == devices per stage
  DpType dp_type = DpType::kDdp;
  bool checkpoint = false;      // activation checkpointing (recompute in backward)

  bool operator==(const LayerStrategy& o) const {
    return tp == o.tp && tp_consecutive == o.tp_consecutive && sp == o.sp && dp == o.dp &&
           dp_type == o.dp_type && checkpoint == o.checkpoint;
  }
  bool operator!=(const LayerStrategy& o) const { return !(*this == o); }
  bool operator<(const LayerStrategy& o) const;  // total order for deterministic containers
};
/// Short label "tp2*-dp4-zero3-sp-ckpt" (* marks the side on consecutive devices).
std::string to_string(const LayerStrategy& s);
Json to_json(const LayerStrategy& s);

/// Predicted figures stored with a searched plan (absent in hand-written files).
struct Prediction {
  Milliseconds iteration;                  // one training iteration
  double samples_per_s = 0;                // global_batch / iteration
  std::vector<Bytes> stage_peak_memory;    // per-device peak, one per stage
  std::string profile_source;              // "measured" | "analytic" | "galvatron-import"
  bool operator==(const Prediction& o) const;
};

struct Strategy {
  static constexpr int kFormatVersion = 1;
  int num_devices = 1;              // world size the plan is for
  int pp = 1;                       // pipeline stages
  std::vector<int> pp_division;     // layers per stage, sums to the model's layer count
  int micro_batches = 1;            // per iteration (1F1B)
  int global_batch = 1;             // samples per iteration
  LayerStrategy embedding;          // embedding + LM head (tp = vocab-parallel degree)
  std::vector<LayerStrategy> layers;
  std::string model_fingerprint;    // fingerprint(ModelConfig) it was searched for ("" = any)
  std::string cluster_fingerprint;  // fingerprint(ClusterProfile) ("" = any)
  std::optional<Prediction> predicted;

  int devices_per_stage() const { return num_devices / pp; }
  /// Stage owning layer l.
  StageIdx stage_of_layer(LayerIdx l) const;
  /// First layer of stage s.
  LayerIdx first_layer(StageIdx s) const;
  bool operator==(const Strategy& o) const;
};

/// Checks the plan against itself and the model: pp divides num_devices and pp <= layers,
/// division sums to the layer count, tp*dp == devices per stage, powers of two, heads / kv_heads
/// / ffn / vocab divisible by tp, sp only with tp > 1, micro-batches divide the batch. The
/// message names `file` and the field.
Status validate(const Strategy& s, const ModelConfig& m, const std::string& file);

/// A plan where every layer and the embedding/head use `ls` (the embedding without
/// checkpointing) and the stages split `layers` as evenly as possible (the first stages take
/// one more when pp does not divide it). No prediction, no fingerprints.
///   Strategy s = uniform_strategy(8, 2, ls, 32, 16, 4);
Strategy uniform_strategy(int devices, int pp, const LayerStrategy& ls, int layers,
                          int global_batch, int micro_batches);
/// Checks only the model-independent structure.
Status validate_structure(const Strategy& s, const std::string& file);
StatusOr<Strategy> strategy_from_json(const Json& j, const std::string& file);
StatusOr<Strategy> load_strategy(const std::string& path);
Json to_json(const Strategy& s);

}  // namespace paratune
