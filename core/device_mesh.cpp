// TP / DP group membership of a layer (see device_mesh.h for the layout):
// stage s owns ranks [s*g, (s+1)*g); with local index i = rank - s*g,
//   tp_consecutive:  tp group index i / tp, tp rank i % tp;  dp group index i % tp, dp rank i / tp
//   dp consecutive:  dp group index i / dp, dp rank i % dp;  tp group index i % dp, tp rank i / dp
#include "core/device_mesh.h"

#include "core/status.h"

namespace paratune {

namespace {

struct Layout {
  int g = 0;      // devices per stage
  Rank first = 0; // first rank of the stage
};

Layout layout(int num_devices, int pp, StageIdx s, const LayerStrategy& ls) {
  PARATUNE_CHECK_MSG(pp >= 1 && num_devices % pp == 0, "pp must divide num_devices");
  PARATUNE_CHECK_MSG(s >= 0 && s < pp, "stage out of range");
  const int g = num_devices / pp;
  PARATUNE_CHECK_MSG(ls.tp >= 1 && ls.dp >= 1 && ls.tp * ls.dp == g,
                     "tp * dp must equal devices per stage");
  return Layout{g, stage_first_rank(num_devices, pp, s)};
}

StageIdx stage_of_rank(int num_devices, int pp, Rank r) {
  PARATUNE_CHECK_MSG(r >= 0 && r < num_devices, "rank out of range");
  PARATUNE_CHECK_MSG(pp >= 1 && num_devices % pp == 0, "pp must divide num_devices");
  return r / (num_devices / pp);
}

/// Ranks of group `k` on the side of size `size`: the consecutive side takes a contiguous
/// block, the other side a stride of `other` (the other side's size).
std::vector<Rank> group(const Layout& L, bool consecutive, int size, int other, int k) {
  std::vector<Rank> out;
  out.reserve(size);
  for (int j = 0; j < size; ++j) {
    out.push_back(L.first + (consecutive ? k * size + j : k + j * other));
  }
  return out;
}

}  // namespace

std::vector<std::vector<Rank>> tp_groups(int num_devices, int pp, StageIdx s,
                                         const LayerStrategy& ls) {
  const Layout L = layout(num_devices, pp, s, ls);
  std::vector<std::vector<Rank>> out;
  for (int k = 0; k < ls.dp; ++k) out.push_back(group(L, ls.tp_consecutive, ls.tp, ls.dp, k));
  return out;
}

std::vector<std::vector<Rank>> dp_groups(int num_devices, int pp, StageIdx s,
                                         const LayerStrategy& ls) {
  const Layout L = layout(num_devices, pp, s, ls);
  std::vector<std::vector<Rank>> out;
  for (int k = 0; k < ls.tp; ++k) out.push_back(group(L, !ls.tp_consecutive, ls.dp, ls.tp, k));
  return out;
}

std::vector<Rank> tp_group_of(int num_devices, int pp, const LayerStrategy& ls, Rank rank) {
  const StageIdx s = stage_of_rank(num_devices, pp, rank);
  const Layout L = layout(num_devices, pp, s, ls);
  const int i = rank - L.first;
  const int k = ls.tp_consecutive ? i / ls.tp : i % ls.dp;
  return group(L, ls.tp_consecutive, ls.tp, ls.dp, k);
}

std::vector<Rank> dp_group_of(int num_devices, int pp, const LayerStrategy& ls, Rank rank) {
  const StageIdx s = stage_of_rank(num_devices, pp, rank);
  const Layout L = layout(num_devices, pp, s, ls);
  const int i = rank - L.first;
  const int k = ls.tp_consecutive ? i % ls.tp : i / ls.dp;
  return group(L, !ls.tp_consecutive, ls.dp, ls.tp, k);
}

int tp_rank_of(int num_devices, int pp, const LayerStrategy& ls, Rank rank) {
  const StageIdx s = stage_of_rank(num_devices, pp, rank);
  const Layout L = layout(num_devices, pp, s, ls);
  const int i = rank - L.first;
  return ls.tp_consecutive ? i % ls.tp : i / ls.dp;
}

int dp_rank_of(int num_devices, int pp, const LayerStrategy& ls, Rank rank) {
  const StageIdx s = stage_of_rank(num_devices, pp, rank);
  const Layout L = layout(num_devices, pp, s, ls);
  const int i = rank - L.first;
  return ls.tp_consecutive ? i / ls.tp : i % ls.dp;
}

bool is_consecutive(const std::vector<Rank>& ranks) {
  for (size_t i = 1; i < ranks.size(); ++i)
    if (ranks[i] != ranks[i - 1] + 1) return false;
  return true;
}

}  // namespace paratune
