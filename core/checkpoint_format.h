// Sharded training checkpoints: the on-disk format, torch-free (inspected, verified and fuzzed
// without libtorch; the executor writes and loads it, executor/checkpoint.h).
//
// A save directory D holds one folder per checkpoint, D/step-<8 digits>/:
//   rank-<5 digits>.bin   one rank's raw data: little-endian fp32 values
//   rank-<5 digits>.json  that rank's shard index: what the .bin holds, its block checksums
//   manifest.json         written last, by rank 0, once every shard is durable (each file is
//                         written to a temporary name, fsync'ed and renamed): a checkpoint is
//                         complete if and only if its manifest exists
// and D/latest names the folder of the last completed save (written after its manifest).
//
// Layout independence. A *piece* is the range [begin, end) of the row-major flattening of one
// TP slice of one full parameter tensor: slice tp_rank of tp along split_dim (split_dim = -1:
// a replicated tensor, tp = 1). Which full-tensor elements a piece holds is a pure function of
// (full_shape, split_dim, tp, tp_rank, begin, end) (core/checkpoint_layout.h), so a reader under
// any other layout finds the pieces that intersect what it needs and reads only those bytes; no
// rank ever gathers the full model. Each element of every parameter is in exactly one piece:
// a unit's DP rank k writes the elements of its ZeRO shard range k of the flat TP-local buffer
// (also under ddp, which splits the writing evenly), TP-replicated tensors only on TP rank 0.
// For a piece of n = end - begin elements the .bin holds, from `offset` (bytes): n param
// values, n Adam exp_avg, n Adam exp_avg_sq.
//
// Integrity. The .bin is checksummed per block of block_bytes (CRC-32, core/crc32.h), so a
// reader verifies exactly the blocks it reads; the manifest pins each index's size and CRC-32,
// each index its .bin's size. A truncated or corrupt file is an error naming it and the field.
//
// manifest.json
//   { "format": "paratune-checkpoint", "format_version": 1,
//     "step": 10,                 completed optimizer steps (= the next batch's data position)
//     "world_size": 4, "seed": 1 (parameter init), "data": "<data source>", "data_seed": 1,
//     "adam": {"lr", "beta1", "beta2", "eps", "max_grad_norm"},
//     "model": {model config}, "strategy": {strategy it was written under},
//     "shards": [{"rank": 0, "index": "rank-00000.json", "index_bytes": 1234,
//                 "index_crc32": 305419896, "data": "rank-00000.bin", "data_bytes": 5678}, ...] }
// rank-<r>.json (shard index)
//   { "format": "paratune-checkpoint-shard", "format_version": 1, "rank": 0, "step": 10,
//     "data": "rank-00000.bin", "data_bytes": 5678, "block_bytes": 262144,
//     "block_crc32": [crc of block 0, ...],
//     "rng": {"offset": 5000, "bytes": 678},   this rank's CPU generator state (raw bytes)
//     "pieces": [{"unit": "layer3", "param": "wq", "full_shape": [32, 32], "split_dim": 0,
//                 "tp": 2, "tp_rank": 1, "begin": 0, "end": 512, "offset": 0}, ...] }
//
//   StatusOr<OpenCheckpoint> c = open_checkpoint("runs/a");   // latest complete step-*
//   if (!c.ok()) ...;  c->manifest.step, c->indices[r].pieces
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/json_reader.h"
#include "core/model_config.h"
#include "core/status.h"
#include "core/strategy.h"
#include "core/units.h"

namespace paratune {

inline constexpr const char* kManifestFormat = "paratune-checkpoint";
inline constexpr const char* kShardFormat = "paratune-checkpoint-shard";
inline constexpr const char* kManifestFile = "manifest.json";
/// In the save dir: the name of the step-* folder of the last completed save (one line).
inline constexpr const char* kLatestFile = "latest";

/// One contiguous range of one TP slice of a full parameter tensor (see the top comment).
struct PieceInfo {
  std::string unit;                 // "embedding", "layer<l>", "head"
  std::string param;                // name inside the unit, e.g. "wq"
  std::vector<int64_t> full_shape;  // unsharded shape
  int split_dim = -1;               // TP split dimension; -1: replicated (tp = 1)
  int tp = 1;                       // TP degree of the slice
  int tp_rank = 0;                  // which slice
  int64_t begin = 0, end = 0;       // element range of the flattened slice
  int64_t offset = 0;               // byte offset of the param values in the .bin
  int64_t numel() const { return end - begin; }
  bool operator==(const PieceInfo& o) const;
};

struct ShardIndex {
  static constexpr int kFormatVersion = 1;
  Rank rank = 0;
  int64_t step = 0;
  std::string data_file;  // "rank-<r>.bin", inside the checkpoint folder
  int64_t data_bytes = 0;
  int64_t block_bytes = 1;            // checksum block size
  std::vector<uint32_t> block_crc32;  // ceil(data_bytes / block_bytes) entries
  int64_t rng_offset = 0, rng_bytes = 0;
  std::vector<PieceInfo> pieces;
  bool operator==(const ShardIndex& o) const;
};

struct ShardEntry {
  Rank rank = 0;
  std::string index_file;  // "rank-<r>.json"
  int64_t index_bytes = 0;
  uint32_t index_crc32 = 0;
  std::string data_file;  // "rank-<r>.bin"
  int64_t data_bytes = 0;
  bool operator==(const ShardEntry& o) const;
};

/// Optimizer hyper-parameters the state was trained with (Adam, models/adam.h).
struct AdamHyper {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, max_grad_norm = 1.0;
  bool operator==(const AdamHyper& o) const;
};

struct CheckpointManifest {
  static constexpr int kFormatVersion = 1;
  int64_t step = 0;  // completed optimizer steps
  int world_size = 1;
  int64_t seed = 1;  // parameter init seed
  std::string data;  // description of the data source
  int64_t data_seed = 1;
  AdamHyper adam;
  ModelConfig model;
  Strategy strategy;
  std::vector<ShardEntry> shards;  // one per rank, in rank order
  bool operator==(const CheckpointManifest& o) const;
};

/// "step-00000010", "rank-00003.bin", "rank-00003.json".
std::string step_dir_name(int64_t step);
std::string shard_data_name(Rank r);
std::string shard_index_name(Rank r);

Json to_json(const PieceInfo& p);
Json to_json(const ShardIndex& s);
Json to_json(const CheckpointManifest& m);
/// Strict parsing and self-consistency checks (ranges in bounds of their slice, block count,
/// file names canonical, strategy valid for the model and world size); errors name `file` and
/// the field.
StatusOr<ShardIndex> shard_index_from_json(const Json& j, const std::string& file);
StatusOr<CheckpointManifest> manifest_from_json(const Json& j, const std::string& file);
StatusOr<ShardIndex> load_shard_index(const std::string& path);
StatusOr<CheckpointManifest> load_manifest(const std::string& path);

/// A checkpoint whose manifest and every shard index have been read and cross-checked
/// (index sizes and CRCs as the manifest says, each .bin present with the size its index
/// says). The .bin contents are verified block by block when read (core/checkpoint_io.h).
struct OpenCheckpoint {
  std::string dir;  // the step-* folder
  CheckpointManifest manifest;
  std::vector<ShardIndex> indices;  // by rank
  std::string data_path(Rank r) const { return dir + "/" + manifest.shards[r].data_file; }
};

/// `path` is a checkpoint folder (it has manifest.json) or a save directory: then the one
/// `latest` names if it is complete, else the complete checkpoint (step-* with a manifest) of
/// the highest step. Newer folders without a manifest (a save that was interrupted) are
/// skipped and listed in *skipped if given.
StatusOr<std::string> locate_checkpoint(const std::string& path,
                                        std::vector<std::string>* skipped = nullptr);
/// locate_checkpoint + load_manifest + every index, with the cross-checks above.
StatusOr<OpenCheckpoint> open_checkpoint(const std::string& path,
                                         std::vector<std::string>* skipped = nullptr);
/// The checkpoint's model must be `m` (the name may differ): otherwise an error naming the
/// manifest, the field and both values.
Status check_same_model(const OpenCheckpoint& c, const ModelConfig& m,
                        const std::string& model_file);

}  // namespace paratune
