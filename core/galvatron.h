// Galvatron interop: import Galvatron's hardware and model profiles into paratune's formats, and
// convert strategies both ways between Galvatron's JSON strategy config and paratune's Strategy.
//
// Galvatron (PKU-DAIR/Hetu-Galvatron) writes its profiles as flat JSON dictionaries whose keys
// encode the measurement ("allreduce_size_8_consec_1", "layertype_0_bsz4_seq2048", ...). What each
// key means and how it maps is documented in docs/galvatron.md and at the top of galvatron.cpp.
//
//   StatusOr<ClusterProfile> c =
//       galvatron::import_a800_cluster("../shared/data/galvatron-a800", 2, 8);
//   StatusOr<ModelProfile> p = galvatron::import_model(
//       "llama2-7b/computation_profiling_bf16_llama2-7b_all.json",
//       "llama2-7b/memory_profiling_bf16_llama2-7b_all.json", llama2_7b_config);
//   StatusOr<Strategy> s = galvatron::import_strategy(galvatron_json, "galvatron_config.json", 8);
//   StatusOr<Json> g = galvatron::export_strategy(*s);
#pragma once

#include <string>
#include <vector>

#include "core/cluster_profile.h"
#include "core/json_reader.h"
#include "core/model_config.h"
#include "core/model_profile.h"
#include "core/status.h"
#include "core/strategy.h"
#include "core/units.h"

namespace paratune::galvatron {

// ---------------------------------------------------------------------------------------------
// Hardware
// ---------------------------------------------------------------------------------------------

/// NVIDIA A800-80GB SXM (the device of ../shared/data/galvatron-a800): 80e9 usable bytes (of
/// 80 GiB = 85.9e9 physical; the rest is CUDA context, NCCL buffers and allocator headroom),
/// 312e12 bf16 dense FLOP/s, 2.039e12 B/s HBM2e.
DeviceSpec a800_80gb();

/// Reads Galvatron's hardware profiles from `dir` for a cluster of `nodes` islands of
/// `gpus_per_node` devices:
///   allreduce_bandwidth_{nodes}nodes_{g}gpus_per_node.json   (required)
///   p2p_bandwidth_{nodes}nodes_{g}gpus_per_node.json         (required)
///   overlap_coefficient.json                                  (required)
///   allreduce_bandwidth_1nodes_{g}gpus_per_node.json, p2p_bandwidth_1nodes_{g}gpus_per_node.json
///       (optional, nodes > 1: intra-node entries the multi-node files lack)
///   sp_time_{nodes}nodes_{g}gpus_per_node.json, else sp_time_1nodes_{g'}gpus_per_node.json with
///       the smallest g' >= g (optional: latency fits, all2all, raw samples)
/// The result is validated; errors name the file and the key.
StatusOr<ClusterProfile> import_hardware(const std::string& dir, int nodes, int gpus_per_node,
                                         DeviceSpec device);

/// import_hardware with a800_80gb(); `dir` may be the data folder (with a "hardware"
/// sub-folder) or the hardware folder itself.
StatusOr<ClusterProfile> import_a800_cluster(const std::string& dir, int nodes, int gpus_per_node);

/// Ranks of group `index` of size n in a world of `world` ranks as Galvatron's hardware profiler
/// forms them: consecutive groups [index*n, (index+1)*n), strided groups
/// {index, index + world/n, index + 2*world/n, ...}. Requires n to divide world.
std::vector<Rank> allreduce_group(int world, int n, bool consecutive, int index);
/// Ranks of pipeline group `index` of Galvatron's p2p profiler: {index + k*world/pp}.
std::vector<Rank> p2p_group(int world, int pp, int index);
/// Inter-island when any of the world/n groups has ranks on two islands of `gpus_per_node`.
Placement allreduce_placement(int world, int gpus_per_node, int n, bool consecutive);
Placement p2p_placement(int world, int gpus_per_node, int pp);

/// Alpha-beta fit t_ms = latency + ms_per_byte * bytes minimising the squared RELATIVE residuals
/// sum ((t_i - fit_i) / t_i)^2, so the small messages (latency) weigh as much as the large ones
/// (bandwidth). A negative intercept is clamped to 0 and the slope refitted through the origin.
/// Needs >= 2 distinct sizes.
struct AlphaBeta {
  Milliseconds latency;
  double ms_per_byte = 0;
};
StatusOr<AlphaBeta> fit_alpha_beta(const std::vector<CommSample>& samples);

// ---------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------

struct ModelImportOptions {
  std::string device = "A800";                // ModelProfile::device
  BytesPerSecond memory_bandwidth{2.039e12};  // splits "layertype_other" into embedding
                                              // (memory-bound gather) and LM head
};

/// Reads Galvatron's computation_profiling_*.json and memory_profiling_*.json for `model`
/// (its seq_len selects the entries; an error lists the sequence lengths the files have). The
/// result is validated.
StatusOr<ModelProfile> import_model(const std::string& computation_json,
                                    const std::string& memory_json, const ModelConfig& model,
                                    const ModelImportOptions& options = {});

/// import_model on `dir`/<model.name>/computation_profiling_*.json and memory_profiling_*.json
/// (exactly one of each), e.g. dir = "../shared/data/galvatron-a800", model.name = "llama2-7b".
StatusOr<ModelProfile> import_a800_model(const std::string& dir, const ModelConfig& model);

// ---------------------------------------------------------------------------------------------
// Strategy
// ---------------------------------------------------------------------------------------------

struct StrategyImportOptions {
  // Galvatron's global --sequence-parallel flag (Megatron SP on every layer with tp > 1); it is
  // a launch argument, not part of the JSON config. A "sequence_parallel" key in the config (a
  // paratune extension that export_strategy writes and Galvatron ignores) overrides it.
  bool sequence_parallel = false;
};

/// Converts Galvatron's JSON strategy config to a Strategy for `num_devices` devices. Absent
/// optional keys take Galvatron's defaults (checkpoint all 0, pp_division even with the remainder
/// on the last stage, use_sp all 0, vtp 1, vsp 0, embed_sdp 0, default_dp_type "ddp",
/// chunks -1 = Galvatron's automatic rule). Wrong types, wrong lengths and unknown keys are
/// errors naming `file` and the key. Ulysses sequence parallelism (use_sp = 1 on a layer with
/// tp_sizes_enc > 1, vsp = 1 with vtp > 1) has no paratune equivalent and is an error.
StatusOr<Strategy> import_strategy(const Json& j, const std::string& file, int num_devices,
                                   const StrategyImportOptions& options = {});
/// Reads the file and calls import_strategy.
StatusOr<Strategy> load_strategy(const std::string& path, int num_devices,
                                 const StrategyImportOptions& options = {});

/// Converts a Strategy to Galvatron's JSON strategy config. Galvatron has one dp type per config
/// besides ZeRO-3 (dp_types_enc 1), so layers (and the embedding) with dp > 1 may not mix DDP and
/// ZeRO-2: default_dp_type is "zero2" when any of them uses ZeRO-2, else "ddp". Megatron SP must
/// be the same on every layer with tp > 1 (written as "sequence_parallel"); the embedding must
/// use consecutive TP and no checkpointing. Errors name the offending layer.
StatusOr<Json> export_strategy(const Strategy& s);

}  // namespace paratune::galvatron
