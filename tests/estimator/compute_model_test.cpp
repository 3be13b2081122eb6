#include "estimator/compute_model.h"

#include <gtest/gtest.h>

#include "estimator/analytic_profile.h"
#include "fixtures.h"

namespace paratune::estimator {
namespace {

LayerTypeProfile points(std::vector<ComputePoint> pts) {
  LayerTypeProfile p;
  p.name = "transformer";
  p.compute = std::move(pts);
  return p;
}

ComputePoint pt(int b, int tp, double f, double w) {
  return ComputePoint{b, tp, Milliseconds(f), Milliseconds(w)};
}

TEST(ComputeModel, ExactPoint) {
  auto t = lookup_compute(points({pt(2, 1, 3, 7), pt(4, 1, 5, 11)}), 2, 1);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->forward.value, 3.0);
  EXPECT_EQ(t->backward.value, 7.0);
}

TEST(ComputeModel, LeastSquaresInterpolationAndExtrapolation) {
  // forward 1 + b exactly on a line; backward 2 + 2b but with noise around it: least squares of
  // (1, 4.1), (2, 5.8), (4, 10.1): mean b = 7/3, mean y = 20/3, Sbb = 14/3, Sby = 28.3/3.
  LayerTypeProfile p = points({pt(1, 1, 2, 4.1), pt(2, 1, 3, 5.8), pt(4, 1, 5, 10.1)});
  auto t3 = lookup_compute(p, 3, 1);
  ASSERT_TRUE(t3);
  EXPECT_NEAR(t3->forward.value, 4.0, 1e-12);
  const double c = 28.3 / 14.0, a = 20.0 / 3.0 - c * 7.0 / 3.0;
  EXPECT_NEAR(t3->backward.value, a + 3 * c, 1e-12);
  auto t8 = lookup_compute(p, 8, 1);
  EXPECT_NEAR(t8->forward.value, 9.0, 1e-12);
}

ComputePoint pt_ng(int b, int tp, double f, double w, double f0) {
  ComputePoint p = pt(b, tp, f, w);
  p.forward_no_grad = Milliseconds(f0);
  return p;
}

TEST(ComputeModel, ForwardNoGradFromItsOwnPointsOrTheForward) {
  // Exact point.
  auto t = lookup_compute(points({pt_ng(2, 1, 3, 7, 1.5)}), 2, 1);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->forward_no_grad.value, 1.5);
  EXPECT_EQ(t->forward.value, 3.0);
  // A line over b: no-grad forward 0.5 + 0.5 b exactly (b = 1, 3), evaluated at b = 5;
  // proportional from one point; scaled from the nearest tp.
  LayerTypeProfile p = points({pt_ng(1, 1, 2, 4, 1), pt_ng(3, 1, 4, 8, 2), pt_ng(2, 2, 2, 4, 0.75)});
  EXPECT_NEAR(lookup_compute(p, 5, 1)->forward_no_grad.value, 3.0, 1e-12);
  EXPECT_NEAR(lookup_compute(p, 4, 2)->forward_no_grad.value, 1.5, 1e-12);
  EXPECT_NEAR(lookup_compute(p, 4, 4)->forward_no_grad.value, 0.75, 1e-12);
  // Not measured: the forward stands in, point by point.
  auto u = lookup_compute(points({pt(1, 1, 2, 4), pt_ng(3, 1, 4, 8, 1)}), 2, 1);
  EXPECT_NEAR(u->forward.value, 3.0, 1e-12);
  EXPECT_NEAR(u->forward_no_grad.value, 1.5, 1e-12);  // line through (1, 2) and (3, 1)
  EXPECT_EQ(lookup_compute(points({pt(2, 1, 3, 7)}), 2, 1)->forward_no_grad.value, 3.0);
}

TEST(ComputeModel, SinglePointScalesProportionally) {
  auto t = lookup_compute(points({pt(2, 1, 3, 6)}), 6, 1);
  ASSERT_TRUE(t);
  EXPECT_NEAR(t->forward.value, 9.0, 1e-12);
  EXPECT_NEAR(t->backward.value, 18.0, 1e-12);
}

TEST(ComputeModel, MissingTpDerivedFromNearestTp) {
  LayerTypeProfile p = points({pt(1, 1, 2, 4), pt(2, 1, 3, 6), pt(2, 4, 1, 2)});
  // tp 2: nearest measured tp is 1 and 4 (both one octave away): the smaller, 1, scaled by 1/2.
  auto t2 = lookup_compute(p, 2, 2);
  ASSERT_TRUE(t2);
  EXPECT_NEAR(t2->forward.value, 1.5, 1e-12);
  EXPECT_NEAR(t2->backward.value, 3.0, 1e-12);
  // tp 8: from tp 4 (one point, proportional in b), scaled by 4/8.
  auto t8 = lookup_compute(p, 4, 8);
  EXPECT_NEAR(t8->forward.value, 1.0, 1e-12);
  EXPECT_FALSE(lookup_compute(points({}), 1, 1));
}

TEST(ComputeModel, AnalyticFallbackWithoutLayerType) {
  ModelConfig m = testing::tiny_model();
  ClusterProfile c = testing::two_level_cluster();
  ModelProfile prof = testing::tiny_profile();
  prof.layer_types.resize(1);  // transformer only
  CostContext ctx = testing::context(m, c, &prof, 8, 1, 1, 8);
  ComputeTime head = compute_time(ctx, LayerKind::kLmHead, 2, 2);
  // b * head flops / tp / (0.5 * 1e12) s.
  const double expect = 2 * m.head_forward_flops_per_sample() / 2 / (0.5 * 1e12) * 1e3;
  EXPECT_NEAR(head.forward.value, expect, 1e-12);
  EXPECT_NEAR(head.backward.value, 2 * expect, 1e-12);
  // The measured transformer is used as is.
  EXPECT_EQ(compute_time(ctx, LayerKind::kTransformer, 2, 2).forward.value, 2.0);
}

TEST(ComputeModel, AnalyticEmbeddingIsMemoryBound) {
  ModelConfig m = testing::tiny_model();
  ClusterProfile c = testing::two_level_cluster();
  // 2 * b*s*h*4 bytes at 1e11 B/s.
  ComputeTime t = analytic_compute(m, c, LayerKind::kEmbedding, 4, 2, 0.5);
  EXPECT_NEAR(t.forward.value, 2.0 * 4 * 16 * 64 * 4 / 1e11 * 1e3, 1e-15);
  EXPECT_NEAR(t.backward.value, 2 * t.forward.value, 1e-15);
}

TEST(OptimizerStep, LeastSquaresLineOverParamsAndZeroWithoutPoints) {
  const ModelConfig m = testing::tiny_model();
  const ClusterProfile c = testing::two_level_cluster(1, 2);
  ModelProfile p = testing::tiny_profile();
  CostContext ctx = testing::context(m, c, &p, 2, 1, 1, 2);
  EXPECT_EQ(optimizer_step_time(ctx, 1000).value, 0.0);  // no points: not charged
  // On the line 0.5 + 0.001 n except the middle point (+0.3): least squares over
  // n = 1000, 2000, 3000 with y = 1.5, 2.8, 3.5: slope 2.0 / 2000 = 0.001, intercept
  // mean y - slope * mean n = 2.6 - 2.0 = 0.6.
  p.optimizer_step = {OptimizerPoint{1000, Milliseconds(1.5)},
                      OptimizerPoint{2000, Milliseconds(2.8)},
                      OptimizerPoint{3000, Milliseconds(3.5)}};
  EXPECT_NEAR(optimizer_step_time(ctx, 2000).value, 2.6, 1e-12);
  EXPECT_NEAR(optimizer_step_time(ctx, 10000).value, 10.6, 1e-12);
  EXPECT_EQ(optimizer_step_time(ctx, 0).value, 0.0);
  // A steep negative intercept never gives a negative time.
  p.optimizer_step = {OptimizerPoint{1000, Milliseconds(0.1)},
                      OptimizerPoint{2000, Milliseconds(5.1)}};
  EXPECT_EQ(optimizer_step_time(ctx, 100).value, 0.0);
  // One point: proportional.
  p.optimizer_step = {OptimizerPoint{4000, Milliseconds(2.0)}};
  EXPECT_NEAR(optimizer_step_time(ctx, 1000).value, 0.5, 1e-12);
  CostContext none = testing::context(m, c, nullptr, 2, 1, 1, 2);
  EXPECT_EQ(optimizer_step_time(none, 1000).value, 0.0);
}

}  // namespace
}  // namespace paratune::estimator
