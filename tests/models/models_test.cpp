// models/: layout-independent init, parameter specs vs the core model config, reference training.
#include <cmath>

#include <gtest/gtest.h>

#include "models/init.h"
#include "models/param_spec.h"
#include "models/reference.h"

namespace paratune::models {
namespace {

ModelConfig tiny(bool llama) {
  ModelConfig m;
  m.name = llama ? "tiny-llama" : "tiny-gpt";
  m.num_layers = 2;
  m.hidden = 32;
  m.heads = 8;
  m.kv_heads = llama ? 4 : 8;
  m.ffn_hidden = 64;
  m.seq_len = 16;
  m.vocab = 64;
  if (llama) {
    m.norm = NormKind::kRmsNorm;
    m.activation = ActivationKind::kSwiGlu;
    m.position = PositionKind::kRope;
    m.tied_embeddings = false;
    m.bias = false;
  }
  return m;
}

int64_t count(const ModelConfig& m, UnitKind k) {
  int64_t n = 0;
  for (const ParamSpec& p : unit_params(m, k)) n += p.local_numel(1);
  return n;
}

int64_t count_replicated(const ModelConfig& m, UnitKind k) {
  int64_t n = 0;
  for (const ParamSpec& p : unit_params(m, k)) n += p.tp_replicated() ? p.local_numel(1) : 0;
  return n;
}

TEST(Init, ShardIsSliceOfFullAndDeterministic) {
  const ModelConfig m = tiny(false);
  for (const ParamSpec& p : unit_params(m, UnitKind::kLayer)) {
    at::Tensor full = init_full_param(p, 42, "layer1");
    EXPECT_TRUE(at::equal(full, init_full_param(p, 42, "layer1"))) << p.name;
    for (int tp : {2, 4}) {
      std::vector<at::Tensor> shards;
      for (int r = 0; r < tp; ++r) shards.push_back(init_param_shard(p, 42, "layer1", tp, r));
      at::Tensor joined = p.split_dim < 0 ? shards[0] : at::cat(shards, p.split_dim);
      EXPECT_TRUE(at::equal(joined, full)) << p.name << " tp " << tp;
      EXPECT_EQ(shards[0].sizes().vec(), p.local_shape(tp)) << p.name;
    }
  }
  ParamSpec w{"wq", {8, 8}, 0, InitKind::kNormal, 0.02};
  EXPECT_FALSE(at::equal(init_full_param(w, 1, "layer0"), init_full_param(w, 1, "layer1")));
  EXPECT_FALSE(at::equal(init_full_param(w, 1, "layer0"), init_full_param(w, 2, "layer0")));
}

TEST(ParamSpec, CountsMatchCoreModelConfig) {
  for (bool llama : {false, true}) {
    const ModelConfig m = tiny(llama);
    EXPECT_EQ(count(m, UnitKind::kLayer), m.layer_param_count()) << m.name;
    EXPECT_EQ(count(m, UnitKind::kEmbedding), m.embedding_param_count()) << m.name;
    EXPECT_EQ(count(m, UnitKind::kHead), m.head_param_count()) << m.name;
    // The estimator prices sequence parallelism's gradient allreduce of these.
    EXPECT_EQ(count_replicated(m, UnitKind::kLayer), m.layer_tp_replicated_param_count())
        << m.name;
    EXPECT_EQ(count_replicated(m, UnitKind::kEmbedding), m.embedding_tp_replicated_param_count())
        << m.name;
    EXPECT_EQ(count_replicated(m, UnitKind::kHead), m.head_tp_replicated_param_count()) << m.name;
  }
}

TEST(ParamSpec, TpSplitsColumnAndRowLinears) {
  const ModelConfig m = tiny(true);
  for (const ParamSpec& p : unit_params(m, UnitKind::kLayer)) {
    if (p.name == "wk") {
      EXPECT_EQ(p.split_dim, 0);
      EXPECT_EQ(p.local_shape(4), (std::vector<int64_t>{4, 32}));  // one kv head of 4 dims
    }
    if (p.name == "down") {
      EXPECT_EQ(p.split_dim, 1);
    }
    if (p.name == "norm1.w") {
      EXPECT_TRUE(p.tp_replicated());
    }
  }
}

TEST(Reference, InitialLossNearUniformAndTrainingReducesIt) {
  for (bool llama : {false, true}) {
    const ModelConfig m = tiny(llama);
    AdamOptions o;
    o.lr = 1e-2;
    ReferenceTrainer ref(m, 3, o);
    at::Tensor batch = at::arange(8 * 17, at::kLong).remainder(7).view({8, 17});  // periodic
    const double first = ref.step(batch);
    EXPECT_NEAR(first, std::log(64.0), 0.2) << m.name;
    double last = first;
    for (int i = 0; i < 30; ++i) last = ref.step(batch);
    EXPECT_LT(last, 0.5 * first) << m.name;
  }
}

TEST(Adam, MatchesHandComputedFirstStep) {
  at::Tensor p = at::tensor({1.0f, -2.0f}), g = at::tensor({0.5f, -0.25f});
  at::Tensor m = at::zeros({2}), v = at::zeros({2});
  AdamOptions o;
  o.lr = 0.1;
  adam_update(p, g, m, v, 1, o);
  // First Adam step moves every coordinate by lr * sign(g) (up to eps).
  EXPECT_NEAR(p[0].item<double>(), 0.9, 1e-6);
  EXPECT_NEAR(p[1].item<double>(), -1.9, 1e-6);
  EXPECT_DOUBLE_EQ(clip_coefficient(0.5, o), 1.0);
  EXPECT_NEAR(clip_coefficient(4.0, o), 0.25, 1e-6);
}

}  // namespace
}  // namespace paratune::models
