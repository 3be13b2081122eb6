// Pure parts of the profilers: alpha-beta fit, group shapes, p2p pairs, link parsing, summary.
#include <gtest/gtest.h>

#include "executor/emulation.h"
#include "profiler/fit.h"
#include "profiler/group_shapes.h"
#include "profiler/summary.h"

namespace paratune::profiler {
namespace {

TEST(Fit, ExactLineRecoversAlphaAndBusBandwidth) {
  // allreduce over 4 ranks: factor 1.5; alpha 0.05 ms, bus bw 1e9 B/s.
  const double f = algo_factor(CollectiveOp::kAllReduce, 4);
  std::vector<CommSample> s;
  for (double b : {4096.0, 65536.0, 1048576.0, 16777216.0})
    s.push_back({Bytes(b), Milliseconds(0.05 + f * b / 1e9 * 1e3)});
  AlphaBeta ab = fit_alpha_beta(s, f);
  EXPECT_NEAR(ab.latency.value, 0.05, 1e-9);
  EXPECT_NEAR(ab.bandwidth.value, 1e9, 1e-3);
}

TEST(Fit, HandComputedLeastSquares) {
  // (1000, 2), (2000, 3), (3000, 5): slope 1.5e-3 ms/B, intercept 0.333.. ms; factor 1 ->
  // bandwidth 1 / 1.5e-6 s/B.
  std::vector<CommSample> s = {{Bytes(1000), Milliseconds(2)}, {Bytes(2000), Milliseconds(3)},
                               {Bytes(3000), Milliseconds(5)}};
  AlphaBeta ab = fit_alpha_beta(s, 1.0);
  EXPECT_NEAR(ab.latency.value, 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(ab.bandwidth.value, 1.0 / 1.5e-6, 1e-3);
}

TEST(Fit, NegativeInterceptRefitsThroughOrigin) {
  // (1, 1), (2, 3): OLS intercept -1 -> through origin: c = (1 + 6) / (1 + 4) = 1.4 ms/B.
  std::vector<CommSample> s = {{Bytes(1), Milliseconds(1)}, {Bytes(2), Milliseconds(3)}};
  AlphaBeta ab = fit_alpha_beta(s, 1.0);
  EXPECT_EQ(ab.latency.value, 0.0);
  EXPECT_NEAR(ab.bandwidth.value, 1e3 / 1.4, 1e-9);
}

TEST(Fit, SingleSampleAndMedian) {
  AlphaBeta ab = fit_alpha_beta({{Bytes(1e6), Milliseconds(2)}}, 1.0);
  EXPECT_EQ(ab.latency.value, 0.0);
  EXPECT_NEAR(ab.bandwidth.value, 5e8, 1e-6);
  EXPECT_EQ(median({3, 1, 2}), 2);
  EXPECT_EQ(median({4, 1, 3, 2}), 2.5);
}

TEST(GroupShapes, TwoIslandsOfTwo) {
  auto s = group_shapes(4, 2);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(describe(s[0]), "n=2 intra consecutive");
  EXPECT_EQ(s[0].groups, (std::vector<std::vector<Rank>>{{0, 1}, {2, 3}}));
  EXPECT_EQ(describe(s[1]), "n=2 inter strided");
  EXPECT_EQ(s[1].groups, (std::vector<std::vector<Rank>>{{0, 2}, {1, 3}}));
  EXPECT_EQ(describe(s[2]), "n=4 inter consecutive");
  EXPECT_EQ(group_of(s[1], 3), (std::vector<Rank>{1, 3}));
}

TEST(GroupShapes, OneIslandOfEightHasStridedIntra) {
  auto s = group_shapes(8, 8);
  std::vector<std::string> names;
  for (const auto& g : s) {
    names.push_back(describe(g));
    size_t covered = 0;
    for (const auto& grp : g.groups) covered += grp.size();
    EXPECT_EQ(covered, 8u) << describe(g);  // a partition: every rank busy
  }
  EXPECT_EQ(names, (std::vector<std::string>{"n=2 intra consecutive", "n=2 intra strided",
                                             "n=4 intra consecutive", "n=4 intra strided",
                                             "n=8 intra consecutive"}));
  EXPECT_EQ(s[1].groups.front(), (std::vector<Rank>{0, 2}));  // stride g/n = 4/2
}

TEST(GroupShapes, TwoIslandsOfFour) {
  auto s = group_shapes(8, 4);
  std::vector<std::string> names;
  for (const auto& g : s) names.push_back(describe(g));
  EXPECT_EQ(names, (std::vector<std::string>{
                       "n=2 intra consecutive", "n=2 intra strided", "n=2 inter strided",
                       "n=4 intra consecutive", "n=4 inter strided", "n=8 inter consecutive"}));
}

TEST(P2pPairs, IntraAndInter) {
  using P = std::vector<std::pair<Rank, Rank>>;
  EXPECT_EQ(p2p_pairs(4, 2, Placement::kIntraIsland), (P{{0, 1}, {2, 3}}));
  EXPECT_EQ(p2p_pairs(4, 2, Placement::kInterIsland), (P{{0, 2}, {1, 3}}));
  EXPECT_TRUE(p2p_pairs(2, 2, Placement::kInterIsland).empty());
  EXPECT_TRUE(p2p_pairs(2, 1, Placement::kIntraIsland).empty());
}

TEST(Link, Parse) {
  auto l = executor::parse_link("1gbit:200us");
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l->bits_per_s, 1e9);
  EXPECT_EQ(l->latency_us, 200);
  l = executor::parse_link("100mbit:1.5ms");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->bits_per_s, 1e8);
  EXPECT_EQ(l->latency_us, 1500);
  l = executor::parse_link("125MBps");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->bits_per_s, 1e9);
  EXPECT_EQ(l->latency_us, 0);
  for (const char* bad : {"", "fast", "1gbit:soon", "1furlong", "-1gbit", "1gbit:5parsecs"}) {
    auto b = executor::parse_link(bad);
    EXPECT_FALSE(b.ok()) << bad;
    if (!b.ok()) {
      EXPECT_NE(b.status().message().find("--emulate-link"), std::string::npos);
    }
  }
  EXPECT_EQ(executor::namespace_prefix(42), "paratune-42-");
}

TEST(Summary, ListsEveryEntry) {
  ClusterProfile c;
  c.name = "t";
  c.source = "measured";
  c.device.name = "cpu";
  c.device.memory = Bytes(kGiB);
  c.device.flops = FlopsPerSecond(1e10);
  c.device.memory_bandwidth = BytesPerSecond(1e10);
  c.islands = {{"node0", 2}, {"node1", 2}};
  c.collectives.push_back({CollectiveOp::kAllReduce, 4, Placement::kInterIsland, true,
                           Milliseconds(0.1), BytesPerSecond(1.2e8), {}});
  c.p2p.push_back({Placement::kIntraIsland, Milliseconds(0.01), BytesPerSecond(2e9), {}});
  const std::string s = cluster_summary(c);
  EXPECT_NE(s.find("allreduce"), std::string::npos);
  EXPECT_NE(s.find("0.1200"), std::string::npos);  // GB/s
  EXPECT_NE(s.find("2 islands x 2 devices"), std::string::npos);
  EXPECT_NE(s.find("p2p"), std::string::npos);
}

}  // namespace
}  // namespace paratune::profiler
