// Model profile files: round trip, lookup, and every kind of bad input.
#include <cmath>
#include "core/model_profile.h"

#include <limits>

#include <gtest/gtest.h>

#include "tests/core/core_test_util.h"

namespace paratune {
namespace {

using testing_util::error_contains;
using testing_util::write_temp;

ModelProfile sample() {
  ModelProfile p;
  p.model = "tiny";
  p.model_fingerprint = "m-a04ab7489dd22e87";
  p.source = "measured";
  p.device = "cpu";
  p.seq_len = 32;
  LayerTypeProfile t;
  t.name = "transformer";
  t.param_count = 49984;
  t.compute = {ComputePoint{1, 1, Milliseconds(2.5), Milliseconds(5.0)},
               ComputePoint{2, 1, Milliseconds(4.75), Milliseconds(9.5)},
               ComputePoint{1, 2, Milliseconds(1.5), Milliseconds(3.0)}};
  t.activation = {ActivationPoint{1, false, Bytes(65536)}, ActivationPoint{2, false, Bytes(40960)},
                  ActivationPoint{2, true, Bytes(32768)}};
  t.checkpoint_bytes_per_sample = Bytes(8192);
  LayerTypeProfile e;
  e.name = "embedding";
  e.param_count = 18432;
  e.compute = {ComputePoint{1, 1, Milliseconds(0), Milliseconds(0.125)}};
  e.activation = {ActivationPoint{1, false, Bytes(8192)}};
  LayerTypeProfile h;
  h.name = "lm_head";
  h.param_count = 128;  // no compute points: the estimator falls back to its formula
  p.layer_types = {t, e, h};
  return p;
}

Status parse(const Json& j) { return model_profile_from_json(j, "prof.json").status(); }

TEST(ModelProfile, RoundTrip) {
  const ModelProfile p = sample();
  ASSERT_TRUE(validate(p, "mem").ok()) << validate(p, "mem").message();
  StatusOr<ModelProfile> back = model_profile_from_json(to_json(p), "rt");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, p);
  const std::string path = write_temp("profile.json", dump_json(to_json(p)));
  StatusOr<ModelProfile> loaded = load_model_profile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(*loaded, p);
  EXPECT_EQ(dump_json(to_json(*loaded)), dump_json(to_json(p)));
}

TEST(ModelProfile, OptimizerStepRoundTripAndOptional) {
  ModelProfile p = sample();
  p.optimizer_step = {OptimizerPoint{1024, Milliseconds(0.25)},
                      OptimizerPoint{65536, Milliseconds(3.5)}};
  StatusOr<ModelProfile> back = model_profile_from_json(to_json(p), "rt");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, p);
  EXPECT_EQ(to_json(p)["optimizer_step"].dump(),
            R"([{"params":1024,"ms":0.25},{"params":65536,"ms":3.5}])");
  // Absent when empty (files written before the field existed read the same).
  EXPECT_FALSE(to_json(sample()).contains("optimizer_step"));
  EXPECT_NE(back->optimizer_step, sample().optimizer_step);
}

TEST(ModelProfileErrors, OptimizerStep) {
  ModelProfile p = sample();
  p.optimizer_step = {OptimizerPoint{1024, Milliseconds(0.25)},
                      OptimizerPoint{1024, Milliseconds(0.5)}};
  EXPECT_TRUE(error_contains(validate(p, "p.json"), "p.json: field \"optimizer_step[1]\"",
                             "duplicate point for params 1024"));
  p.optimizer_step = {OptimizerPoint{0, Milliseconds(0.25)}};
  EXPECT_TRUE(error_contains(validate(p, "p.json"), "field \"optimizer_step[0].params\"",
                             ">= 1"));
  p.optimizer_step = {OptimizerPoint{8, Milliseconds(-1)}};
  EXPECT_TRUE(error_contains(parse(to_json(p)), "prof.json: field \"optimizer_step[0].ms\"",
                             ">= 0"));
  Json j = to_json(sample());
  j["optimizer_step"] = Json::array();
  EXPECT_TRUE(error_contains(parse(j), "prof.json: field \"optimizer_step\""));
  j["optimizer_step"] = Json::array({Json{{"params", 8}, {"ms", 1.0}, {"when", 2}}});
  EXPECT_TRUE(error_contains(parse(j), "field \"optimizer_step[0].when\"", "unknown field"));
}

TEST(ModelProfile, SpeedProbeRoundTripAndOptional) {
  ModelProfile p = sample();
  p.speed_probe = SpeedProbe{"transformer tp 1 mb 1 forward+backward", Milliseconds(4.5), 0.9};
  StatusOr<ModelProfile> back = model_profile_from_json(to_json(p), "rt");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, p);
  EXPECT_EQ(to_json(p)["speed_probe"].dump(),
            R"({"call":"transformer tp 1 mb 1 forward+backward","measured_ms":4.5,"scale":0.9})");
  EXPECT_DOUBLE_EQ(back->speed_probe->at_profile_speed().value, 4.5 * 0.9);
  // Absent when not measured (files written before the field existed read the same).
  EXPECT_FALSE(to_json(sample()).contains("speed_probe"));
  EXPECT_FALSE(*back == sample());
}

TEST(ModelProfileErrors, SpeedProbe) {
  ModelProfile p = sample();
  p.speed_probe = SpeedProbe{"c", Milliseconds(0), 1.0};
  EXPECT_TRUE(error_contains(validate(p, "p.json"), "p.json: field \"speed_probe.measured_ms\"",
                             "> 0"));
  p.speed_probe = SpeedProbe{"c", Milliseconds(2), 0.0};
  EXPECT_TRUE(error_contains(parse(to_json(p)), "prof.json: field \"speed_probe.scale\"", "> 0"));
  p.speed_probe = SpeedProbe{"c", Milliseconds(2), -1.0};
  EXPECT_TRUE(error_contains(parse(to_json(p)), "prof.json: field \"speed_probe.scale\"", ">= 0"));
  p.speed_probe = SpeedProbe{"c", Milliseconds(std::nan("")), 1.0};
  EXPECT_TRUE(error_contains(validate(p, "p.json"), "field \"speed_probe.measured_ms\""));
  Json j = to_json(sample());
  j["speed_probe"] = Json{{"call", "c"}, {"measured_ms", 1.0}};
  EXPECT_TRUE(error_contains(parse(j), "field \"speed_probe.scale\""));
  j["speed_probe"] = Json{{"call", "c"}, {"measured_ms", 1.0}, {"scale", 1.0}, {"at", 3}};
  EXPECT_TRUE(error_contains(parse(j), "field \"speed_probe.at\"", "unknown field"));
  j["speed_probe"] = 3;
  EXPECT_TRUE(error_contains(parse(j), "field \"speed_probe\""));
}

TEST(ModelProfile, ForwardNoGradRoundTripAndOptional) {
  ModelProfile p = sample();
  p.layer_types[0].compute[1].forward_no_grad = Milliseconds(3.25);
  StatusOr<ModelProfile> back = model_profile_from_json(to_json(p), "rt");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, p);
  EXPECT_FALSE(*back == sample());  // the field takes part in equality
  const Json j = to_json(p);
  const Json& pts = j["layer_types"][0]["compute"];
  EXPECT_EQ(pts[1].dump(), R"({"micro_batch":2,"tp":1,"forward_ms":4.75,"backward_ms":9.5,)"
                           R"("forward_no_grad_ms":3.25})");
  EXPECT_FALSE(pts[0].contains("forward_no_grad_ms"));  // written only when measured
  ASSERT_TRUE(back->layer_types[0].compute[1].forward_no_grad.has_value());
  EXPECT_FALSE(back->layer_types[0].compute[0].forward_no_grad.has_value());
}

TEST(ModelProfileErrors, ForwardNoGrad) {
  ModelProfile p = sample();
  p.layer_types[0].compute[2].forward_no_grad = Milliseconds(-0.5);
  EXPECT_TRUE(error_contains(validate(p, "p.json"),
                             "p.json: field \"layer_types[0].compute[2].forward_no_grad_ms\"",
                             ">= 0"));
  Json j = to_json(sample());
  j["layer_types"][0]["compute"][0]["forward_no_grad_ms"] = "fast";
  EXPECT_TRUE(error_contains(parse(j), "field \"layer_types[0].compute[0].forward_no_grad_ms\""));
}

TEST(ModelProfile, CanonicalForm) {
  const Json j = to_json(sample());
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"format_version", "model", "model_fingerprint",
                                            "source", "device", "seq_len", "layer_types"}));
  EXPECT_EQ(j["layer_types"][1].dump(),
            R"({"name":"embedding","param_count":18432,"compute":[{"micro_batch":1,"tp":1,)"
            R"("forward_ms":0.0,"backward_ms":0.125}],"activation":[{"tp":1,"sp":false,)"
            R"("bytes_per_sample":8192.0}],"checkpoint_bytes_per_sample":0.0})");
}

TEST(ModelProfile, Find) {
  const ModelProfile p = sample();
  ASSERT_NE(p.find("transformer"), nullptr);
  EXPECT_EQ(p.find("transformer")->param_count, 49984);
  EXPECT_EQ(p.find("lm_head")->compute.size(), 0u);
  EXPECT_EQ(p.find("decoder"), nullptr);
}

TEST(ModelProfileErrors, Parsing) {
  Json j = to_json(sample());
  j["layer_types"][0]["compute"][2]["fwd_ms"] = 1.0;
  EXPECT_TRUE(error_contains(parse(j), "prof.json: field \"layer_types[0].compute[2].fwd_ms\"",
                             "unknown field"));
  j = to_json(sample());
  j["layer_types"][0]["activation"][1].erase("sp");
  EXPECT_TRUE(error_contains(parse(j), "prof.json: field \"layer_types[0].activation[1].sp\"",
                             "missing"));
  j = to_json(sample());
  j["layer_types"][0]["compute"][1]["backward_ms"] = -9.5;
  EXPECT_TRUE(error_contains(parse(j),
                             "prof.json: field \"layer_types[0].compute[1].backward_ms\"",
                             "must be >= 0"));
  j = to_json(sample());
  j["layer_types"][0]["compute"][0]["micro_batch"] = 0;
  EXPECT_TRUE(error_contains(parse(j),
                             "prof.json: field \"layer_types[0].compute[0].micro_batch\"",
                             "must be >= 1"));
  j = to_json(sample());
  j["layer_types"][2]["name"] = "decoder";
  EXPECT_TRUE(error_contains(parse(j), "prof.json: field \"layer_types[2].name\"",
                             "\"lm_head\"", "\"decoder\""));
  j = to_json(sample());
  j["layer_types"][1]["param_count"] = "18k";
  EXPECT_TRUE(error_contains(parse(j), "prof.json: field \"layer_types[1].param_count\"",
                             "expected an integer"));
  j = to_json(sample());
  j["seq_len"] = 0;
  EXPECT_TRUE(error_contains(parse(j), "prof.json: field \"seq_len\""));
  j = to_json(sample());
  j["source"] = "vibes";
  EXPECT_TRUE(error_contains(parse(j), "prof.json: field \"source\"", "\"galvatron-import\""));
  j = to_json(sample());
  j["layer_types"][0]["checkpoint_bytes_per_sample"] = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(error_contains(
      parse(j), "prof.json: field \"layer_types[0].checkpoint_bytes_per_sample\"", "finite"));
}

TEST(ModelProfileErrors, Semantics) {
  ModelProfile p = sample();
  p.layer_types[2].name = "embedding";
  EXPECT_TRUE(error_contains(validate(p, "p.json"), "p.json: field \"layer_types[2].name\"",
                             "duplicate layer type \"embedding\""));
  EXPECT_TRUE(error_contains(parse(to_json(p)), "prof.json: field \"layer_types[2].name\""));
  p = sample();
  p.layer_types.erase(p.layer_types.begin());
  EXPECT_TRUE(error_contains(validate(p, "p.json"), "p.json: field \"layer_types\"",
                             "needs a \"transformer\" entry"));
  p = sample();
  // compute[2] becomes (micro_batch 1, tp 1), like compute[0].
  p.layer_types[0].compute[2].tp = 1;
  EXPECT_TRUE(error_contains(validate(p, "p.json"), "field \"layer_types[0].compute[2]\"",
                             "duplicate point for micro_batch 1, tp 1"));
  p = sample();
  p.layer_types[0].compute[2].tp = 3;
  EXPECT_TRUE(error_contains(validate(p, "p.json"), "field \"layer_types[0].compute[2].tp\"",
                             "power of two"));
  p = sample();
  p.layer_types[0].activation[0].sp = true;  // tp 1
  EXPECT_TRUE(error_contains(validate(p, "p.json"), "field \"layer_types[0].activation[0].sp\"",
                             "needs tp > 1"));
  p = sample();
  p.layer_types[0].activation[2].sp = false;  // now (2, false) twice
  EXPECT_TRUE(error_contains(validate(p, "p.json"), "field \"layer_types[0].activation[2]\"",
                             "duplicate point for tp 2 without sp"));
  p = sample();
  p.layer_types[1].compute[0].forward = Milliseconds(-1);
  EXPECT_TRUE(error_contains(validate(p, "p.json"),
                             "field \"layer_types[1].compute[0].forward_ms\""));
}

}  // namespace
}  // namespace paratune
