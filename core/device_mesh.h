// Group membership: which global ranks form each TP and DP group of a layer. Pure and
// torch-free so the estimator (placement of a group: inside one island or spanning islands)
// and the executor (c10d process groups) agree by construction.
//
// Stage s owns ranks [s*g, (s+1)*g), g = num_devices / pp. With local index i = rank - s*g:
//   tp_consecutive:  tp group = i / tp (tp rank i % tp),  dp group = i % tp (dp rank i / tp)
//   dp consecutive:  dp group = i / dp (dp rank i % dp),  tp group = i % dp (tp rank i / dp)
//
//   auto g = tp_groups(8, 2, 0, LayerStrategy{.tp = 2, .dp = 2});  // {{0,1},{2,3}}
#pragma once

#include <vector>

#include "core/strategy.h"
#include "core/units.h"

namespace paratune {

/// First global rank of stage s.
inline Rank stage_first_rank(int num_devices, int pp, StageIdx s) { return s * (num_devices / pp); }
/// All TP groups of stage s for layer strategy ls (each sorted; groups ordered by first rank).
std::vector<std::vector<Rank>> tp_groups(int num_devices, int pp, StageIdx s,
                                         const LayerStrategy& ls);
/// All DP groups of stage s for layer strategy ls.
std::vector<std::vector<Rank>> dp_groups(int num_devices, int pp, StageIdx s,
                                         const LayerStrategy& ls);
/// The TP / DP group containing `rank`.
std::vector<Rank> tp_group_of(int num_devices, int pp, const LayerStrategy& ls, Rank rank);
std::vector<Rank> dp_group_of(int num_devices, int pp, const LayerStrategy& ls, Rank rank);
/// Position of `rank` inside its TP / DP group.
int tp_rank_of(int num_devices, int pp, const LayerStrategy& ls, Rank rank);
int dp_rank_of(int num_devices, int pp, const LayerStrategy& ls, Rank rank);
/// True when the ranks are consecutive integers.
bool is_consecutive(const std::vector<Rank>& ranks);

}  // namespace paratune
