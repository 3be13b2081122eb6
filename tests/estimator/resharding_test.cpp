#include "estimator/resharding.h"

#include <gtest/gtest.h>

#include "fixtures.h"

namespace paratune::estimator {
namespace {

using testing::strategy;

class ReshardingTest : public ::testing::Test {
 protected:
  ModelConfig model_ = testing::tiny_model();
  ClusterProfile cluster_ = testing::two_level_cluster(2, 4);  // 10 GB/s inside, 1 GB/s across
  // Micro-batch of the stage: 8 samples of 16 x 64 fp32 = 32768 bytes.
  double total_ = 8.0 * 16 * 64 * 4;
};

TEST_F(ReshardingTest, SameLayoutIsFree) {
  CostContext ctx = testing::context(model_, cluster_, nullptr, 4, 1, 1, 8);
  EXPECT_EQ(switch_cost(ctx, 0, strategy(2, 2), strategy(2, 2, DpType::kZero3, true)).value, 0.0);
  // With tp == 1 the consecutive flag places nothing differently.
  EXPECT_EQ(switch_cost(ctx, 0, strategy(1, 4, DpType::kDdp, false, true),
                        strategy(1, 4, DpType::kDdp, false, false))
                .value,
            0.0);
}

// The executor reshards by an allgather of every device's block over the stage's devices
// (executor/nodes.cpp, move_blocks): forward the blocks of the old layout, backward the
// gradient's blocks of the new one. An allgather of a gathered tensor of n bytes over g devices
// costs (g - 1) / g * n / bus bandwidth (the fixture's allreduce fit stands in for allgather).
TEST_F(ReshardingTest, Tp2Dp2ToDp4Golden) {
  // 4 devices of island 0 (10 GB/s). tp2*dp2 blocks are total / 2 (the TP pair holds the same
  // samples), dp4 blocks total / 4: forward gathers 4 x total / 2, backward 4 x total / 4.
  CostContext ctx = testing::context(model_, cluster_, nullptr, 4, 1, 1, 8);
  const double expect = 0.75 * (4 * total_ / 2 + 4 * total_ / 4) / 1e10 * 1e3;
  EXPECT_NEAR(switch_cost(ctx, 0, strategy(2, 2), strategy(1, 4)).value, expect, 1e-15);
  EXPECT_NEAR(switch_cost(ctx, 0, strategy(1, 4), strategy(2, 2)).value, expect, 1e-15);
}

TEST_F(ReshardingTest, SequenceParallelGathersTheOtherHalf) {
  // tp2 with sp -> tp2 without sp on 2 devices: forward each device contributes its half of the
  // tokens (2 x total / 2 gathered), backward its full replica of the gradient (2 x total).
  CostContext ctx = testing::context(model_, cluster_, nullptr, 2, 1, 1, 8);
  const double expect = 0.5 * (2 * total_ / 2 + 2 * total_) / 1e10 * 1e3;
  EXPECT_NEAR(
      switch_cost(ctx, 0, strategy(2, 1, DpType::kDdp, false, true, true), strategy(2, 1)).value,
      expect, 1e-15);
}

// move_blocks holds the g gathered blocks and Gloo's flat copy of them, then the gathered
// blocks, the assembled micro-batch and the kept block.
TEST_F(ReshardingTest, TransientBuffersOfTheGatherGolden) {
  CostContext ctx = testing::context(model_, cluster_, nullptr, 4, 1, 1, 8);
  EXPECT_EQ(switch_transient(ctx, 0, strategy(2, 2), strategy(2, 2, DpType::kZero3, true)).value,
            0.0);
  // tp2*dp2 -> dp4: forward max(2 x 4 x total/2, 4 x total/2 + total + total/4) = 4 total,
  // backward max(2 x 4 x total/4, 4 x total/4 + total + total/2) = 2.5 total; both ways round.
  EXPECT_DOUBLE_EQ(switch_transient(ctx, 0, strategy(2, 2), strategy(1, 4)).value, 4.0 * total_);
  EXPECT_DOUBLE_EQ(switch_transient(ctx, 0, strategy(1, 4), strategy(2, 2)).value, 4.0 * total_);
  // tp4 without SP (replicated blocks) into tp4 with SP: 4 whole copies gathered, twice: 8 total.
  EXPECT_DOUBLE_EQ(
      switch_transient(ctx, 0, strategy(4, 1), strategy(4, 1, DpType::kDdp, false, true, true))
          .value,
      8.0 * total_);
  // At tp 1 the consecutive flag, dp_type and checkpointing place nothing differently: none.
  CostContext two = testing::context(model_, cluster_, nullptr, 2, 1, 1, 8);
  EXPECT_EQ(switch_transient(two, 0, strategy(1, 2, DpType::kDdp, false, true),
                             strategy(1, 2, DpType::kZero2, true, false))
                .value,
            0.0);
}

TEST_F(ReshardingTest, CalibratedLikeADataParallelAllgatherOfTheStage) {
  CostContext ctx = testing::context(model_, cluster_, nullptr, 4, 1, 1, 8);
  const double plain = switch_cost(ctx, 0, strategy(2, 2), strategy(1, 4)).value;
  ctx.options.scales.collectives.push_back(
      {CommUse::kData, CollectiveOp::kAllGather, 4, 3.0, std::nullopt});
  EXPECT_NEAR(switch_cost(ctx, 0, strategy(2, 2), strategy(1, 4)).value, 3 * plain, 1e-15);
  // Other groups' multipliers do not touch it.
  ctx.options.scales.collectives = {
      {CommUse::kTensor, CollectiveOp::kAllGather, 4, 5.0, std::nullopt},
      {CommUse::kData, CollectiveOp::kAllGather, 2, 5.0, std::nullopt}};
  EXPECT_NEAR(switch_cost(ctx, 0, strategy(2, 2), strategy(1, 4)).value, plain, 1e-15);
}

TEST_F(ReshardingTest, CrossingIslandsIsSlower) {
  // 8 devices over 2 islands of 4. tp2*dp4 (tp on consecutive ranks) -> tp2*dp4 with dp on
  // consecutive ranks: data moves between islands for some devices.
  CostContext ctx = testing::context(model_, cluster_, nullptr, 8, 1, 1, 8);
  const Milliseconds across = switch_cost(ctx, 0, strategy(2, 4, DpType::kDdp, false, true),
                                          strategy(2, 4, DpType::kDdp, false, false));
  // Same move inside one 8-device island.
  ClusterProfile flat = testing::two_level_cluster(1, 8);
  CostContext ctx_flat = testing::context(model_, flat, nullptr, 8, 1, 1, 8);
  const Milliseconds inside = switch_cost(ctx_flat, 0, strategy(2, 4, DpType::kDdp, false, true),
                                          strategy(2, 4, DpType::kDdp, false, false));
  EXPECT_GT(inside.value, 0.0);
  EXPECT_GT(across.value, inside.value);
}

}  // namespace
}  // namespace paratune::estimator
