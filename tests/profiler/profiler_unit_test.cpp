// Pure parts of the profilers: alpha-beta fit, group shapes, p2p pairs, link parsing, summary.
#include <algorithm>

#include <gtest/gtest.h>

#include "executor/emulation.h"
#include "profiler/cluster_profiler.h"
#include "profiler/fit.h"
#include "profiler/group_shapes.h"
#include "profiler/model_profiler.h"
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

// Samples on an exact line: alpha 0.2 ms, bus bandwidth 5e7 B/s, factor f, at 16 KiB .. 4 MiB.
std::vector<CommSample> on_line(double f) {
  std::vector<CommSample> s;
  for (double b : {16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0})
    s.push_back({Bytes(b), Milliseconds(0.2 + f * b / 5e7 * 1e3)});
  return s;
}

TEST(Fit, RobustLeavesOutOneSlowSizeInTheMiddle) {
  const double f = algo_factor(CollectiveOp::kAllGather, 2);
  std::vector<CommSample> s = on_line(f);
  s[2].time = Milliseconds(s[2].time.value * 5);  // 256 KiB five times slower
  const AlphaBeta plain = fit_alpha_beta(s, f);
  EXPECT_GT(plain.latency.value, 0.5);  // the slow sample lifts the plain line's latency
  int dropped = -2;
  const AlphaBeta ab = fit_alpha_beta_robust(s, f, &dropped);
  EXPECT_EQ(dropped, 2);
  EXPECT_NEAR(ab.latency.value, 0.2, 1e-9);
  EXPECT_NEAR(ab.bandwidth.value, 5e7, 1e-3);
}

TEST(Fit, RobustKeepsTheSmallestAndLargestSizesFastSamplesAndSmallMisses) {
  const double f = 1.0;
  auto same = [&](const std::vector<CommSample>& s) {
    int dropped = -2;
    const AlphaBeta a = fit_alpha_beta_robust(s, f, &dropped), b = fit_alpha_beta(s, f);
    EXPECT_EQ(dropped, -1);
    EXPECT_EQ(a.latency.value, b.latency.value);
    EXPECT_EQ(a.bandwidth.value, b.bandwidth.value);
  };
  std::vector<CommSample> s = on_line(f);
  s[0].time = Milliseconds(s[0].time.value * 5);  // the smallest size sets the latency: kept
  same(s);
  s = on_line(f);
  s[4].time = Milliseconds(s[4].time.value * 3);  // the largest 3x the line: within kLargestOff, kept
  same(s);
  s = on_line(f);
  s[2].time = Milliseconds(s[2].time.value * 0.1);  // faster than the line: kept
  same(s);
  s = on_line(f);
  s[2].time = Milliseconds(s[2].time.value * 1.3);  // 30% slow: within kOutlierOff, kept
  same(s);
  s = on_line(f);
  s[2].time = Milliseconds(s[2].time.value * 5);
  s.pop_back();
  s.erase(s.begin());  // 3 samples: nothing is left out
  same(s);
}

TEST(Fit, RobustOnTheMeasuredAllgatherAcrossTheLink) {
  // Row AD (docs/data/round23/AD.cluster.json): the 2-rank allgather across the emulated 1
  // Gbit/s link; 256 KiB took 11.2 ms where 1 MiB took 7.7. The plain line's latency is 2.68
  // ms, above the 1.2 ms that 16 and 64 KiB took; without that sample it is under 1 ms.
  const std::vector<CommSample> s = {{Bytes(16384), Milliseconds(1.177)},
                                     {Bytes(65536), Milliseconds(1.216)},
                                     {Bytes(262144), Milliseconds(11.157)},
                                     {Bytes(1048576), Milliseconds(7.721)},
                                     {Bytes(4194304), Milliseconds(36.266)}};
  const double f = algo_factor(CollectiveOp::kAllGather, 2);
  EXPECT_NEAR(fit_alpha_beta(s, f).latency.value, 2.68, 0.01);
  int dropped = -2;
  const AlphaBeta ab = fit_alpha_beta_robust(s, f, &dropped);
  EXPECT_EQ(dropped, 2);
  EXPECT_LT(ab.latency.value, 1.0);
  EXPECT_GT(ab.bandwidth.value, 5e7);  // still the link's ~1 Gbit/s
  EXPECT_LT(ab.bandwidth.value, 1.25e8);
}

TEST(Fit, RobustLeavesOutALargestSizeNoLineReaches) {
  // Row AF (docs/data/round23/AF.cluster.json): the 2-rank reduce_scatter inside an island took
  // 1.17 ms at 1 MiB and 18.48 ms at 4 MiB (15.8x for 4x the bytes; rows AD and AE: 5.1 and 6.9
  // ms). The plain line through it gives a 1 MiB reduce_scatter (a ZeRO layer's) about 4 ms.
  const std::vector<CommSample> s = {{Bytes(16384), Milliseconds(0.350)},
                                     {Bytes(65536), Milliseconds(0.394)},
                                     {Bytes(262144), Milliseconds(0.571)},
                                     {Bytes(1048576), Milliseconds(1.169)},
                                     {Bytes(4194304), Milliseconds(18.476)}};
  const double f = algo_factor(CollectiveOp::kReduceScatter, 2);
  auto at = [&](const AlphaBeta& ab, double bytes) {
    return ab.latency.value + f * bytes / ab.bandwidth.value * 1e3;
  };
  EXPECT_GT(at(fit_alpha_beta(s, f), 1048576), 3.0);
  int dropped = -2;
  const AlphaBeta ab = fit_alpha_beta_robust(s, f, &dropped);
  EXPECT_EQ(dropped, 4);
  EXPECT_NEAR(at(ab, 1048576), 1.169, 0.15);  // the line now runs through the sizes below
  EXPECT_NEAR(at(ab, 16384), 0.350, 0.1);
  // Within kLargestOff of the next size's scaled time (row AE's 6.88 ms at 4 MiB, 5.3x): kept.
  std::vector<CommSample> ae = s;
  ae[3].time = Milliseconds(1.296), ae[4].time = Milliseconds(6.884);
  fit_alpha_beta_robust(ae, f, &dropped);
  EXPECT_EQ(dropped, -1);
}

TEST(Fit, SingleSampleAndMedian) {
  AlphaBeta ab = fit_alpha_beta({{Bytes(1e6), Milliseconds(2)}}, 1.0);
  EXPECT_EQ(ab.latency.value, 0.0);
  EXPECT_NEAR(ab.bandwidth.value, 5e8, 1e-6);
  EXPECT_EQ(median({3, 1, 2}), 2);
  EXPECT_EQ(median({4, 1, 3, 2}), 2.5);
}

TEST(Fit, PassesKeepTheirLowerQuartileOrMedianPerPoint) {
  // Two points over five passes: the lower quartile is the second smallest of each column,
  // whatever the passes' order; one fast outlier pass (point 0's 1.0) does not set it.
  const std::vector<std::vector<double>> five = {
      {3.0, 10}, {1.0, 14}, {2.9, 11}, {4.5, 30}, {3.1, 12}};
  EXPECT_EQ(lower_quartile_of_passes(five), (std::vector<double>{2.9, 11}));
  EXPECT_EQ(median_of_passes(five), (std::vector<double>{3.0, 12}));
  EXPECT_EQ(min_of_passes(five), (std::vector<double>{1.0, 10}));
  // The two smallest's mean: (1.0 + 2.9) / 2 and (10 + 11) / 2; one pass: itself.
  const std::vector<double> two = two_smallest_of_passes(five);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_DOUBLE_EQ(two[0], 1.95);
  EXPECT_DOUBLE_EQ(two[1], 10.5);
  EXPECT_EQ(two_smallest_of_passes({{5, 7}}), (std::vector<double>{5, 7}));
  EXPECT_TRUE(two_smallest_of_passes({}).empty());
  // Up to four passes: the smallest; nine: the third smallest.
  EXPECT_EQ(lower_quartile_of_passes({{5}, {4}, {6}}), (std::vector<double>{4}));
  EXPECT_EQ(lower_quartile_of_passes({{5}}), (std::vector<double>{5}));
  std::vector<std::vector<double>> nine;
  for (double v : {9, 1, 8, 2, 7, 3, 6, 4, 5}) nine.push_back({v});
  EXPECT_EQ(lower_quartile_of_passes(nine), (std::vector<double>{3}));
  EXPECT_TRUE(lower_quartile_of_passes({}).empty());
}

TEST(PassKeep, ParsesBothNamesAndRejectsOthers) {
  EXPECT_EQ(*parse_keep("two-smallest"), PassKeep::kTwoSmallest);
  EXPECT_EQ(*parse_keep("lower-quartile"), PassKeep::kLowerQuartile);
  EXPECT_EQ(*parse_keep("median"), PassKeep::kMedian);
  EXPECT_EQ(*parse_keep("min"), PassKeep::kMin);
  StatusOr<PassKeep> bad = parse_keep("mode");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--keep"), std::string::npos);
}

TEST(PassKeep, TableWritesOneRowPerPointWithEveryPassAndTheKeptValue) {
  PassTable t{{"transformer tp 1 mb 1 forward", "optimizer step 1024 params"},
              {{1.5, 0.25}, {2, 0.5}},
              {1.5, 0.25}};
  EXPECT_EQ(t.to_csv(),
            "point,pass 1,pass 2,kept\n"
            "transformer tp 1 mb 1 forward,1.5,2,1.5\n"
            "optimizer step 1024 params,0.25,0.5,0.25\n");
}

TEST(PointOrder, ParsesBothNamesAndRejectsOthers) {
  EXPECT_EQ(*parse_order("fixed"), PointOrder::kFixed);
  EXPECT_EQ(*parse_order("shuffled"), PointOrder::kShuffled);
  StatusOr<PointOrder> bad = parse_order("random");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--order"), std::string::npos);
}

TEST(PointOrder, FixedKeepsTheOrderAndShuffledPermutesEachPassItsOwnWay) {
  const size_t n = 41;  // gpt-mini with --micro-batches 1,2,4,8: 36 points and 4 optimizer sizes
  std::vector<size_t> identity(n);
  for (size_t i = 0; i < n; ++i) identity[i] = i;
  for (int pass = 0; pass < 5; ++pass) EXPECT_EQ(pass_order(n, pass, PointOrder::kFixed), identity);
  std::vector<std::vector<size_t>> orders;
  for (int pass = 0; pass < 5; ++pass) {
    std::vector<size_t> o = pass_order(n, pass, PointOrder::kShuffled);
    EXPECT_EQ(o, pass_order(n, pass, PointOrder::kShuffled)) << "pass " << pass;  // every rank
    std::vector<size_t> sorted = o;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, identity) << "pass " << pass << " is not a permutation";
    EXPECT_NE(o, identity) << "pass " << pass;
    orders.push_back(o);
  }
  for (int a = 0; a < 5; ++a)
    for (int b = a + 1; b < 5; ++b) EXPECT_NE(orders[a], orders[b]) << a << " " << b;
  // What the order is for: a spell covering the first fifth of every pass's time. In the fixed
  // order it hits the same 8 points in all 5 passes (so a lower quartile of them is slow too);
  // shuffled, no point may fall in it in more than 3 of the 5 passes, so each point's second
  // smallest pass is outside the spell.
  std::vector<int> hits(n, 0);
  for (const std::vector<size_t>& o : orders)
    for (size_t k = 0; k < n / 5; ++k) ++hits[o[k]];
  EXPECT_LE(*std::max_element(hits.begin(), hits.end()), 3);
  // Edge sizes.
  EXPECT_TRUE(pass_order(0, 3, PointOrder::kShuffled).empty());
  EXPECT_EQ(pass_order(1, 3, PointOrder::kShuffled), std::vector<size_t>{0});
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

// Which groups the cluster profiler times after compute (cluster_profiler.h): all ranks bound
// to one CPU that no other rank of that kernel runs on.
TEST(SharedCpu, GroupHasItsCpuToItselfOnlyWhenNoOtherRankRunsThere) {
  // 2 emulated nodes x 2 ranks on one kernel, bound [0, 1, 0, 1] (bound = 1 + CPU).
  const std::vector<double> ids4 = {7, 7, 7, 7}, bound4 = {1, 2, 1, 2};
  EXPECT_TRUE(group_has_cpu_to_itself({0, 2}, bound4, ids4));   // across the link, CPU 0
  EXPECT_TRUE(group_has_cpu_to_itself({1, 3}, bound4, ids4));
  EXPECT_FALSE(group_has_cpu_to_itself({0, 1}, bound4, ids4));  // two CPUs
  EXPECT_FALSE(group_has_cpu_to_itself({0, 1, 2, 3}, bound4, ids4));
  EXPECT_FALSE(group_has_cpu_to_itself({0}, bound4, ids4));     // not a group
  // 2 x 4 bound [0, 1, 0, 1] per node: CPU 0 runs ranks 0, 2, 4, 6.
  const std::vector<double> ids8(8, 7.0), bound8 = {1, 2, 1, 2, 1, 2, 1, 2};
  EXPECT_FALSE(group_has_cpu_to_itself({0, 4}, bound8, ids8));  // 2 and 6 run there too
  EXPECT_FALSE(group_has_cpu_to_itself({0, 2}, bound8, ids8));
  EXPECT_TRUE(group_has_cpu_to_itself({0, 2, 4, 6}, bound8, ids8));
  // Unbound ranks (0) and ranks on other kernels never count as sharing.
  EXPECT_FALSE(group_has_cpu_to_itself({0, 2}, {0, 2, 0, 2}, ids4));
  EXPECT_FALSE(group_has_cpu_to_itself({0, 2}, bound4, {7, 7, 8, 8}));
  // A rank of another kernel bound to the same CPU number is another CPU.
  EXPECT_TRUE(group_has_cpu_to_itself({0, 1}, {1, 1, 1, 1}, {7, 7, 8, 8}));
  EXPECT_FALSE(group_has_cpu_to_itself({0, 1}, {1, 1, 1}, {7, 7, 7}));  // rank 2 runs there
  EXPECT_FALSE(group_has_cpu_to_itself({0, 5}, bound4, ids4));  // not a rank of the world
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

ModelProfile two_point_profile(double fwd, double bwd, double opt_ms) {
  ModelProfile p;
  p.model = "m";
  p.model_fingerprint = "f1";
  LayerTypeProfile l;
  l.name = "transformer";
  l.compute = {{1, 1, Milliseconds(fwd), Milliseconds(bwd)}, {2, 1, Milliseconds(2 * fwd), Milliseconds(2 * bwd)}};
  l.activation = {{1, false, Bytes(1000)}};
  p.layer_types = {l};
  p.optimizer_step = {{1024, Milliseconds(opt_ms)}};
  return p;
}

TEST(CompareProfiles, HandComputedDifferences) {
  // A: fwd 10 / bwd 20 at mb 1, 20 / 40 at mb 2, optimizer 1 ms. B: fwd 11 (+10%), bwd 16 (-20%),
  // 22 (+10%), 32 (-20%), optimizer 1.05 (+5%).
  auto g = compare_model_profiles(two_point_profile(10, 20, 1), two_point_profile(11, 16, 1.05));
  ASSERT_TRUE(g.ok()) << g.status().message();
  ASSERT_EQ(g->times.size(), 5u);
  EXPECT_EQ(g->unmatched, 0);
  EXPECT_NEAR(g->max_rel_diff(), 0.20, 1e-12);
  EXPECT_NEAR(g->median_rel_diff(), 0.10, 1e-12);
  EXPECT_EQ(g->within(0.10 + 1e-9), 3);
  EXPECT_EQ(g->within(0.05 + 1e-9), 1);
  EXPECT_EQ(g->within(0.25), 5);
  ASSERT_EQ(g->activations.size(), 1u);
  EXPECT_EQ(g->activations[0].rel_diff(), 0.0);
  const std::string r = g->report(0.10 + 1e-9);
  EXPECT_NE(r.find("3 of 5 times within 10%"), std::string::npos) << r;
  // Sorted by difference: the first row is a backward (20%) and is flagged.
  EXPECT_LT(r.find("backward"), r.find("forward")) << r;
  EXPECT_NE(r.find("20.0%  *"), std::string::npos) << r;
  // B / A: 1.1, 0.8, 1.1, 0.8, 1.05 -> median 1.05; divided by it the forwards are +4.8%, the
  // backwards -23.8%, the optimizer 0%.
  EXPECT_NEAR(g->median_ratio(), 1.05, 1e-12);
  const ProfileAgreement s = g->speed_removed();
  EXPECT_EQ(s.within(0.10), 3);
  EXPECT_NEAR(s.max_rel_diff(), 1 - 0.8 / 1.05, 1e-12);
  EXPECT_NE(r.find("B / A at the median point: x1.050"), std::string::npos) << r;
  EXPECT_NE(r.find("3 of 5 within 10% (median 4.8%, max 23.8%)"), std::string::npos) << r;
}

TEST(CompareProfiles, SpeedRemovedTakesOutAWholeRunsSpeed) {
  // B ran 20% slower at every point: none within 10%, all of them once the speed is taken out.
  auto g = compare_model_profiles(two_point_profile(10, 20, 1), two_point_profile(12, 24, 1.2));
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->within(0.10), 0);
  EXPECT_NEAR(g->median_ratio(), 1.2, 1e-12);
  EXPECT_EQ(g->speed_removed().within(1e-9), 5);
  EXPECT_EQ(g->speed_removed().activations.size(), g->activations.size());
}

TEST(CompareProfiles, SpeedProbePutsBOnAsSpeed) {
  // B ran 20% slower at every point and its probe 25% slower (measured 5 ms against 4 ms):
  // divided by the probe's ratio every time is 4% fast, all within 10%, none within 1%.
  ModelProfile a = two_point_profile(10, 20, 1), b = two_point_profile(12, 24, 1.2);
  auto g = compare_model_profiles(a, b);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->probe_ratio, 0);  // neither has a probe
  EXPECT_NE(g->report(0.1).find("speed probe: not in both profiles"), std::string::npos);
  a.speed_probe = SpeedProbe{"call", Milliseconds(4), 1.0};
  b.speed_probe = SpeedProbe{"call", Milliseconds(5), 1.0};
  g = compare_model_profiles(a, b);
  ASSERT_TRUE(g.ok());
  EXPECT_NEAR(g->probe_ratio, 1.25, 1e-12);
  const ProfileAgreement h = g->at_probe_speed();
  EXPECT_EQ(h.within(0.10), 5);
  EXPECT_EQ(h.within(0.01), 0);
  EXPECT_NEAR(h.max_rel_diff(), 1 - 1.2 / 1.25, 1e-12);
  const std::string r = g->report(0.10);
  EXPECT_NE(r.find("speed probe B / A: x1.250"), std::string::npos) << r;
  EXPECT_NE(r.find("5 of 5 within 10% (median 4.0%, max 4.0%)"), std::string::npos) << r;
  // A probe at another speed through its scale: B's times were already put on 4 ms (x0.8), so
  // its probe at profile speed equals A's and nothing more is divided out.
  b.speed_probe->scale = 0.8;
  g = compare_model_profiles(a, b);
  EXPECT_NEAR(g->probe_ratio, 1.0, 1e-12);
  // Probes of different calls are not compared.
  b.speed_probe->call = "other";
  EXPECT_EQ(compare_model_profiles(a, b)->probe_ratio, 0);
}

TEST(CompareProfiles, CountsUnmatchedPointsAndRejectsOtherModels) {
  ModelProfile a = two_point_profile(10, 20, 1), b = two_point_profile(10, 20, 1);
  b.layer_types[0].compute.pop_back();  // mb 2 only in A
  b.optimizer_step[0].params = 4096;    // optimizer points differ in size
  auto g = compare_model_profiles(a, b);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->times.size(), 2u);
  EXPECT_EQ(g->unmatched, 3);  // A's mb 2, A's 1024 and B's 4096
  EXPECT_EQ(g->max_rel_diff(), 0.0);
  b = two_point_profile(10, 20, 1);
  b.model_fingerprint = "f2";
  EXPECT_FALSE(compare_model_profiles(a, b).ok());
  b.model = "other";
  EXPECT_FALSE(compare_model_profiles(a, b).ok());
}

TEST(ProfileClock, ParsesTheThreeNamesAndRejectsOthers) {
  EXPECT_EQ(*parse_clock("auto"), ProfileClock::kAuto);
  EXPECT_EQ(*parse_clock("wall"), ProfileClock::kWall);
  EXPECT_EQ(*parse_clock("cpu"), ProfileClock::kCpu);
  StatusOr<ProfileClock> bad = parse_clock("gpu");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--clock"), std::string::npos);
}

TEST(ProfileClock, AutoIsCpuOnlyWhenRanksOutnumberCores) {
  // 4 ranks x 1 thread on 2 cores: time-shared, CPU clock.
  EXPECT_EQ(resolve_clock(ProfileClock::kAuto, 4, 1, 2), ProfileClock::kCpu);
  // One core each (or more): wall clock.
  EXPECT_EQ(resolve_clock(ProfileClock::kAuto, 2, 1, 2), ProfileClock::kWall);
  EXPECT_EQ(resolve_clock(ProfileClock::kAuto, 4, 4, 16), ProfileClock::kWall);
  EXPECT_EQ(resolve_clock(ProfileClock::kAuto, 4, 8, 16), ProfileClock::kCpu);
  // An explicit choice stays.
  EXPECT_EQ(resolve_clock(ProfileClock::kWall, 8, 1, 2), ProfileClock::kWall);
  EXPECT_EQ(resolve_clock(ProfileClock::kCpu, 1, 1, 16), ProfileClock::kCpu);
}

}  // namespace
}  // namespace paratune::profiler
