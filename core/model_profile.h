// Model profile: measured (or analytic) per-layer-type costs on given hardware.
//
// Per layer type ("transformer", "embedding", "lm_head"): forward and backward time of ONE
// micro-batch on ONE device as a function of the local micro-batch size (samples) and the TP
// degree (the device holds a 1/tp shard); parameter count (full layer, unsharded); activation
// bytes kept for backward per sample per device at each tp (with and without sequence
// parallel); with checkpointing only the layer input is kept (checkpoint_bytes_per_sample at
// tp = 1; sequence parallel divides it by tp). Optionally the optimizer step of one unit as a
// function of the fp32 parameters it updates (executor/sharded_unit.cpp: the gradient-norm
// square sum, gradient clipping, the Adam update, zeroing the gradient), measured on every
// local rank at once.
//
//   StatusOr<ModelProfile> p = load_model_profile("gpt-small.profile.json");
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json_reader.h"
#include "core/status.h"
#include "core/units.h"

namespace paratune {

struct ComputePoint {
  int micro_batch = 1;      // local samples per micro-batch
  int tp = 1;               // tensor-parallel degree of the shard that was timed
  Milliseconds forward;     // forward of one micro-batch
  Milliseconds backward;    // backward of one micro-batch (no recompute)
  // Forward without autograd (what a checkpointed layer's first forward costs: no graph, no
  // saved tensors); absent when not measured (then the estimator uses `forward`).
  std::optional<Milliseconds> forward_no_grad{};
  bool operator==(const ComputePoint& o) const;
};

struct ActivationPoint {
  int tp = 1;
  bool sp = false;          // measured with sequence parallel
  Bytes bytes_per_sample;   // kept for backward, per device, per local sample
  bool operator==(const ActivationPoint& o) const;
};

struct LayerTypeProfile {
  std::string name;                         // "transformer" | "embedding" | "lm_head"
  int64_t param_count = 0;                  // parameters of the whole (unsharded) layer
  std::vector<ComputePoint> compute;
  std::vector<ActivationPoint> activation;
  Bytes checkpoint_bytes_per_sample;        // layer input kept when checkpointed, tp = 1
  bool operator==(const LayerTypeProfile& o) const;
};

struct OptimizerPoint {
  int64_t params = 0;  // fp32 parameters updated by one unit's step on one device
  Milliseconds time;   // that unit's step
  bool operator==(const OptimizerPoint& o) const;
};

// The run's speed, measured by a fixed reference call timed between the points all through the
// run (profile-model: the model's transformer layer at tp 1, micro-batch 1, forward and
// backward). A machine that runs a whole profile 10-20% slower moves every point with it; this
// is how much.
struct SpeedProbe {
  std::string call;      // what the reference call is, e.g. "transformer tp 1 mb 1 forward+backward"
  Milliseconds measured; // its time in this run, kept like the points (> 0)
  double scale = 1.0;    // every time in the profile was multiplied by this (> 0; 1 unless the
                         // run was put on an earlier profile's speed, profile-model --speed-reference)
  /// The reference call's time at the speed the profile's times are on: measured x scale.
  Milliseconds at_profile_speed() const { return Milliseconds(measured.value * scale); }
  bool operator==(const SpeedProbe& o) const;
};

struct ModelProfile {
  static constexpr int kFormatVersion = 1;
  std::string model;               // model name
  std::string model_fingerprint;   // fingerprint(ModelConfig) it was measured for ("" = any)
  std::string source;              // "measured" | "analytic" | "galvatron-import"
  std::string device;              // device name the numbers are for
  int seq_len = 0;
  std::vector<LayerTypeProfile> layer_types;
  std::vector<OptimizerPoint> optimizer_step;  // optional; empty: not measured, not charged
  std::optional<SpeedProbe> speed_probe;       // optional; absent: not measured

  /// nullptr when absent.
  const LayerTypeProfile* find(const std::string& name) const;
  bool operator==(const ModelProfile& o) const;
};

Status validate(const ModelProfile& p, const std::string& file);
StatusOr<ModelProfile> model_profile_from_json(const Json& j, const std::string& file);
StatusOr<ModelProfile> load_model_profile(const std::string& path);
Json to_json(const ModelProfile& p);

}  // namespace paratune
