// strategy.json: round trips, labels, ordering, stage lookup, and every structural error.
#include "core/strategy.h"

#include <algorithm>
#include <limits>

#include <gtest/gtest.h>

#include "tests/core/core_test_util.h"

namespace paratune {
namespace {

using testing_util::error_contains;
using testing_util::repo_path;
using testing_util::write_temp;

ModelConfig model(const std::string& name) {
  return load_model_config(repo_path("configs/models/" + name + ".json")).value();
}

LayerStrategy ls(int tp, int dp, bool tp_consecutive = true, DpType t = DpType::kDdp,
                 bool sp = false, bool ckpt = false) {
  LayerStrategy s;
  s.tp = tp;
  s.dp = dp;
  s.tp_consecutive = tp_consecutive;
  s.dp_type = t;
  s.sp = sp;
  s.checkpoint = ckpt;
  return s;
}

/// 8 devices, pp 2 (4 per stage), the tiny model's 4 layers split 1 + 3.
Strategy tiny_plan() {
  Strategy s;
  s.num_devices = 8;
  s.pp = 2;
  s.pp_division = {1, 3};
  s.micro_batches = 2;
  s.global_batch = 16;
  s.embedding = ls(2, 2, true, DpType::kZero2, true);
  s.layers = {ls(1, 4), ls(2, 2, false, DpType::kZero3, true, true), ls(4, 1, true),
              ls(2, 2, true, DpType::kZero2)};
  s.model_fingerprint = fingerprint(model("tiny"));
  s.cluster_fingerprint = "c-0123456789abcdef";
  Prediction p;
  p.iteration = Milliseconds(12.5);
  p.samples_per_s = 1280.0;
  p.stage_peak_memory = {Bytes(1.5e9), Bytes(2.25e9)};
  p.profile_source = "analytic";
  s.predicted = p;
  return s;
}

Status parse(const Json& j, const std::string& file = "s.json") {
  return strategy_from_json(j, file).status();
}

TEST(Strategy, RoundTrip) {
  const Strategy s = tiny_plan();
  ASSERT_TRUE(validate(s, model("tiny"), "mem").ok()) << validate(s, model("tiny"), "mem").message();
  StatusOr<Strategy> back = strategy_from_json(to_json(s), "rt");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, s);
  // Through a file, without the optional prediction.
  Strategy bare = s;
  bare.predicted.reset();
  const std::string path = write_temp("strategy.json", dump_json(to_json(bare)));
  StatusOr<Strategy> loaded = load_strategy(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(*loaded, bare);
  EXPECT_FALSE(*loaded == s);
  EXPECT_FALSE(to_json(bare).contains("predicted"));
  EXPECT_EQ(dump_json(to_json(*loaded)), dump_json(to_json(bare)));  // deterministic bytes
}

TEST(Strategy, CanonicalKeyOrder) {
  const Json j = to_json(tiny_plan());
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"format_version", "num_devices", "pp", "pp_division",
                                            "micro_batches", "global_batch", "embedding", "layers",
                                            "model_fingerprint", "cluster_fingerprint",
                                            "predicted"}));
  EXPECT_EQ(j["layers"][1].dump(),
            R"({"tp":2,"tp_consecutive":false,"sp":true,"dp":2,"dp_type":"zero3","checkpoint":true})");
  EXPECT_EQ(j["predicted"].dump(),
            R"({"iteration_ms":12.5,"samples_per_s":1280.0,)"
            R"("stage_peak_memory_bytes":[1500000000.0,2250000000.0],"profile_source":"analytic"})");
}

TEST(Strategy, Labels) {
  EXPECT_EQ(to_string(ls(1, 8)), "tp1-dp8");
  EXPECT_EQ(to_string(ls(1, 8, false)), "tp1-dp8");  // no star when one side is 1
  EXPECT_EQ(to_string(ls(8, 1)), "tp8-dp1");
  EXPECT_EQ(to_string(ls(2, 4)), "tp2*-dp4");
  EXPECT_EQ(to_string(ls(2, 4, false)), "tp2-dp4*");
  EXPECT_EQ(to_string(ls(2, 4, true, DpType::kZero3, true, true)), "tp2*-dp4-zero3-sp-ckpt");
  EXPECT_EQ(to_string(ls(4, 2, false, DpType::kZero2)), "tp4-dp2*-zero2");
  EXPECT_EQ(to_string(ls(1, 4, true, DpType::kDdp, false, true)), "tp1-dp4-ckpt");
  EXPECT_EQ(to_string(DpType::kDdp), std::string("ddp"));
  EXPECT_EQ(to_json(ls(1, 2)).dump(),
            R"({"tp":1,"tp_consecutive":true,"sp":false,"dp":2,"dp_type":"ddp","checkpoint":false})");
}

TEST(Strategy, TotalOrder) {
  std::vector<LayerStrategy> v = {ls(2, 2, true, DpType::kZero3), ls(1, 4),
                                  ls(2, 2, false),                ls(2, 2, true),
                                  ls(2, 2, true, DpType::kDdp, true), ls(4, 1)};
  std::sort(v.begin(), v.end());
  std::vector<std::string> got;
  for (const auto& x : v) got.push_back(to_string(x) + (x.tp_consecutive ? "" : "~"));
  // Order of fields: tp, tp_consecutive (false first), sp, dp, dp_type, checkpoint.
  EXPECT_EQ(got, (std::vector<std::string>{"tp1-dp4", "tp2-dp2*~", "tp2*-dp2", "tp2*-dp2-zero3",
                                           "tp2*-dp2-sp", "tp4-dp1"}));
  for (size_t i = 0; i + 1 < v.size(); ++i) {
    EXPECT_TRUE(v[i] < v[i + 1]);
    EXPECT_FALSE(v[i + 1] < v[i]);
  }
  EXPECT_FALSE(ls(2, 2) < ls(2, 2));
}

TEST(Strategy, StageLookup) {
  Strategy s = tiny_plan();
  s.num_devices = 8;
  s.pp = 4;
  s.pp_division = {2, 1, 0, 1};  // (not valid; the lookup itself only walks the division)
  EXPECT_EQ(s.devices_per_stage(), 2);
  EXPECT_EQ(s.stage_of_layer(0), 0);
  EXPECT_EQ(s.stage_of_layer(1), 0);
  EXPECT_EQ(s.stage_of_layer(2), 1);
  EXPECT_EQ(s.stage_of_layer(3), 3);
  EXPECT_EQ(s.first_layer(0), 0);
  EXPECT_EQ(s.first_layer(1), 2);
  EXPECT_EQ(s.first_layer(3), 3);
  EXPECT_EQ(s.first_layer(4), 4);  // one past the last stage: the layer count
  const Strategy t = tiny_plan();
  EXPECT_EQ(t.stage_of_layer(0), 0);
  EXPECT_EQ(t.stage_of_layer(1), 1);
  EXPECT_EQ(t.stage_of_layer(3), 1);
  EXPECT_EQ(t.first_layer(1), 1);
}

// ---- parse errors: file + exact field path ----

TEST(StrategyErrors, Parsing) {
  Json j = to_json(tiny_plan());
  j["layers"][1]["tpp"] = 2;
  EXPECT_TRUE(error_contains(parse(j), "s.json: field \"layers[1].tpp\"", "unknown field"));
  j = to_json(tiny_plan());
  j["embedding"].erase("dp_type");
  EXPECT_TRUE(error_contains(parse(j), "s.json: field \"embedding.dp_type\"", "missing"));
  j = to_json(tiny_plan());
  j["layers"][3]["dp_type"] = "zero1";
  EXPECT_TRUE(error_contains(parse(j), "s.json: field \"layers[3].dp_type\"", "\"zero1\""));
  j = to_json(tiny_plan());
  j["layers"][0]["tp"] = 1.5;
  EXPECT_TRUE(error_contains(parse(j), "s.json: field \"layers[0].tp\"", "expected an integer"));
  j = to_json(tiny_plan());
  j["global_batch"] = -16;
  EXPECT_TRUE(error_contains(parse(j), "s.json: field \"global_batch\"", "must be >= 1"));
  j = to_json(tiny_plan());
  j["predicted"]["iteration_ms"] = -1.0;
  EXPECT_TRUE(error_contains(parse(j), "s.json: field \"predicted.iteration_ms\"", ">= 0"));
  j = to_json(tiny_plan());
  j["predicted"]["stage_peak_memory_bytes"][1] = "2GiB";
  EXPECT_TRUE(error_contains(parse(j), "s.json: field \"predicted.stage_peak_memory_bytes[1]\""));
  j = to_json(tiny_plan());
  j["predicted"]["samples_per_s"] = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(error_contains(parse(j), "s.json: field \"predicted.samples_per_s\"", "finite"));
  j = to_json(tiny_plan());
  j["pp_division"][0] = 0;
  EXPECT_TRUE(error_contains(parse(j), "s.json: field \"pp_division[0]\""));
  j = to_json(tiny_plan());
  j["layers"] = Json::array();
  EXPECT_TRUE(error_contains(parse(j), "s.json: field \"layers\"", "at least 1"));
  j = to_json(tiny_plan());
  j.erase("cluster_fingerprint");
  EXPECT_TRUE(error_contains(parse(j), "s.json: field \"cluster_fingerprint\"", "missing"));
  j = to_json(tiny_plan());
  j["format_version"] = 7;
  EXPECT_TRUE(error_contains(parse(j), "s.json: field \"format_version\""));
  const std::string bad = write_temp("bad-strategy.json", "{\"pp\": 1,}");
  EXPECT_TRUE(error_contains(load_strategy(bad).status(), bad + ":1:", "malformed JSON"));
}

// ---- structural errors (validate_structure runs inside strategy_from_json too) ----

TEST(StrategyErrors, TpTimesDpMismatch) {
  Strategy s = tiny_plan();
  s.layers[2] = ls(2, 1);
  EXPECT_TRUE(error_contains(validate_structure(s, "s.json"), "s.json: field \"layers[2].dp\"",
                             "tp * dp must equal the devices per stage (num_devices / pp = 4)",
                             "tp 2 * dp 1 = 2"));
  EXPECT_TRUE(error_contains(parse(to_json(s)), "s.json: field \"layers[2].dp\""));
  s = tiny_plan();
  s.embedding = ls(8, 1);
  EXPECT_TRUE(error_contains(validate_structure(s, "s.json"), "field \"embedding.dp\""));
}

TEST(StrategyErrors, Structure) {
  Strategy s = tiny_plan();
  s.pp = 3;
  s.pp_division = {1, 1, 2};
  EXPECT_TRUE(error_contains(validate_structure(s, "s.json"), "field \"pp\"", "power of two"));
  s = tiny_plan();
  s.num_devices = 2;
  s.pp = 4;
  s.pp_division = {1, 1, 1, 1};
  EXPECT_TRUE(error_contains(validate_structure(s, "s.json"), "field \"pp\"",
                             "must divide num_devices (2)"));
  s = tiny_plan();
  s.pp_division = {2, 3};
  EXPECT_TRUE(error_contains(validate_structure(s, "s.json"), "field \"pp_division\"",
                             "sums to 5 but there are 4 layers"));
  s = tiny_plan();
  s.pp_division = {4};
  EXPECT_TRUE(error_contains(validate_structure(s, "s.json"), "field \"pp_division\"",
                             "one entry per pipeline stage (pp = 2), got 1"));
  s = tiny_plan();
  s.layers[0] = ls(1, 4, true, DpType::kDdp, /*sp=*/true);
  EXPECT_TRUE(error_contains(validate_structure(s, "s.json"), "field \"layers[0].sp\"",
                             "needs tp > 1"));
  s = tiny_plan();
  s.layers[0] = ls(3, 1);
  EXPECT_TRUE(error_contains(validate_structure(s, "s.json"), "field \"layers[0].tp\"",
                             "power of two"));
  s = tiny_plan();
  s.global_batch = 15;
  EXPECT_TRUE(error_contains(validate_structure(s, "s.json"), "field \"global_batch\"",
                             "multiple of micro_batches (2)"));
  s = tiny_plan();
  s.global_batch = 4;  // micro-batch 2 is not divisible by layers[0]'s dp 4
  EXPECT_TRUE(error_contains(validate_structure(s, "s.json"), "field \"layers[0].dp\"",
                             "global_batch / micro_batches = 2", "dp 4"));
  s = tiny_plan();
  s.embedding.checkpoint = true;
  EXPECT_TRUE(error_contains(validate_structure(s, "s.json"), "field \"embedding.checkpoint\""));
  s = tiny_plan();
  s.predicted->stage_peak_memory.pop_back();
  EXPECT_TRUE(error_contains(validate_structure(s, "s.json"),
                             "field \"predicted.stage_peak_memory_bytes\""));
}

TEST(StrategyErrors, FewerLayersThanStages) {
  // pp 8 for the 4-layer tiny model: the structure itself cannot be right.
  Strategy s = tiny_plan();
  s.pp = 8;
  s.pp_division = {1, 1, 1, 1};
  for (auto& l : s.layers) l = ls(1, 1);
  s.embedding = ls(1, 1);
  s.predicted.reset();
  EXPECT_TRUE(error_contains(validate(s, model("tiny"), "s.json"), "s.json: field \"pp\"",
                             "fewer layers (4) than pipeline stages (8)"));
  EXPECT_TRUE(error_contains(validate_structure(s, "s.json"), "field \"pp\"", "fewer layers"));
  EXPECT_TRUE(error_contains(parse(to_json(s)), "s.json: field \"pp\"", "fewer layers"));
}

TEST(StrategyErrors, AgainstModel) {
  const ModelConfig tiny = model("tiny");
  Strategy s = tiny_plan();
  s.layers.pop_back();
  s.pp_division = {1, 2};
  EXPECT_TRUE(error_contains(validate(s, tiny, "s.json"), "s.json: field \"layers\"",
                             "has 3 entries but the model \"tiny\" has 4 layers"));
  // gpt-small has 12 heads: tp 8 does not divide them.
  const ModelConfig small = model("gpt-small");
  Strategy g;
  g.num_devices = 8;
  g.pp_division = {12};
  g.global_batch = 8;
  g.embedding = ls(1, 8);
  g.layers.assign(12, ls(4, 2));
  ASSERT_TRUE(validate(g, small, "g.json").ok()) << validate(g, small, "g.json").message();
  g.layers[5] = ls(8, 1);
  EXPECT_TRUE(error_contains(validate(g, small, "g.json"), "g.json: field \"layers[5].tp\"",
                             "tp 8 does not divide the model's heads (12)"));
  // gpt2-xl's vocab 50257 is odd: no vocab-parallel embedding.
  const ModelConfig xl = model("gpt2-xl");
  Strategy x;
  x.num_devices = 2;
  x.pp_division = {48};
  x.global_batch = 2;
  x.embedding = ls(2, 1);
  x.layers.assign(48, ls(1, 2));
  EXPECT_TRUE(error_contains(validate(x, xl, "x.json"), "x.json: field \"embedding.tp\"",
                             "vocab (50257)"));
  // llama2-70b: 64 heads but 8 kv heads: tp 16 fails on kv_heads.
  const ModelConfig l70 = model("llama2-70b");
  Strategy l;
  l.num_devices = 16;
  l.pp_division = {80};
  l.global_batch = 16;
  l.embedding = ls(16, 1);
  l.layers.assign(80, ls(16, 1));
  EXPECT_TRUE(error_contains(validate(l, l70, "l.json"), "l.json: field \"layers[0].tp\"",
                             "kv_heads (8)"));
  // ffn_hidden and seq_len (sp) divisibility.
  ModelConfig odd = tiny;
  odd.ffn_hidden = 102;  // divisible by layers[1]'s tp 2, not by layers[2]'s tp 4
  s = tiny_plan();
  s.model_fingerprint = "";
  EXPECT_TRUE(error_contains(validate(s, odd, "s.json"), "field \"layers[2].tp\"",
                             "tp 4 does not divide the model's ffn_hidden (102)"));
  odd = tiny;
  odd.seq_len = 31;
  EXPECT_TRUE(error_contains(validate(s, odd, "s.json"), "field \"embedding.sp\"",
                             "seq_len (sp) (31)"));
  // A plan searched for another model.
  s = tiny_plan();
  ModelConfig other = tiny;
  other.vocab = 512;
  EXPECT_TRUE(error_contains(validate(s, other, "s.json"), "field \"model_fingerprint\"",
                             fingerprint(tiny), fingerprint(other)));
  s.model_fingerprint = "";  // "" = any model
  EXPECT_TRUE(validate(s, other, "s.json").ok());
}

}  // namespace
}  // namespace paratune

namespace paratune {
namespace {

TEST(UniformStrategy, SplitsLayersAndKeepsTheEmbeddingUncheckpointed) {
  LayerStrategy ls;
  ls.tp = 2;
  ls.dp = 2;
  ls.checkpoint = true;
  const Strategy s = uniform_strategy(8, 2, ls, 7, 16, 4);
  EXPECT_EQ(s.num_devices, 8);
  EXPECT_EQ(s.pp, 2);
  EXPECT_EQ(s.pp_division, (std::vector<int>{4, 3}));  // the first stage takes the extra layer
  EXPECT_EQ(s.micro_batches, 4);
  EXPECT_EQ(s.global_batch, 16);
  ASSERT_EQ(s.layers.size(), 7u);
  for (const LayerStrategy& l : s.layers) EXPECT_EQ(l, ls);
  EXPECT_FALSE(s.embedding.checkpoint);
  EXPECT_EQ(s.embedding.tp, 2);
  EXPECT_FALSE(s.predicted.has_value());
}

}  // namespace
}  // namespace paratune
