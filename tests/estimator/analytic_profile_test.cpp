#include "estimator/analytic_profile.h"

#include <gtest/gtest.h>

#include "estimator/compute_model.h"
#include "estimator/memory_model.h"
#include "fixtures.h"

namespace paratune::estimator {
namespace {

TEST(AnalyticProfile, ShapeAndSource) {
  ModelConfig m = testing::tiny_model();
  ClusterProfile c = testing::two_level_cluster();
  ModelProfile p = analytic_profile(m, c);
  EXPECT_EQ(p.source, "analytic");
  EXPECT_EQ(p.device, "test-device");
  EXPECT_EQ(p.seq_len, 16);
  const LayerTypeProfile* t = p.find("transformer");
  ASSERT_NE(t, nullptr);
  ASSERT_NE(p.find("embedding"), nullptr);
  ASSERT_NE(p.find("lm_head"), nullptr);
  EXPECT_EQ(t->param_count, m.layer_param_count());
  // 4 heads: tp 1, 2, 4 (not 8), micro-batches 1, 2, 4, 8.
  EXPECT_EQ(t->compute.size(), 3u * 4u);
  for (const ComputePoint& q : t->compute) EXPECT_LE(q.tp, 4);
  EXPECT_EQ(t->activation.size(), 1u + 2u + 2u);
  EXPECT_EQ(t->checkpoint_bytes_per_sample, analytic_checkpoint_per_sample(m));
}

TEST(AnalyticProfile, MonotoneInMicroBatchAndFasterWithTp) {
  ModelConfig m = testing::tiny_model();
  ClusterProfile c = testing::two_level_cluster();
  ModelProfile p = analytic_profile(m, c);
  for (const char* name : {"transformer", "embedding", "lm_head"}) {
    const LayerTypeProfile* t = p.find(name);
    ASSERT_NE(t, nullptr);
    for (int tp : {1, 2}) {
      double prev = 0;
      for (int b : {1, 2, 4, 8}) {
        auto ct = lookup_compute(*t, b, tp);
        ASSERT_TRUE(ct);
        EXPECT_GT(ct->forward.value, prev) << name << " b=" << b;
        EXPECT_DOUBLE_EQ(ct->backward.value, 2 * ct->forward.value);
        prev = ct->forward.value;
      }
    }
  }
  const LayerTypeProfile* t = p.find("transformer");
  // b * flops / (0.5 * 1e12) s; tp 2 halves it.
  EXPECT_NEAR(lookup_compute(*t, 4, 1)->forward.value,
              4 * m.layer_forward_flops_per_sample() / 0.5e12 * 1e3, 1e-12);
  EXPECT_NEAR(lookup_compute(*t, 4, 2)->forward.value, lookup_compute(*t, 4, 1)->forward.value / 2,
              1e-12);
  // Using the analytic profile as the profile reproduces the analytic fallback.
  CostContext with = testing::context(m, c, &p, 8, 1, 1, 8);
  CostContext without = testing::context(m, c, nullptr, 8, 1, 1, 8);
  EXPECT_NEAR(compute_time(with, LayerKind::kTransformer, 3, 2).forward.value,
              compute_time(without, LayerKind::kTransformer, 3, 2).forward.value, 1e-12);
}

}  // namespace
}  // namespace paratune::estimator
