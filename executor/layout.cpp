#include "executor/layout.h"

#include "core/device_mesh.h"

namespace paratune::executor {

Block block_of(const Strategy& s, const LayerStrategy& ls, StageIdx stage, int local_index) {
  const Rank r = stage_first_rank(s.num_devices, s.pp, stage) + local_index;
  Block b;
  b.dp = ls.dp;
  b.dp_rank = dp_rank_of(s.num_devices, s.pp, ls, r);
  if (ls.sp && ls.tp > 1) {
    b.seq_split = ls.tp;
    b.seq_rank = tp_rank_of(s.num_devices, s.pp, ls, r);
  }
  return b;
}

std::vector<Block> stage_blocks(const Strategy& s, const LayerStrategy& ls, StageIdx stage) {
  std::vector<Block> out;
  for (int i = 0; i < s.devices_per_stage(); ++i) out.push_back(block_of(s, ls, stage, i));
  return out;
}

bool same_layout(const std::vector<Block>& a, const std::vector<Block>& b) { return a == b; }

}  // namespace paratune::executor
