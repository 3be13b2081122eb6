#include "profiler/group_shapes.h"

#include <set>
#include <tuple>

#include "core/device_mesh.h"

namespace paratune::profiler {

std::vector<GroupShape> group_shapes(int world, int island) {
  PARATUNE_CHECK(world >= 1 && island >= 1 && world % island == 0);
  std::vector<GroupShape> out;
  std::set<std::tuple<int, int, bool>> seen;
  for (int n = 2; n <= world; n *= 2) {
    if (world % n) continue;
    for (int g = n; g <= world; g *= 2) {
      if (world % g) continue;
      for (bool consecutive : {true, false}) {
        if (!consecutive && g == n) continue;  // stride 1: same as consecutive
        GroupShape s;
        s.size = n;
        const int stride = consecutive ? 1 : g / n;
        for (int base = 0; base < world; base += g) {
          if (consecutive) {
            for (int k = 0; k < g; k += n) {
              std::vector<Rank> grp;
              for (int j = 0; j < n; ++j) grp.push_back(base + k + j);
              s.groups.push_back(grp);
            }
          } else {
            for (int k = 0; k < stride; ++k) {
              std::vector<Rank> grp;
              for (int j = 0; j < n; ++j) grp.push_back(base + k + j * stride);
              s.groups.push_back(grp);
            }
          }
        }
        s.consecutive = is_consecutive(s.groups.front());
        for (const auto& grp : s.groups)
          if (grp.front() / island != grp.back() / island) s.placement = Placement::kInterIsland;
        if (seen.insert({n, int(s.placement), s.consecutive}).second) out.push_back(std::move(s));
      }
    }
  }
  return out;
}

const std::vector<Rank>& group_of(const GroupShape& shape, Rank rank) {
  for (const auto& g : shape.groups)
    for (Rank r : g)
      if (r == rank) return g;
  PARATUNE_CHECK_MSG(false, "rank " + std::to_string(rank) + " in no group");
  return shape.groups.front();
}

std::vector<std::pair<Rank, Rank>> p2p_pairs(int world, int island, Placement p) {
  std::vector<std::pair<Rank, Rank>> out;
  const int islands = world / island;
  if (p == Placement::kIntraIsland) {
    if (island < 2) return out;
    for (int r = 0; r + 1 < world; r += 2)
      if (r / island == (r + 1) / island) out.push_back({r, r + 1});
    return out;
  }
  if (islands < 2 || islands % 2) return out;
  for (int i = 0; i < islands; i += 2)
    for (int l = 0; l < island; ++l) out.push_back({i * island + l, (i + 1) * island + l});
  return out;
}

std::string describe(const GroupShape& s) {
  return "n=" + std::to_string(s.size) + " " + to_string(s.placement) +
         (s.consecutive ? " consecutive" : " strided");
}

}  // namespace paratune::profiler
