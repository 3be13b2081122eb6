#include "estimator/plan_estimate.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "fixtures.h"

namespace paratune::estimator {
namespace {

using testing::strategy;

class PlanEstimateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // 8 devices in 2 islands of 4, two stages (one per island), uneven split 1 + 3 layers,
    // mixed per-layer strategies so that resharding, ZeRO-3 and checkpointing all appear.
    plan_.num_devices = 8;
    plan_.pp = 2;
    plan_.pp_division = {1, 3};
    plan_.micro_batches = 2;
    plan_.global_batch = 16;
    plan_.embedding = strategy(1, 4);
    plan_.layers = {strategy(2, 2), strategy(1, 4), strategy(2, 2, DpType::kZero3, true),
                    strategy(1, 4, DpType::kZero2)};
  }
  CostContext ctx() const { return testing::context(model_, cluster_, &profile_, 8, 2, 2, 16); }

  ModelConfig model_ = testing::tiny_model();
  ClusterProfile cluster_ = testing::two_level_cluster(2, 4);
  ModelProfile profile_ = testing::tiny_profile();
  Strategy plan_;
};

TEST_F(PlanEstimateTest, CompositionEqualsSumOfParts) {
  const CostContext c = ctx();
  StatusOr<PlanEstimate> e = estimate_plan(c, plan_);
  ASSERT_TRUE(e.ok()) << e.status().message();
  ASSERT_EQ(e->stages.size(), 2u);
  ASSERT_EQ(e->layers.size(), 4u);
  EXPECT_EQ(e->profile_source, "measured");

  // Stage 0: embedding + the reshard from its layout into layer 0's + layer 0 + p2p to stage 1.
  const LayerCost emb0 = embedding_cost(c, 0, plan_.embedding);
  const LayerCost l0 = transformer_layer_cost(c, 0, plan_.layers[0]);
  const double micro0 = emb0.forward.value + emb0.backward.value + l0.forward.value +
                        l0.backward.value + p2p_time(c, 0, plan_.layers[0]).value +
                        switch_cost(c, 0, plan_.embedding, plan_.layers[0]).value;
  const double sync0 = emb0.grad_sync_exposed.value + l0.grad_sync_exposed.value;
  // Stage 1: head + layers 1..3 + the switch from layer 0's layout (what the p2p delivers) and
  // the two between them + the switch into the head's layout (none: the same as layer 3's).
  const LayerCost head = embedding_cost(c, 1, plan_.embedding);
  double micro1 = head.forward.value + head.backward.value;
  double sync1 = head.grad_sync_exposed.value;
  double states1 = 0, act1 = head.activation_per_micro_batch.value, trans1 = 0;
  for (int l = 1; l < 4; ++l) {
    const LayerCost lc = transformer_layer_cost(c, 1, plan_.layers[l]);
    micro1 += lc.forward.value + lc.backward.value;
    micro1 += switch_cost(c, 1, plan_.layers[l - 1], plan_.layers[l]).value;
    sync1 += lc.grad_sync_exposed.value;
    states1 += lc.model_states.value;
    act1 += lc.activation_per_micro_batch.value;
    trans1 = std::max(trans1, lc.transient.value);
  }
  EXPECT_DOUBLE_EQ(e->stages[0].micro_batch_time.value, micro0);
  EXPECT_DOUBLE_EQ(e->stages[1].micro_batch_time.value, micro1);
  EXPECT_DOUBLE_EQ(e->stages[0].sync_exposed.value, sync0);
  EXPECT_DOUBLE_EQ(e->stages[1].sync_exposed.value, sync1);
  EXPECT_GT(e->layers[2].switch_in.value, 0.0);  // tp1*dp4 -> tp2*dp2
  EXPECT_GT(e->layers[0].switch_in.value, 0.0);  // embedding tp1*dp4 -> tp2*dp2
  EXPECT_GT(e->layers[1].switch_in.value, 0.0);  // stage 1 receives tp2*dp2, runs tp1*dp4
  EXPECT_EQ(e->stages[1].switch_out.value, 0.0);  // layer 3 and the head: both tp1*dp4
  EXPECT_EQ(e->stages[0].switch_out.value, 0.0);  // not the last stage
  EXPECT_DOUBLE_EQ(e->iteration.value,
                   micro0 + micro1 + (2 - 1) * std::max(micro0, micro1) + std::max(sync0, sync1));
  EXPECT_DOUBLE_EQ(e->samples_per_s, 16 / (e->iteration.value / 1e3));

  // Memory of stage 1: in flight min(2, 2 - 1) = 1.
  const StageEstimate& s1 = e->stages[1];
  EXPECT_EQ(e->stages[0].in_flight, 2);
  EXPECT_EQ(s1.in_flight, 1);
  EXPECT_DOUBLE_EQ(s1.base.value, c.options.runtime_buffer_bytes + head.model_states.value);
  EXPECT_DOUBLE_EQ(s1.model_states.value, states1);
  EXPECT_DOUBLE_EQ(s1.activations.value, act1);
  EXPECT_DOUBLE_EQ(s1.transient.value, head.transient.value + trans1);
  EXPECT_DOUBLE_EQ(s1.peak_memory.value,
                   s1.base.value + states1 + act1 + head.transient.value + trans1);
  // Stage 0 holds two micro-batches of layer 0's activations.
  EXPECT_DOUBLE_EQ(e->stages[0].activations.value, 2 * (l0.activation_per_micro_batch.value +
                                                        emb0.activation_per_micro_batch.value));

  const Prediction p = to_prediction(*e);
  EXPECT_EQ(p.iteration, e->iteration);
  ASSERT_EQ(p.stage_peak_memory.size(), 2u);
  EXPECT_EQ(p.stage_peak_memory[1], s1.peak_memory);
}

TEST_F(PlanEstimateTest, LastLayerReshardsIntoTheHead) {
  // The head runs in the embedding's layout; when the last layer's differs, the last stage pays
  // the reshard into it once per micro-batch (the executor reshards before the head).
  plan_.embedding = strategy(2, 2);
  const CostContext c = ctx();
  StatusOr<PlanEstimate> e = estimate_plan(c, plan_);
  ASSERT_TRUE(e.ok()) << e.status().message();
  const double out = switch_cost(c, 1, plan_.layers[3], plan_.embedding).value;
  EXPECT_GT(out, 0.0);
  EXPECT_DOUBLE_EQ(e->stages[1].switch_out.value, out);
  EXPECT_EQ(e->layers[0].switch_in.value, 0.0);  // embedding and layer 0: both tp2*dp2
  plan_.embedding = strategy(1, 4);
  StatusOr<PlanEstimate> same = estimate_plan(c, plan_);
  ASSERT_TRUE(same.ok());
  const double head_diff = (embedding_cost(c, 1, strategy(2, 2)).forward.value +
                            embedding_cost(c, 1, strategy(2, 2)).backward.value) -
                           (embedding_cost(c, 1, strategy(1, 4)).forward.value +
                            embedding_cost(c, 1, strategy(1, 4)).backward.value);
  EXPECT_NEAR(e->stages[1].micro_batch_time.value - same->stages[1].micro_batch_time.value,
              out + head_diff, 1e-9);
}

TEST_F(PlanEstimateTest, ClusterRuntimeBufferOverridesTheOption) {
  const CostContext c = ctx();
  StatusOr<PlanEstimate> dflt = estimate_plan(c, plan_);
  ASSERT_TRUE(dflt.ok()) << dflt.status().message();
  ClusterProfile cpu = cluster_;
  cpu.device.runtime_buffer = Bytes(0);
  CostContext z = c;
  z.cluster = &cpu;
  StatusOr<PlanEstimate> e = estimate_plan(z, plan_);
  ASSERT_TRUE(e.ok()) << e.status().message();
  ASSERT_GT(c.options.runtime_buffer_bytes, 0.0);
  for (size_t s = 0; s < e->stages.size(); ++s) {
    EXPECT_DOUBLE_EQ(e->stages[s].peak_memory.value,
                     dflt->stages[s].peak_memory.value - c.options.runtime_buffer_bytes);
  }
  EXPECT_EQ(e->iteration, dflt->iteration);  // time does not depend on it
}

TEST_F(PlanEstimateTest, ContextMustMatchStrategy) {
  CostContext c = ctx();
  c.micro_batches = 4;
  StatusOr<PlanEstimate> e = estimate_plan(c, plan_);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(e.status().message().find("micro_batches"), std::string::npos);
}

TEST_F(PlanEstimateTest, InvalidStrategyNamesTheField) {
  // 8 samples in 4 micro-batches of 2: layer 1's dp 4 cannot split them.
  plan_.micro_batches = 4;
  plan_.global_batch = 8;
  plan_.embedding = strategy(4, 1);
  plan_.layers = {strategy(2, 2), strategy(1, 4), strategy(2, 2), strategy(2, 2)};
  CostContext c = testing::context(model_, cluster_, &profile_, 8, 2, 4, 8);
  StatusOr<PlanEstimate> e = estimate_plan(c, plan_);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(e.status().message().find("layers[1]"), std::string::npos) << e.status().message();
}

TEST_F(PlanEstimateTest, MissingCommunicationDataIsInfeasibleAndNamed) {
  ClusterProfile mute = cluster_;
  mute.collectives.clear();
  mute.p2p.clear();
  CostContext c = testing::context(model_, mute, &profile_, 8, 2, 2, 16);
  StatusOr<PlanEstimate> e = estimate_plan(c, plan_);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInfeasible);
  EXPECT_NE(e.status().message().find("no data"), std::string::npos) << e.status().message();
}

TEST_F(PlanEstimateTest, AnalyticWithoutProfile) {
  CostContext c = ctx();
  c.profile = nullptr;
  StatusOr<PlanEstimate> e = estimate_plan(c, plan_);
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->profile_source, "analytic");
  EXPECT_GT(e->iteration.value, 0.0);
}

}  // namespace
}  // namespace paratune::estimator
