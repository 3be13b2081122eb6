// Saving a Trainer's state as a sharded checkpoint and loading one into a Trainer of any
// strategy (re-sharding on load). The format is core/checkpoint_format.h.
//
// Save (collective over the world, between two steps):
//   1. rank 0 clears D/step-N (a stale, interrupted save of the same step) and creates it;
//      world barrier;
//   2. every rank streams its pieces — for each unit it owns (not the tied duplicate), each
//      parameter, the elements of its DP shard range (TP-replicated ones on TP rank 0 only):
//      param values, Adam m, Adam v — and its CPU generator state into rank-R.bin.tmp with a
//      CRC-32 per block, fsyncs and renames it; then writes rank-R.json the same way;
//   3. allgather of (ok, sizes, index CRC); rank 0 writes manifest.json (temp, fsync, rename,
//      fsync of the folder) only if every rank succeeded, then D/latest (naming step-N), then
//      deletes older checkpoints beyond `keep`. A crash anywhere before the manifest's rename
//      leaves no manifest: the folder is ignored by open_checkpoint() and removed by the next save
//      of that step.
// Load (collective): every rank computes, for each unit of its new layout and each parameter,
// the slice ranges it needs (params: the TP-local tensor, or the ZeRO-3 shard; Adam m, v: the
// same or the ZeRO-2/3 shard), finds the source pieces that intersect them (plan_copies) and
// reads exactly those bytes, block-verified, from the shards that hold them. No rank gathers
// the full model; a rank's extra memory is a few checksum blocks. Errors (corrupt block,
// missing element) are agreed over the world, so every rank fails before training starts.
//
//   PARATUNE_RETURN_IF_ERROR(save_checkpoint("runs/a", trainer, comms, info, CheckpointOptions{}));
//   StatusOr<OpenCheckpoint> c = open_checkpoint("runs/a");          // torch-free checks
//   StatusOr<LoadStats> st = load_checkpoint(*c, trainer, comms);    // re-shards as needed
#pragma once

#include <string>

#include "core/checkpoint_format.h"
#include "executor/comm.h"
#include "executor/trainer.h"

namespace paratune::executor {

/// Kills this process with SIGKILL at a point of a save: the crash tests' hook.
struct SaveFault {
  enum class Phase {
    kNone,
    kShardWrite,      // rank `rank`, after writing half of its pieces to rank-R.bin.tmp
    kManifestRename,  // rank 0, after writing and fsyncing manifest.json.tmp, before the rename
  };
  Phase phase = Phase::kNone;
  int64_t step = -1;  // the save of this step
  Rank rank = 0;
};

struct CheckpointOptions {
  int64_t block_bytes = 1 << 20;  // checksum block size of the .bin files (default 1 MiB)
  int keep = 2;                   // complete checkpoints kept in the save dir; 0 = all (default 2)
  SaveFault fault;                // test hook (default: none)
  Status validate() const;
};

/// What the manifest records besides the Trainer's state.
struct RunInfo {
  std::string data;  // data source description
  int64_t data_seed = 1;
};

/// Writes D/step-<trainer.steps_done()>; collective over the world. Every rank returns the same
/// ok-ness (a rank that failed returns its own message, the others name it).
Status save_checkpoint(const std::string& save_dir, Trainer& trainer, Comms& comms,
                       const RunInfo& info, const CheckpointOptions& opts = {});

struct LoadStats {
  int64_t bytes_read = 0;  // bytes read from .bin files by this rank
  int shards_read = 0;     // shards this rank read from
  bool rng_restored = false;
};

/// Loads `c` into `trainer` (which may use any strategy and world size for the same model:
/// check_same_model first) and sets its step count; collective over the world. The CPU generator
/// state is restored when the strategy is the checkpoint's.
StatusOr<LoadStats> load_checkpoint(const OpenCheckpoint& c, Trainer& trainer, Comms& comms);

}  // namespace paratune::executor
