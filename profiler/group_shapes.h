// The group shapes a cluster profile measures. Torch-free, pure.
//
// A shape partitions the world's N ranks (islands of P consecutive ranks) into groups of size
// n (a power of two, 2..N). Following core/device_mesh.h, a group lives inside a block of g
// ranks (a pipeline stage, g a power of two, n <= g <= N): "consecutive" groups are runs of n
// ranks, "strided" ones take every (g/n)-th rank of the block. The placement is "inter" when
// any group spans two islands. One shape per (n, placement, consecutive) is kept: the first in
// the order g = n, 2n, ..., N with consecutive before strided. Every rank is in exactly one
// group of every shape, so all groups of a shape can run at once (real contention).
//
//   auto shapes = group_shapes(/*world=*/4, /*island=*/2);
//   // n=2 intra consecutive {{0,1},{2,3}}; n=2 inter strided {{0,2},{1,3}};
//   // n=4 inter consecutive {{0,1,2,3}}
#pragma once

#include <vector>

#include "core/cluster_profile.h"

namespace paratune::profiler {

struct GroupShape {
  int size = 2;
  Placement placement = Placement::kIntraIsland;
  bool consecutive = true;
  std::vector<std::vector<Rank>> groups;  // a partition of the world, each group sorted
};

/// world >= 1, island >= 1 dividing world (checked).
std::vector<GroupShape> group_shapes(int world, int island);
/// The group of `shape` that holds `rank`.
const std::vector<Rank>& group_of(const GroupShape& shape, Rank rank);
/// Pairs for p2p timing: every rank paired with one peer of the placement (intra: neighbour
/// 2k <-> 2k+1 inside an island; inter: same local rank in island i XOR 1). Empty when the
/// placement cannot be formed (island of 1 device, or a single / odd island count).
std::vector<std::pair<Rank, Rank>> p2p_pairs(int world, int island, Placement p);
/// "n=4 inter consecutive"
std::string describe(const GroupShape& s);

}  // namespace paratune::profiler
