// Activation layouts between layers: which block of a micro-batch each rank of a stage holds.
//
// A layer with strategy (tp, dp, sp) on a stage of g devices splits the micro-batch of mb
// samples over its DP group: DP rank j holds samples [j*mb/dp, (j+1)*mb/dp). All TP ranks of a
// DP rank hold the same samples; with sequence parallelism they also split the sequence (TP rank
// k holds tokens [k*S/tp, (k+1)*S/tp)) of the residual stream. Consecutive layers whose blocks
// differ for some rank of the stage need a reshard (executor/nodes.h) — decided identically on
// every rank of the stage. Pure and torch-free; group membership comes from core/device_mesh.h.
//
//   Block b = block_of(strategy, strategy.layers[3], /*stage=*/0, /*local_index=*/5);
#pragma once

#include <vector>

#include "core/strategy.h"

namespace paratune::executor {

struct Block {
  int dp = 1;         // batch split count
  int dp_rank = 0;    // which batch slice
  int seq_split = 1;  // sequence split count (tp with SP, else 1)
  int seq_rank = 0;   // which sequence slice
  bool operator==(const Block& o) const {
    return dp == o.dp && dp_rank == o.dp_rank && seq_split == o.seq_split && seq_rank == o.seq_rank;
  }
  bool operator!=(const Block& o) const { return !(*this == o); }
};

/// The block of the residual stream held by local rank `local_index` of `stage` under `ls`.
Block block_of(const Strategy& s, const LayerStrategy& ls, StageIdx stage, int local_index);
/// Blocks of every local rank of the stage.
std::vector<Block> stage_blocks(const Strategy& s, const LayerStrategy& ls, StageIdx stage);
/// True when going from layout a to b needs no data movement.
bool same_layout(const std::vector<Block>& a, const std::vector<Block>& b);

}  // namespace paratune::executor
