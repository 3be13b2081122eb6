// TermScales: each multiplier moves exactly its term, and 1 leaves every figure as it was.
#include <gtest/gtest.h>

#include <cmath>

#include "estimator/comm_model.h"
#include "estimator/compute_model.h"
#include "estimator/layer_cost.h"
#include "estimator/pipeline.h"
#include "estimator/resharding.h"
#include "fixtures.h"

namespace paratune::estimator {
namespace {

using testing::strategy;

class TermScalesTest : public ::testing::Test {
 protected:
  ModelConfig model_ = testing::tiny_model();
  ClusterProfile cluster_ = testing::two_level_cluster(2, 4);
  ModelProfile profile_ = testing::tiny_profile();
};

TEST_F(TermScalesTest, ComputeScaleMultipliesComputeOnly) {
  CostContext ctx = testing::context(model_, cluster_, &profile_, 2, 1, 1, 4);
  const LayerCost base = transformer_layer_cost(ctx, 0, strategy(1, 2));
  ctx.options.scales.compute = 2.0;
  const LayerCost c = transformer_layer_cost(ctx, 0, strategy(1, 2));
  ASSERT_TRUE(c.feasible) << c.why_not;
  EXPECT_DOUBLE_EQ(base.forward.value, 3.0);  // 1 + b/tp at b = 2
  EXPECT_DOUBLE_EQ(c.forward.value, 6.0);
  EXPECT_DOUBLE_EQ(c.backward.value, 12.0);
  EXPECT_DOUBLE_EQ(c.grad_sync.value, base.grad_sync.value);  // collectives untouched
}

// granularity (round 25; 0 unless a calibration sets it): compute times (b / tp)^(-g), b the
// rank's samples per micro-batch; 0 leaves it, and b / tp = 1 is untouched at any g.
TEST_F(TermScalesTest, GranularityScalesComputeBySamplesPerRankOverTp) {
  CostContext ctx = testing::context(model_, cluster_, &profile_, 2, 1, 1, 4);  // b = 2
  const LayerCost base = transformer_layer_cost(ctx, 0, strategy(1, 2));
  ctx.options.scales.granularity = 0.25;
  ctx.options.scales.granularity_hi = 2;  // fitted over 1..2 samples a rank
  const LayerCost c = transformer_layer_cost(ctx, 0, strategy(1, 2));
  ASSERT_TRUE(c.feasible) << c.why_not;
  EXPECT_DOUBLE_EQ(c.forward.value, base.forward.value * std::pow(2.0, -0.25));
  EXPECT_DOUBLE_EQ(c.backward.value, base.backward.value * std::pow(2.0, -0.25));
  EXPECT_DOUBLE_EQ(c.grad_sync.value, base.grad_sync.value);  // collectives untouched
  // compute_time directly: tp 2 at b = 4 is g = 2, tp 2 at b = 2 is g = 1 (unchanged).
  const CostContext plain = testing::context(model_, cluster_, &profile_, 2, 1, 1, 4);
  auto fitted_over = [&](double hi) {
    CostContext c = plain;
    c.options.scales.granularity = 0.25;
    c.options.scales.granularity_hi = hi;
    return c;
  };
  // compute_time(c, b, tp) over the unscaled one, forward and backward.
  auto ratio = [&](const CostContext& c, int b, int tp) {
    const ComputeTime s = compute_time(c, LayerKind::kTransformer, b, tp);
    const ComputeTime u = compute_time(plain, LayerKind::kTransformer, b, tp);
    return std::make_pair(s.forward.value / u.forward.value, s.backward.value / u.backward.value);
  };
  CostContext t = fitted_over(2);
  EXPECT_DOUBLE_EQ(ratio(t, 4, 2).second, std::pow(2.0, -0.25));
  EXPECT_DOUBLE_EQ(ratio(t, 2, 2).first, 1.0);
  // Outside the sizes it was fitted over, the nearer end: fitted over 1..2, g = 4 counts as 2.
  EXPECT_DOUBLE_EQ(ratio(t, 8, 2).first, std::pow(2.0, -0.25));
  EXPECT_DOUBLE_EQ(ratio(fitted_over(4), 8, 2).first, std::pow(4.0, -0.25));
  t.options.scales.granularity_lo = 3;  // lo > hi
  EXPECT_FALSE(t.options.scales.validate().ok());
  t.options.scales.granularity_lo = 1;
  t.options.scales.granularity = 2;
  EXPECT_FALSE(t.options.scales.validate().ok());
}

TEST_F(TermScalesTest, CheckpointScaleMultipliesTheCheckpointedForwardOnly) {
  CostContext ctx = testing::context(model_, cluster_, &profile_, 2, 1, 1, 4);
  const LayerStrategy ckpt = strategy(1, 2, DpType::kDdp, true);
  const LayerCost base = transformer_layer_cost(ctx, 0, ckpt);
  const LayerCost plain_base = transformer_layer_cost(ctx, 0, strategy(1, 2));
  ctx.options.scales.checkpoint = 0.5;
  const LayerCost c = transformer_layer_cost(ctx, 0, ckpt);
  ASSERT_TRUE(c.feasible) << c.why_not;
  EXPECT_DOUBLE_EQ(base.forward.value, 3.0);  // the fixture has no no-grad times: the forward
  EXPECT_DOUBLE_EQ(c.forward.value, 1.5);
  EXPECT_DOUBLE_EQ(c.backward.value, base.backward.value);  // the recompute is a plain forward
  // A layer that is not checkpointed does not move.
  const LayerCost plain = transformer_layer_cost(ctx, 0, strategy(1, 2));
  EXPECT_EQ(plain.forward, plain_base.forward);
  EXPECT_EQ(plain.backward, plain_base.backward);
}

TEST_F(TermScalesTest, CollectiveScaleMatchesOpAndGroupSize) {
  CostContext ctx = testing::context(model_, cluster_, &profile_, 4, 1, 1, 8);
  const LayerCost base = transformer_layer_cost(ctx, 0, strategy(1, 4));
  ASSERT_GT(base.grad_sync.value, 0);
  // The allreduce over 2 ranks and the reduce-scatter over 4 do not apply to DDP over 4.
  // Nor does a TP allreduce over 4.
  ctx.options.scales.collectives = {
      {CommUse::kData, CollectiveOp::kAllReduce, 2, 3.0, std::nullopt},
      {CommUse::kData, CollectiveOp::kReduceScatter, 4, 3.0, std::nullopt},
      {CommUse::kTensor, CollectiveOp::kAllReduce, 4, 3.0, std::nullopt}};
  EXPECT_DOUBLE_EQ(transformer_layer_cost(ctx, 0, strategy(1, 4)).grad_sync.value,
                   base.grad_sync.value);
  ctx.options.scales.collectives.push_back(
      {CommUse::kData, CollectiveOp::kAllReduce, 4, 1.5, std::nullopt});
  const LayerCost c = transformer_layer_cost(ctx, 0, strategy(1, 4));
  EXPECT_DOUBLE_EQ(c.grad_sync.value, 1.5 * base.grad_sync.value);
  EXPECT_DOUBLE_EQ(c.forward.value, base.forward.value);
  EXPECT_DOUBLE_EQ(ctx.options.scales.collective(CommUse::kData, CollectiveOp::kAllGather, 4,
                                                 Placement::kIntraIsland),
                   1.0);
}

// A scale with a placement applies to groups of that placement only; one without applies to
// both (calibrations written before placements were told apart), and a placed one wins over it.
TEST_F(TermScalesTest, CollectiveScaleKeepsInsideAndAcrossIslandsApart) {
  // tp 2 x dp 4 on 8 devices (2 islands of 4): TP pairs inside an island, DP groups across.
  CostContext ctx = testing::context(model_, cluster_, &profile_, 8, 1, 1, 8);
  const LayerCost base = transformer_layer_cost(ctx, 0, strategy(2, 4));
  ASSERT_GT(base.tp_comm.value, 0);
  ASSERT_GT(base.grad_sync.value, 0);
  const Placement kIntra = Placement::kIntraIsland, kInter = Placement::kInterIsland;
  // Across-island scales do not touch the TP pairs, inside-island ones not the DP groups.
  ctx.options.scales.collectives = {{CommUse::kTensor, CollectiveOp::kAllReduce, 2, 3.0, kInter},
                                    {CommUse::kData, CollectiveOp::kAllReduce, 4, 3.0, kIntra}};
  LayerCost c = transformer_layer_cost(ctx, 0, strategy(2, 4));
  EXPECT_DOUBLE_EQ(c.tp_comm.value, base.tp_comm.value);
  EXPECT_DOUBLE_EQ(c.grad_sync.value, base.grad_sync.value);
  // The matching placements do.
  ctx.options.scales.collectives = {{CommUse::kTensor, CollectiveOp::kAllReduce, 2, 3.0, kIntra},
                                    {CommUse::kData, CollectiveOp::kAllReduce, 4, 1.5, kInter}};
  c = transformer_layer_cost(ctx, 0, strategy(2, 4));
  EXPECT_DOUBLE_EQ(c.tp_comm.value, 3.0 * base.tp_comm.value);
  EXPECT_DOUBLE_EQ(c.grad_sync.value, 1.5 * base.grad_sync.value);
  // Without a placement: both; with both kinds listed, the placed one.
  TermScales s;
  s.collectives = {{CommUse::kData, CollectiveOp::kAllReduce, 4, 2.0, std::nullopt},
                   {CommUse::kData, CollectiveOp::kAllReduce, 4, 0.5, kInter}};
  EXPECT_TRUE(s.validate().ok());
  EXPECT_DOUBLE_EQ(s.collective(CommUse::kData, CollectiveOp::kAllReduce, 4, kIntra), 2.0);
  EXPECT_DOUBLE_EQ(s.collective(CommUse::kData, CollectiveOp::kAllReduce, 4, kInter), 0.5);
  EXPECT_DOUBLE_EQ(s.collective(CommUse::kTensor, CollectiveOp::kAllReduce, 4, kInter), 1.0);
  s.collectives.push_back({CommUse::kData, CollectiveOp::kAllReduce, 4, 0.7, kInter});
  EXPECT_NE(s.validate().message().find("inter-island is listed twice"), std::string::npos)
      << s.validate().message();
}

TEST_F(TermScalesTest, TensorParallelScaleLeavesGradientSyncAlone) {
  CostContext ctx = testing::context(model_, cluster_, &profile_, 4, 1, 1, 8);
  const LayerCost base = transformer_layer_cost(ctx, 0, strategy(2, 2));
  ASSERT_GT(base.tp_comm.value, 0);
  ctx.options.scales.collectives = {
      {CommUse::kTensor, CollectiveOp::kAllReduce, 2, 2.0, std::nullopt}};
  const LayerCost c = transformer_layer_cost(ctx, 0, strategy(2, 2));
  EXPECT_DOUBLE_EQ(c.tp_comm.value, 2.0 * base.tp_comm.value);  // no waits in this cluster
  EXPECT_DOUBLE_EQ(c.grad_sync.value, base.grad_sync.value);    // the DP allreduce over 2
}

TEST_F(TermScalesTest, WaitScaleMultipliesArrivalWaits) {
  ArrivalWait w;
  w.group_size = 2;
  w.placement = Placement::kIntraIsland;
  w.samples = {WaitSample{Milliseconds(2), Milliseconds(0.5)},
               WaitSample{Milliseconds(20), Milliseconds(2.0)}};
  cluster_.arrival_waits.push_back(w);
  CommPricer plain(cluster_);
  GroupShape g{2, Placement::kIntraIsland, true};
  const double base = plain.wait(g, Milliseconds(2)).value;
  ASSERT_DOUBLE_EQ(base, 0.5);
  TermScales s;
  s.wait = 3.0;
  CommPricer scaled(cluster_, &s);
  EXPECT_DOUBLE_EQ(scaled.wait(g, Milliseconds(2)).value, 1.5);
}

TEST_F(TermScalesTest, PipelineScaleMultipliesLinks) {
  CostContext ctx = testing::context(model_, cluster_, &profile_, 2, 2, 2, 4);
  const LayerStrategy last{1, true, false, 1, DpType::kDdp, false};
  const double base = p2p_time(ctx, 0, last).value;
  ASSERT_GT(base, 0);
  ctx.options.scales.pipeline = 2.5;
  EXPECT_DOUBLE_EQ(p2p_time(ctx, 0, last).value, 2.5 * base);
  EXPECT_EQ(p2p_time(ctx, 1, last).value, 0.0);  // the last stage sends nothing
}

// call_ms (round 22; 0 unless a calibration sets it) adds its time once per blocking call of a
// micro-batch: the layer's LayerCost::calls, split by direction, and a reshard's two.
TEST_F(TermScalesTest, CallTimeIsAddedPerBlockingCall) {
  CostContext ctx = testing::context(model_, cluster_, &profile_, 4, 1, 1, 8);
  for (const LayerStrategy& ls : {strategy(2, 2), strategy(2, 2, DpType::kZero3, true),
                                  strategy(2, 2, DpType::kDdp, false, true, true),
                                  strategy(1, 4, DpType::kZero2), strategy(1, 4)}) {
    ctx.options.scales.call_ms = 0;
    const LayerCost base = transformer_layer_cost(ctx, 0, ls);
    ASSERT_TRUE(base.feasible) << base.why_not;
    ctx.options.scales.call_ms = 0.25;
    const LayerCost c = transformer_layer_cost(ctx, 0, ls);
    EXPECT_NEAR((c.forward + c.backward - base.forward - base.backward).value, 0.25 * base.calls,
                1e-12) << to_string(ls);
    EXPECT_EQ(c.calls, base.calls);
    EXPECT_EQ(c.compute, base.compute);  // not compute: no scale of compute applies to it
  }
  // tp 2: forward 2 TP allreduces, backward 2; ZeRO-3 adds a gather in each direction and a
  // reduce-scatter in the backward; DDP over 4 has no per-micro-batch call.
  ctx.options.scales.call_ms = 0;
  const LayerCost z0 = transformer_layer_cost(ctx, 0, strategy(2, 2, DpType::kZero3));
  ctx.options.scales.call_ms = 0.25;
  const LayerCost z1 = transformer_layer_cost(ctx, 0, strategy(2, 2, DpType::kZero3));
  EXPECT_DOUBLE_EQ(z0.calls, 7.0);
  EXPECT_NEAR((z1.forward - z0.forward).value, 0.25 * 3, 1e-12);
  EXPECT_NEAR((z1.backward - z0.backward).value, 0.25 * 4, 1e-12);
  EXPECT_DOUBLE_EQ(transformer_layer_cost(ctx, 0, strategy(1, 4)).calls, 0.0);
  // A reshard: two allgathers; none where the layouts agree.
  ctx.options.scales.call_ms = 0;
  const double sw0 = switch_cost(ctx, 0, strategy(2, 2), strategy(1, 4)).value;
  ctx.options.scales.call_ms = 0.25;
  EXPECT_NEAR(switch_cost(ctx, 0, strategy(2, 2), strategy(1, 4)).value - sw0, 0.5, 1e-12);
  EXPECT_EQ(switch_cost(ctx, 0, strategy(2, 2), strategy(2, 2)).value, 0.0);
}

TEST(TermScales, ValidateNamesTheField) {
  TermScales s;
  EXPECT_TRUE(s.validate().ok());
  EXPECT_TRUE(s.identity());
  s.pipeline = 0;
  EXPECT_NE(s.validate().message().find("\"pipeline\""), std::string::npos);
  s.pipeline = 1;
  s.checkpoint = 20;
  EXPECT_FALSE(s.identity());
  EXPECT_NE(s.validate().message().find("\"checkpoint\""), std::string::npos);
  s.checkpoint = 1;
  s.collectives = {{CommUse::kData, CollectiveOp::kAllGather, 4, 2.0, std::nullopt},
                   {CommUse::kData, CollectiveOp::kAllGather, 4, 1.0, std::nullopt}};
  EXPECT_FALSE(s.identity());
  EXPECT_NE(s.validate().message().find("listed twice"), std::string::npos);
  s.collectives = {{CommUse::kData, CollectiveOp::kAllGather, 1, 2.0, std::nullopt}};
  EXPECT_NE(s.validate().message().find("collectives[0].group_size"), std::string::npos);
  s.collectives = {{CommUse::kData, CollectiveOp::kAllGather, 2, 100.0, std::nullopt}};
  EXPECT_NE(s.validate().message().find("collectives[0].scale"), std::string::npos);
  s.collectives.clear();
  s.call_ms = 0.5;
  EXPECT_TRUE(s.validate().ok());
  EXPECT_FALSE(s.identity());
  s.call_ms = -0.1;
  EXPECT_NE(s.validate().message().find("\"call_ms\""), std::string::npos);
  EstimatorOptions o;
  o.scales = s;
  EXPECT_FALSE(o.validate().ok());
}

}  // namespace
}  // namespace paratune::estimator
