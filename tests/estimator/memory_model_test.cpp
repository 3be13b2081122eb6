#include "estimator/memory_model.h"

#include <gtest/gtest.h>

#include "fixtures.h"

namespace paratune::estimator {
namespace {

TEST(MemoryModel, StateBytesPerParam) {
  EstimatorOptions o;
  EXPECT_EQ(state_bytes_per_param(testing::tiny_model(DType::kFp32), o).total(), 16.0);
  StateBytes mixed = state_bytes_per_param(testing::tiny_model(DType::kBf16), o);
  EXPECT_EQ(mixed.param, 2.0);
  EXPECT_EQ(mixed.grad, 2.0);
  EXPECT_EQ(mixed.optimizer, 12.0);
  o.fp32_grads = true;
  EXPECT_EQ(state_bytes_per_param(testing::tiny_model(DType::kBf16), o).total(), 18.0);
  o.mixed_precision = false;
  EXPECT_EQ(state_bytes_per_param(testing::tiny_model(DType::kFp16), o).total(), 8.0);
  // fp32 models ignore the mixed-precision knobs.
  EXPECT_EQ(state_bytes_per_param(testing::tiny_model(DType::kFp32), o).total(), 16.0);
}

TEST(MemoryModel, ShardingPerDpType) {
  const StateBytes k{2, 2, 12};
  EXPECT_EQ(model_state_bytes(1000, DpType::kDdp, 8, k).value, 16000.0);
  EXPECT_EQ(model_state_bytes(1000, DpType::kZero2, 8, k).value, 1000 * (2 + 14.0 / 8));
  EXPECT_EQ(model_state_bytes(1000, DpType::kZero3, 8, k).value, 2000.0);
  for (DpType t : {DpType::kDdp, DpType::kZero2, DpType::kZero3}) {
    EXPECT_EQ(model_state_bytes(1000, t, 1, k).value, 16000.0);
  }
}

TEST(MemoryModel, KorthikantiGoldenForBf16) {
  // Paper: s*h*(34 + 5as/h) bytes per sample without TP; s*h*(10 + 24/t + 5as/(ht)) with TP t;
  // with TP + SP all of it / t. tiny: s = 16, h = 64, a = 4, f = 4h, MHA, GELU.
  ModelConfig m = testing::tiny_model(DType::kBf16);
  const double s = 16, h = 64, a = 4;
  EXPECT_DOUBLE_EQ(analytic_activation_per_sample(m, LayerKind::kTransformer, 1, false).value,
                   s * h * (34 + 5 * a * s / h));
  EXPECT_DOUBLE_EQ(analytic_activation_per_sample(m, LayerKind::kTransformer, 4, false).value,
                   s * h * (10 + 24.0 / 4 + 5 * a * s / (h * 4)));
  EXPECT_DOUBLE_EQ(analytic_activation_per_sample(m, LayerKind::kTransformer, 4, true).value,
                   s * h * (34 + 5 * a * s / h) / 4);
  EXPECT_DOUBLE_EQ(analytic_checkpoint_per_sample(m).value, s * h * 2);
  // fp32 elements are twice as large, 1-byte dropout masks are not: 66 sh + 9 as^2.
  ModelConfig m32 = testing::tiny_model(DType::kFp32);
  EXPECT_DOUBLE_EQ(analytic_activation_per_sample(m32, LayerKind::kTransformer, 1, false).value,
                   s * h * 66 + 9 * a * s * s);
  // GQA shrinks K and V, SwiGLU adds a third f-wide tensor.
  ModelConfig g = m;
  g.kv_heads = 1;
  g.activation = ActivationKind::kSwiGlu;
  EXPECT_DOUBLE_EQ(analytic_activation_per_sample(g, LayerKind::kTransformer, 1, false).value,
                   s * h * (34 - 2 * 2 * 0.75 + 2 * 4) + 5 * a * s * s);
}

TEST(MemoryModel, ProfilePointsWinAndMissingOnesScaleByFormula) {
  ModelConfig m = testing::tiny_model();
  ClusterProfile c = testing::two_level_cluster();
  ModelProfile p = testing::tiny_profile();
  CostContext ctx = testing::context(m, c, &p, 8, 1, 1, 8);
  EXPECT_EQ(activation_per_sample(ctx, LayerKind::kTransformer, 2, false).value, 600.0);
  EXPECT_EQ(activation_per_sample(ctx, LayerKind::kTransformer, 2, true).value, 500.0);
  // tp 4 with sp: nearest sp point is tp 2 (500 bytes), times the formula's ratio.
  const double ratio = analytic_activation_per_sample(m, LayerKind::kTransformer, 4, true) /
                       analytic_activation_per_sample(m, LayerKind::kTransformer, 2, true);
  EXPECT_DOUBLE_EQ(activation_per_sample(ctx, LayerKind::kTransformer, 4, true).value,
                   500.0 * ratio);
  EXPECT_EQ(checkpoint_per_sample(ctx, 2, false).value, 100.0);
  EXPECT_EQ(checkpoint_per_sample(ctx, 2, true).value, 50.0);
  // No profile: the formula.
  CostContext bare = testing::context(m, c, nullptr, 8, 1, 1, 8);
  EXPECT_EQ(activation_per_sample(bare, LayerKind::kTransformer, 2, false),
            analytic_activation_per_sample(m, LayerKind::kTransformer, 2, false));
  EXPECT_EQ(checkpoint_per_sample(bare, 1, false), analytic_checkpoint_per_sample(m));
}

}  // namespace
}  // namespace paratune::estimator
