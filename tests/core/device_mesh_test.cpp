// Group membership: golden lists for 8 devices, and exhaustive consistency properties.
#include "core/device_mesh.h"

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

namespace paratune {
namespace {

using Groups = std::vector<std::vector<Rank>>;

LayerStrategy ls(int tp, int dp, bool tp_consecutive) {
  LayerStrategy s;
  s.tp = tp;
  s.dp = dp;
  s.tp_consecutive = tp_consecutive;
  return s;
}

TEST(DeviceMesh, HeaderExample) {
  EXPECT_EQ(tp_groups(8, 2, 0, ls(2, 2, true)), (Groups{{0, 1}, {2, 3}}));
}

TEST(DeviceMesh, GoldenPp1) {
  // tp 2 on consecutive ranks, dp strided.
  EXPECT_EQ(tp_groups(8, 1, 0, ls(2, 4, true)), (Groups{{0, 1}, {2, 3}, {4, 5}, {6, 7}}));
  EXPECT_EQ(dp_groups(8, 1, 0, ls(2, 4, true)), (Groups{{0, 2, 4, 6}, {1, 3, 5, 7}}));
  // dp 4 on consecutive ranks, tp strided.
  EXPECT_EQ(tp_groups(8, 1, 0, ls(2, 4, false)), (Groups{{0, 4}, {1, 5}, {2, 6}, {3, 7}}));
  EXPECT_EQ(dp_groups(8, 1, 0, ls(2, 4, false)), (Groups{{0, 1, 2, 3}, {4, 5, 6, 7}}));
  EXPECT_EQ(tp_groups(8, 1, 0, ls(4, 2, true)), (Groups{{0, 1, 2, 3}, {4, 5, 6, 7}}));
  EXPECT_EQ(dp_groups(8, 1, 0, ls(4, 2, true)), (Groups{{0, 4}, {1, 5}, {2, 6}, {3, 7}}));
  EXPECT_EQ(tp_groups(8, 1, 0, ls(4, 2, false)), (Groups{{0, 2, 4, 6}, {1, 3, 5, 7}}));
  EXPECT_EQ(dp_groups(8, 1, 0, ls(4, 2, false)), (Groups{{0, 1}, {2, 3}, {4, 5}, {6, 7}}));
  // Pure TP / pure DP: the flag does not matter.
  for (bool c : {true, false}) {
    EXPECT_EQ(tp_groups(8, 1, 0, ls(8, 1, c)), (Groups{{0, 1, 2, 3, 4, 5, 6, 7}}));
    EXPECT_EQ(dp_groups(8, 1, 0, ls(8, 1, c)),
              (Groups{{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}}));
    EXPECT_EQ(dp_groups(8, 1, 0, ls(1, 8, c)), (Groups{{0, 1, 2, 3, 4, 5, 6, 7}}));
    EXPECT_EQ(tp_groups(8, 1, 0, ls(1, 8, c)),
              (Groups{{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}}));
  }
}

TEST(DeviceMesh, GoldenPp2) {
  EXPECT_EQ(tp_groups(8, 2, 1, ls(2, 2, true)), (Groups{{4, 5}, {6, 7}}));
  EXPECT_EQ(dp_groups(8, 2, 1, ls(2, 2, true)), (Groups{{4, 6}, {5, 7}}));
  EXPECT_EQ(tp_groups(8, 2, 1, ls(2, 2, false)), (Groups{{4, 6}, {5, 7}}));
  EXPECT_EQ(dp_groups(8, 2, 1, ls(2, 2, false)), (Groups{{4, 5}, {6, 7}}));
  EXPECT_EQ(tp_groups(8, 2, 0, ls(4, 1, true)), (Groups{{0, 1, 2, 3}}));
  EXPECT_EQ(dp_groups(8, 2, 0, ls(4, 1, true)), (Groups{{0}, {1}, {2}, {3}}));
  EXPECT_EQ(dp_groups(8, 2, 1, ls(1, 4, false)), (Groups{{4, 5, 6, 7}}));
  EXPECT_EQ(stage_first_rank(8, 2, 1), 4);
  EXPECT_EQ(stage_first_rank(8, 4, 3), 6);
}

TEST(DeviceMesh, GroupOfAndRanks) {
  // pp 2, stage 1, dp consecutive: rank 6 is local index 2.
  const LayerStrategy s = ls(2, 2, false);
  EXPECT_EQ(tp_group_of(8, 2, s, 6), (std::vector<Rank>{4, 6}));
  EXPECT_EQ(dp_group_of(8, 2, s, 6), (std::vector<Rank>{6, 7}));
  EXPECT_EQ(tp_rank_of(8, 2, s, 6), 1);
  EXPECT_EQ(dp_rank_of(8, 2, s, 6), 0);
  const LayerStrategy t = ls(2, 4, true);
  EXPECT_EQ(tp_group_of(8, 1, t, 5), (std::vector<Rank>{4, 5}));
  EXPECT_EQ(dp_group_of(8, 1, t, 5), (std::vector<Rank>{1, 3, 5, 7}));
  EXPECT_EQ(tp_rank_of(8, 1, t, 5), 1);
  EXPECT_EQ(dp_rank_of(8, 1, t, 5), 2);
}

TEST(DeviceMesh, IsConsecutive) {
  EXPECT_TRUE(is_consecutive({}));
  EXPECT_TRUE(is_consecutive({3}));
  EXPECT_TRUE(is_consecutive({4, 5, 6}));
  EXPECT_FALSE(is_consecutive({0, 2}));
  EXPECT_FALSE(is_consecutive({1, 0}));
}

/// Every (N, pp, tp, flag) with N up to 32: the groups of each kind partition each stage, a
/// rank's tp and dp groups meet only in itself, group_of / rank_of agree with the lists, and the
/// consecutive side really is consecutive.
TEST(DeviceMesh, PartitionProperties) {
  int checked = 0;
  for (int n : {1, 2, 4, 8, 16, 32}) {
    for (int pp = 1; pp <= n; pp *= 2) {
      const int g = n / pp;
      for (int tp = 1; tp <= g; tp *= 2) {
        for (bool c : {true, false}) {
          const LayerStrategy s = ls(tp, g / tp, c);
          SCOPED_TRACE("n " + std::to_string(n) + " pp " + std::to_string(pp) + " " +
                       to_string(s));
          std::vector<int> in_tp(n, 0), in_dp(n, 0);
          for (StageIdx st = 0; st < pp; ++st) {
            const Groups tg = tp_groups(n, pp, st, s);
            const Groups dg = dp_groups(n, pp, st, s);
            ASSERT_EQ(static_cast<int>(tg.size()), s.dp);
            ASSERT_EQ(static_cast<int>(dg.size()), s.tp);
            for (size_t k = 0; k < tg.size(); ++k) {
              ASSERT_EQ(static_cast<int>(tg[k].size()), tp);
              EXPECT_TRUE(std::is_sorted(tg[k].begin(), tg[k].end()));
              if (k > 0) { EXPECT_LT(tg[k - 1][0], tg[k][0]); }
              if (c || s.dp == 1) { EXPECT_TRUE(is_consecutive(tg[k])); }
              for (size_t j = 0; j < tg[k].size(); ++j) {
                const Rank r = tg[k][j];
                ASSERT_GE(r, st * g);
                ASSERT_LT(r, (st + 1) * g);
                ++in_tp[r];
                EXPECT_EQ(tp_group_of(n, pp, s, r), tg[k]);
                EXPECT_EQ(tp_rank_of(n, pp, s, r), static_cast<int>(j));
              }
            }
            for (size_t k = 0; k < dg.size(); ++k) {
              ASSERT_EQ(static_cast<int>(dg[k].size()), s.dp);
              EXPECT_TRUE(std::is_sorted(dg[k].begin(), dg[k].end()));
              if (k > 0) { EXPECT_LT(dg[k - 1][0], dg[k][0]); }
              if (!c || tp == 1) { EXPECT_TRUE(is_consecutive(dg[k])); }
              for (size_t j = 0; j < dg[k].size(); ++j) {
                const Rank r = dg[k][j];
                ASSERT_GE(r, st * g);
                ASSERT_LT(r, (st + 1) * g);
                ++in_dp[r];
                EXPECT_EQ(dp_group_of(n, pp, s, r), dg[k]);
                EXPECT_EQ(dp_rank_of(n, pp, s, r), static_cast<int>(j));
              }
            }
          }
          std::set<std::pair<int, int>> coords;
          for (Rank r = 0; r < n; ++r) {
            EXPECT_EQ(in_tp[r], 1) << "rank " << r;
            EXPECT_EQ(in_dp[r], 1) << "rank " << r;
            const std::vector<Rank> a = tp_group_of(n, pp, s, r), b = dp_group_of(n, pp, s, r);
            std::vector<Rank> both;
            std::set_intersection(a.begin(), a.end(), b.begin(), b.end(),
                                  std::back_inserter(both));
            EXPECT_EQ(both, std::vector<Rank>{r});
            // (stage, tp rank, dp rank) identifies the rank.
            const int st = r / g;
            EXPECT_TRUE(coords
                            .insert({st, tp_rank_of(n, pp, s, r) * g + dp_rank_of(n, pp, s, r)})
                            .second);
          }
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 112);
}

}  // namespace
}  // namespace paratune
