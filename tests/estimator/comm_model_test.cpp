#include "estimator/comm_model.h"

#include <gtest/gtest.h>

#include "fixtures.h"

namespace paratune::estimator {
namespace {

using testing::fit;
using testing::p2p;
constexpr CollectiveOp kAR = CollectiveOp::kAllReduce;
constexpr CollectiveOp kAG = CollectiveOp::kAllGather;
constexpr Placement kIntra = Placement::kIntraIsland;
constexpr Placement kInter = Placement::kInterIsland;

ClusterProfile empty_cluster() {
  ClusterProfile c;
  c.name = "c";
  c.islands = {Island{"a", 8}};
  return c;
}

TEST(CommModel, AlphaBetaGolden) {
  // allreduce of 1e6 bytes over 4 at 1 GB/s bus bandwidth, 0.01 ms latency:
  // 0.01 + 2*3/4 * 1e6 / 1e9 * 1e3 = 1.51 ms; allgather 0.01 + 3/4 * 1 = 0.76 ms.
  CommFit f{Milliseconds(0.01), BytesPerSecond(1e9)};
  EXPECT_NEAR(collective_time(f, kAR, 4, Bytes(1e6)).value, 1.51, 1e-12);
  EXPECT_NEAR(collective_time(f, kAG, 4, Bytes(1e6)).value, 0.76, 1e-12);
  EXPECT_NEAR(collective_time(f, kAR, 4, Bytes(1e6), /*latency_calls=*/0.5).value, 1.505, 1e-12);
  EXPECT_EQ(collective_time(f, kAR, 1, Bytes(1e6)).value, 0.0);
  EXPECT_EQ(collective_time(f, kAR, 4, Bytes(0)).value, 0.0);
  // p2p: 0.01 + 1e6 / 1e9 * 1e3 = 1.01 ms.
  EXPECT_NEAR(p2p_transfer_time(f, Bytes(1e6)).value, 1.01, 1e-12);
}

// The samples' residual (EstimatorOptions::comm_samples, off by default: measured worse in
// round 21, kept so that the comparison can be rerun).
TEST(CommModel, SamplesResidualIsInterpolatedInLog2Size) {
  // Fit: 0.1 ms + 2*(2-1)/2 * B / 0.1 GB/s. The sample at 16 KiB measured 0.5 ms above it, the
  // one at 64 KiB 0.3 ms below: at 32 KiB (halfway in log2) the residual is +0.1 ms.
  const double k16 = 16384, k32 = 32768, k64 = 65536;
  auto fitted = [](double b) { return 0.1 + b / 1e8 * 1e3; };
  const std::vector<CommSample> samples = {
      CommSample{Bytes(k64), Milliseconds(fitted(k64) - 0.3)},  // out of order on purpose
      CommSample{Bytes(k16), Milliseconds(fitted(k16) + 0.5)}};
  const CommFit f{Milliseconds(0.1), BytesPerSecond(1e8), &samples};
  EXPECT_NEAR(collective_time(f, kAR, 2, Bytes(k16), 1.0, true).value, fitted(k16) + 0.5, 1e-12);
  EXPECT_NEAR(collective_time(f, kAR, 2, Bytes(k64), 1.0, true).value, fitted(k64) - 0.3, 1e-12);
  EXPECT_NEAR(collective_time(f, kAR, 2, Bytes(k32), 1.0, true).value, fitted(k32) + 0.1, 1e-12);
  // Constant beyond the measured sizes.
  EXPECT_NEAR(sample_residual(f, kAR, 2, Bytes(1024)).value, 0.5, 1e-12);
  EXPECT_NEAR(sample_residual(f, kAR, 2, Bytes(1e9)).value, -0.3, 1e-12);
  // Off (the default): the fit alone; without samples too.
  EXPECT_NEAR(collective_time(f, kAR, 2, Bytes(k16)).value, fitted(k16), 1e-12);
  EXPECT_NEAR(collective_time(CommFit{Milliseconds(0.1), BytesPerSecond(1e8)}, kAR, 2, Bytes(k16),
                              1.0, true).value, fitted(k16), 1e-12);
  // Two buckets of 16 KiB: two calls, each at its measured time.
  EXPECT_NEAR(collective_time(f, kAR, 2, Bytes(2 * k16), 2.0, true).value,
              2 * (fitted(k16) + 0.5), 1e-12);
  // Never below zero: a residual larger than the fit.
  const std::vector<CommSample> fast = {CommSample{Bytes(k16), Milliseconds(0.0)}};
  EXPECT_EQ(collective_time(CommFit{Milliseconds(0.5), BytesPerSecond(1e9), &fast}, kAR, 2,
                            Bytes(1024), 1.0, true).value, 0.0);
}

TEST(CommModel, ExactEntriesBringTheirSamplesAndThePricerUsesThem) {
  ClusterProfile c = empty_cluster();
  CollectiveFit e = fit(kAR, 2, kIntra, true, 1, 0.1);  // 1 GB/s, 0.1 ms
  e.samples = {CommSample{Bytes(65536), Milliseconds(0.2)}};
  c.collectives = {e, fit(kAR, 8, kIntra, true, 1, 0.1)};
  auto exact = find_collective(c, kAR, 2, kIntra, true);
  ASSERT_TRUE(exact);
  ASSERT_NE(exact->samples, nullptr);
  EXPECT_EQ(exact->samples->size(), 1u);
  // Interpolated between group sizes 2 and 8: no samples (they belong to one entry).
  auto between = find_collective(c, kAR, 4, kIntra, true);
  ASSERT_TRUE(between);
  EXPECT_EQ(between->samples, nullptr);
  const GroupShape two{2, kIntra, true};
  EXPECT_NEAR(CommPricer(c, nullptr, /*use_samples=*/true)
                  .collective(CommUse::kData, kAR, two, Bytes(65536)).value, 0.2, 1e-12);
  // Off by default (EstimatorOptions::comm_samples): the fit alone.
  EXPECT_NEAR(CommPricer(c).collective(CommUse::kData, kAR, two, Bytes(65536)).value,
              0.1 + 65536 / 1e9 * 1e3, 1e-12);
  EXPECT_FALSE(EstimatorOptions{}.comm_samples);
}

TEST(CommModel, ExactLookupPrefersSameConsecutiveness) {
  ClusterProfile c = empty_cluster();
  c.collectives = {fit(kAR, 4, kIntra, true, 100, 0.01), fit(kAR, 4, kIntra, false, 50, 0.02)};
  auto a = find_collective(c, kAR, 4, kIntra, true);
  auto b = find_collective(c, kAR, 4, kIntra, false);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->bandwidth.value, 100e9);
  EXPECT_EQ(a->latency.value, 0.01);
  EXPECT_EQ(b->bandwidth.value, 50e9);
}

TEST(CommModel, OtherConsecutivenessAtSameSizeBeforeInterpolation) {
  ClusterProfile c = empty_cluster();
  c.collectives = {fit(kAR, 4, kIntra, true, 100), fit(kAR, 2, kIntra, false, 20),
                   fit(kAR, 8, kIntra, false, 20)};
  auto f = find_collective(c, kAR, 4, kIntra, false);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->bandwidth.value, 100e9);
}

TEST(CommModel, Log2InterpolationAndClamping) {
  ClusterProfile c = empty_cluster();
  c.collectives = {fit(kAR, 2, kIntra, true, 100, 0.01), fit(kAR, 8, kIntra, true, 40, 0.04)};
  // log2(4) is halfway between log2(2) and log2(8): 70 GB/s, 0.025 ms.
  auto f4 = find_collective(c, kAR, 4, kIntra, true);
  ASSERT_TRUE(f4);
  EXPECT_NEAR(f4->bandwidth.value, 70e9, 1);
  EXPECT_NEAR(f4->latency.value, 0.025, 1e-12);
  // Outside the measured range: the nearest size, no extrapolation.
  auto f16 = find_collective(c, kAR, 16, kIntra, true);
  ASSERT_TRUE(f16);
  EXPECT_EQ(f16->bandwidth.value, 40e9);
  // A strided group with only consecutive data interpolates that.
  auto s4 = find_collective(c, kAR, 4, kIntra, false);
  ASSERT_TRUE(s4);
  EXPECT_NEAR(s4->bandwidth.value, 70e9, 1);
}

TEST(CommModel, MissingOpUsesAllreduceBusBandwidth) {
  ClusterProfile c = empty_cluster();
  c.collectives = {fit(kAR, 4, kIntra, true, 80, 0.01)};
  for (CollectiveOp op :
       {CollectiveOp::kAllGather, CollectiveOp::kReduceScatter, CollectiveOp::kAllToAll}) {
    auto f = find_collective(c, op, 4, kIntra, true);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->bandwidth.value, 80e9);
    EXPECT_EQ(f->latency.value, 0.01);
  }
  // A measured allgather wins over allreduce.
  c.collectives.push_back(fit(kAG, 4, kIntra, true, 60));
  EXPECT_EQ(find_collective(c, kAG, 4, kIntra, true)->bandwidth.value, 60e9);
}

TEST(CommModel, PlacementFallbacks) {
  ClusterProfile c = empty_cluster();
  c.collectives = {fit(kAR, 4, kIntra, true, 80)};
  c.p2p = {p2p(kInter, 3, 0.5)};
  // No inter-island collective: the inter-island p2p link.
  auto f = find_collective(c, kAR, 8, kInter, false);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->bandwidth.value, 3e9);
  EXPECT_EQ(f->latency.value, 0.5);
  // No inter data at all: the intra-island numbers (better than nothing).
  c.p2p.clear();
  EXPECT_EQ(find_collective(c, kAR, 8, kInter, false)->bandwidth.value, 80e9);
  // Nothing at all.
  EXPECT_FALSE(find_collective(empty_cluster(), kAR, 2, kIntra, true));
  EXPECT_FALSE(find_p2p(empty_cluster(), kIntra));
}

TEST(CommModel, P2pFallsBackToAllreduceOfTwo) {
  ClusterProfile c = empty_cluster();
  c.collectives = {fit(kAR, 2, kInter, false, 7, 0.2), fit(kAR, 2, kIntra, true, 70)};
  c.p2p = {p2p(kIntra, 100)};
  EXPECT_EQ(find_p2p(c, kIntra)->bandwidth.value, 100e9);
  auto f = find_p2p(c, kInter);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->bandwidth.value, 7e9);
  EXPECT_EQ(f->latency.value, 0.2);
}

TEST(CommModel, GroupShapeFromIslands) {
  // 2 islands x 2 devices, one stage of 4: tp2 on consecutive ranks stays inside an island, its
  // strided DP groups {0,2}, {1,3} span both.
  ModelConfig m = testing::tiny_model();
  ClusterProfile c = testing::two_level_cluster(2, 2);
  CostContext ctx = testing::context(m, c, nullptr, 4, 1, 1, 8);
  LayerStrategy ls = testing::strategy(2, 2);
  GroupShape tp = tp_group_shape(ctx, 0, ls);
  GroupShape dp = dp_group_shape(ctx, 0, ls);
  EXPECT_EQ(tp.size, 2);
  EXPECT_EQ(tp.placement, kIntra);
  EXPECT_TRUE(tp.consecutive);
  EXPECT_EQ(dp.size, 2);
  EXPECT_EQ(dp.placement, kInter);
  EXPECT_FALSE(dp.consecutive);
  ls.tp_consecutive = false;
  EXPECT_EQ(tp_group_shape(ctx, 0, ls).placement, kInter);
  EXPECT_EQ(dp_group_shape(ctx, 0, ls).placement, kIntra);
  // Two stages of 2 devices: every group of a stage lies in one island.
  CostContext ctx2 = testing::context(m, c, nullptr, 4, 2, 1, 8);
  EXPECT_EQ(dp_group_shape(ctx2, 1, testing::strategy(1, 2)).placement, kIntra);
}

TEST(CommModel, ArrivalWaitInterpolatesAndFallsBack) {
  ClusterProfile c = testing::two_level_cluster(2, 4);
  CommPricer none(c);
  EXPECT_EQ(none.wait(GroupShape{4, kIntra, true}, Milliseconds(3)).value, 0.0);  // none measured
  using ms = Milliseconds;
  c.arrival_waits = {ArrivalWait{4, kIntra, true, {WaitSample{ms(1), ms(2)}, WaitSample{ms(4), ms(5)}}},
                     ArrivalWait{2, kIntra, false, {WaitSample{ms(2), ms(1)}}}};
  CommPricer p(c);
  const GroupShape four{4, kIntra, true};
  EXPECT_DOUBLE_EQ(p.wait(four, ms(0)).value, 0.0);    // (0, 0) is the first point
  EXPECT_DOUBLE_EQ(p.wait(four, ms(0.5)).value, 1.0);
  EXPECT_DOUBLE_EQ(p.wait(four, ms(2.5)).value, 3.5);
  EXPECT_DOUBLE_EQ(p.wait(four, ms(40)).value, 5.0);   // saturates at the last sample
  // Other consecutiveness of the same size, then the nearest size, then the other placement.
  EXPECT_DOUBLE_EQ(p.wait(GroupShape{4, kIntra, false}, ms(4)).value, 5.0);
  EXPECT_DOUBLE_EQ(p.wait(GroupShape{2, kIntra, true}, ms(1)).value, 0.5);
  EXPECT_DOUBLE_EQ(p.wait(GroupShape{8, kIntra, true}, ms(4)).value, 5.0);
  EXPECT_DOUBLE_EQ(p.wait(GroupShape{8, kInter, true}, ms(4)).value, 5.0);
  EXPECT_EQ(p.wait(GroupShape{1, kIntra, true}, ms(4)).value, 0.0);  // no group, no wait
  EXPECT_TRUE(p.missing().empty());  // waits are optional data
  // Ranks that share their host's cores: the profiled compute (all ranks computing) already
  // ends when the last rank of a CPU does, so no wait is added after it.
  c.host_sharing.ranks_per_host = 4;
  c.host_sharing.compute_slowdown = 1.9;
  EXPECT_EQ(CommPricer(c).wait(four, ms(2.5)).value, 0.0);
  c.host_sharing.compute_slowdown = 1.0;  // as many cores as ranks: the wait counts again
  EXPECT_DOUBLE_EQ(CommPricer(c).wait(four, ms(2.5)).value, 3.5);
}

TEST(CommModel, PricerReportsMissingData) {
  ClusterProfile c = empty_cluster();
  CommPricer price(c);
  EXPECT_EQ(price.collective(CommUse::kData, kAR, GroupShape{1, kIntra, true}, Bytes(1e6)).value, 0.0);
  EXPECT_TRUE(price.missing().empty());  // a group of one never needs data
  EXPECT_EQ(price.collective(CommUse::kData, kAR, GroupShape{4, kInter, true}, Bytes(1e6)).value, 0.0);
  EXPECT_NE(price.missing().find("allreduce over 4 inter-island"), std::string::npos)
      << price.missing();
}

}  // namespace
}  // namespace paratune::estimator
