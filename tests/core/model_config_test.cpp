// Model config: parameter / FLOP counts (hand-computed), round trips of every shipped config,
// Hugging Face import of real config.json files, and one test per kind of bad input.
#include "core/model_config.h"

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/core/core_test_util.h"

namespace paratune {
namespace {

using testing_util::error_contains;
using testing_util::repo_path;
using testing_util::write_temp;

ModelConfig load_or_die(const std::string& rel) {
  StatusOr<ModelConfig> m = load_model_config(repo_path(rel));
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? *m : ModelConfig{};
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Json tiny_json() { return to_json(load_or_die("configs/models/tiny.json")); }

/// Parses a mutated tiny config from a temp file named `name` and returns the status.
Status load_mutated(const std::string& name, const Json& j) {
  return load_model_config(write_temp(name, dump_json(j))).status();
}

TEST(ModelConfig, TinyCountsByHand) {
  const ModelConfig m = load_or_die("configs/models/tiny.json");
  EXPECT_EQ(m.num_layers, 4);
  EXPECT_EQ(m.head_dim(), 8);
  // attention 4*64*64 + MLP 2*64*256 + biases (4*64 + 256 + 64) + 2 layernorms * 128.
  EXPECT_EQ(m.layer_param_count(), 16384 + 32768 + 576 + 256);
  EXPECT_EQ(m.embedding_param_count(), 256 * 64 + 32 * 64);
  EXPECT_EQ(m.head_param_count(), 128);  // tied: final layernorm only
  EXPECT_EQ(m.total_param_count(), 4 * 49984 + 18432 + 128);
  // 2 * 49152 linear weights * 32 tokens + 4 * 32 * 32 * 64 attention.
  EXPECT_DOUBLE_EQ(m.layer_forward_flops_per_sample(), 3145728.0 + 262144.0);
  EXPECT_DOUBLE_EQ(m.head_forward_flops_per_sample(), 2.0 * 256 * 64 * 32);
  EXPECT_EQ(dtype_bytes(m.dtype), 4);
}

TEST(ModelConfig, GqaSwigluUntiedCountsByHand) {
  ModelConfig m;
  m.name = "g";
  m.num_layers = 2;
  m.hidden = 16;
  m.heads = 4;
  m.kv_heads = 2;
  m.ffn_hidden = 32;
  m.seq_len = 8;
  m.vocab = 10;
  m.norm = NormKind::kRmsNorm;
  m.activation = ActivationKind::kSwiGlu;
  m.position = PositionKind::kRope;
  m.tied_embeddings = false;
  m.bias = false;
  ASSERT_TRUE(validate(m, "g.json").ok());
  // q,o 16*16 each, k,v 16*(2*4) each, MLP 3*16*32, 2 rmsnorms 16 each.
  EXPECT_EQ(m.layer_param_count(), 512 + 256 + 1536 + 32);
  EXPECT_EQ(m.embedding_param_count(), 160);  // no learned positions
  EXPECT_EQ(m.head_param_count(), 16 + 160);
  EXPECT_DOUBLE_EQ(m.layer_forward_flops_per_sample(), 2.0 * (768 + 1536) * 8 + 4.0 * 64 * 16);
  m.bias = true;  // + q 16 + k 8 + v 8 + o 16 + MLP 2*32 + 16
  EXPECT_EQ(m.layer_param_count(), 2336 + 48 + 80);
}

TEST(ModelConfig, ShippedParamCounts) {
  const ModelConfig small = load_or_die("configs/models/gpt-small.json");
  EXPECT_EQ(small.total_param_count(), 124475904);  // GPT-2 small with vocab padded to 50304
  EXPECT_NEAR(small.total_param_count(), 124e6, 0.02 * 124e6);
  const ModelConfig l7 = load_or_die("configs/models/llama2-7b.json");
  EXPECT_EQ(l7.total_param_count(), 6738415616);  // the published Llama-2-7B count
  EXPECT_NEAR(l7.total_param_count(), 6.74e9, 0.02 * 6.74e9);
  const ModelConfig l70 = load_or_die("configs/models/llama2-70b.json");
  EXPECT_EQ(l70.total_param_count(), 68976648192);
  EXPECT_NEAR(l70.total_param_count(), 69e9, 0.03 * 69e9);
  const ModelConfig xl = load_or_die("configs/models/gpt2-xl.json");
  EXPECT_NEAR(xl.total_param_count(), 1.558e9, 0.01 * 1.558e9);
  const ModelConfig bert = load_or_die("configs/models/bert-large.json");
  EXPECT_NEAR(bert.total_param_count(), 335e6, 0.03 * 335e6);
}

TEST(ModelConfig, EveryShippedConfigRoundTripsCanonically) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(repo_path("configs/models"))) {
    if (e.path().extension() != ".json") continue;
    ++n;
    SCOPED_TRACE(e.path().string());
    StatusOr<ModelConfig> m = load_model_config(e.path().string());
    ASSERT_TRUE(m.ok()) << m.status().message();
    EXPECT_TRUE(validate(*m, e.path().string()).ok());
    EXPECT_EQ(m->name, e.path().stem().string());
    StatusOr<ModelConfig> back = model_config_from_json(to_json(*m), "round-trip");
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(*back, *m);
    // The files are written in the canonical form (same key order and number format).
    EXPECT_EQ(dump_json(to_json(*m)), slurp(e.path().string()));
  }
  EXPECT_EQ(n, 7);
}

TEST(ModelConfig, Fingerprint) {
  const ModelConfig tiny = load_or_die("configs/models/tiny.json");
  // FNV-1a 64 of the compact dump without "name" (computed independently in Python).
  EXPECT_EQ(fingerprint(tiny), "m-a04ab7489dd22e87");
  EXPECT_EQ(fingerprint(load_or_die("configs/models/gpt-small.json")), "m-f3160aff8fe531bf");
  ModelConfig renamed = tiny;
  renamed.name = "another name";
  EXPECT_EQ(fingerprint(renamed), fingerprint(tiny));
  ModelConfig wider = tiny;
  wider.seq_len = 64;
  EXPECT_NE(fingerprint(wider), fingerprint(tiny));
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
}

struct HfCase {
  const char* file;
  int layers, hidden, heads, kv_heads, ffn, seq, vocab;
  DType dtype;
  bool tied;
  int64_t params;
};

TEST(ModelConfig, HuggingFaceImport) {
  const HfCase cases[] = {
      // GPT-2 small: the published 124,439,808 parameters exactly.
      {"gpt2.json", 12, 768, 12, 12, 3072, 1024, 50257, DType::kFp32, true, 124439808},
      // Llama-2-7B: 6,738,415,616 exactly.
      {"llama-2-7b.json", 32, 4096, 32, 32, 11008, 4096, 32000, DType::kFp16, false, 6738415616},
      // Mistral-7B-v0.1 (GQA 32/8): 7,241,732,096 exactly.
      {"mistral-7b.json", 32, 4096, 32, 8, 14336, 32768, 32000, DType::kBf16, false, 7241732096},
      // Qwen2-7B: 7,615,616,512 published, minus the dropped q/k/v biases (28 * 4608).
      {"qwen2-7b.json", 28, 3584, 28, 4, 18944, 131072, 152064, DType::kBf16, false,
       7615616512 - 28 * 4608},
  };
  for (const HfCase& c : cases) {
    SCOPED_TRACE(c.file);
    const ModelConfig m = load_or_die(std::string("tests/data/hf/") + c.file);
    EXPECT_EQ(m.num_layers, c.layers);
    EXPECT_EQ(m.hidden, c.hidden);
    EXPECT_EQ(m.heads, c.heads);
    EXPECT_EQ(m.kv_heads, c.kv_heads);
    EXPECT_EQ(m.ffn_hidden, c.ffn);
    EXPECT_EQ(m.seq_len, c.seq);
    EXPECT_EQ(m.vocab, c.vocab);
    EXPECT_EQ(m.dtype, c.dtype);
    EXPECT_EQ(m.tied_embeddings, c.tied);
    EXPECT_EQ(m.total_param_count(), c.params);
    const bool gpt2 = std::string(c.file) == "gpt2.json";
    EXPECT_EQ(m.norm, gpt2 ? NormKind::kLayerNorm : NormKind::kRmsNorm);
    EXPECT_EQ(m.activation, gpt2 ? ActivationKind::kGelu : ActivationKind::kSwiGlu);
    EXPECT_EQ(m.position, gpt2 ? PositionKind::kLearned : PositionKind::kRope);
    EXPECT_EQ(m.bias, gpt2);
    // An imported config converts to paratune's format and back unchanged.
    StatusOr<ModelConfig> back = model_config_from_json(to_json(m), "x");
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(*back, m);
  }
  EXPECT_EQ(load_or_die("tests/data/hf/llama-2-7b.json").name, "meta-llama/Llama-2-7b-hf");
  EXPECT_EQ(load_or_die("tests/data/hf/mistral-7b.json").name, "mistral");
  EXPECT_DOUBLE_EQ(load_or_die("tests/data/hf/qwen2-7b.json").norm_eps, 1e-6);
}

TEST(ModelConfig, HuggingFaceDefaultsAndNulls) {
  // n_inner null -> 4 * n_embd; n_ctx used when n_positions is absent; tied by default.
  Json g = {{"model_type", "gpt2"}, {"n_layer", 2},  {"n_embd", 32},     {"n_head", 4},
            {"n_inner", nullptr},   {"n_ctx", 128}, {"vocab_size", 100}, {"anything", {1, 2}}};
  StatusOr<ModelConfig> m = model_config_from_hf_json(g, "g.json");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->ffn_hidden, 128);
  EXPECT_EQ(m->seq_len, 128);
  EXPECT_TRUE(m->tied_embeddings);
  EXPECT_EQ(m->dtype, DType::kFp32);
  EXPECT_EQ(m->name, "gpt2");
  // Llama without num_key_value_heads / torch_dtype: MHA, bf16; newer "dtype" key also read.
  Json l = {{"model_type", "llama"},      {"num_hidden_layers", 2}, {"hidden_size", 64},
            {"num_attention_heads", 4},   {"intermediate_size", 128},
            {"max_position_embeddings", 256}, {"vocab_size", 1000}};
  m = model_config_from_hf_json(l, "l.json");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->kv_heads, 4);
  EXPECT_EQ(m->dtype, DType::kBf16);
  EXPECT_FALSE(m->tied_embeddings);
  l["dtype"] = "float32";
  m = model_config_from_hf_json(l, "l.json");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->dtype, DType::kFp32);
  l["head_dim"] = 16;  // == 64 / 4: fine
  EXPECT_TRUE(model_config_from_hf_json(l, "l.json").ok());
}

// ---- bad inputs: each names the file and the exact field ----

TEST(ModelConfigErrors, MalformedJsonGivesLineAndColumn) {
  const std::string path = repo_path("tests/data/bad/malformed.json");
  const Status st = load_model_config(path).status();
  EXPECT_TRUE(error_contains(st, path + ":5:", "malformed JSON")) << st.message();
}

TEST(ModelConfigErrors, MissingFile) {
  const Status st = load_model_config("/nonexistent/m.json").status();
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_TRUE(error_contains(st, "/nonexistent/m.json"));
}

TEST(ModelConfigErrors, UnknownField) {
  Json j = tiny_json();
  j["hiden"] = 64;
  EXPECT_TRUE(error_contains(load_mutated("unknown.json", j), "unknown.json: field \"hiden\"",
                             "unknown field"));
}

TEST(ModelConfigErrors, MissingField) {
  Json j = tiny_json();
  j.erase("heads");
  EXPECT_TRUE(
      error_contains(load_mutated("missing.json", j), "missing.json: field \"heads\"", "missing"));
}

TEST(ModelConfigErrors, WrongType) {
  Json j = tiny_json();
  j["hidden"] = "64";
  EXPECT_TRUE(error_contains(load_mutated("type.json", j), "type.json: field \"hidden\"",
                             "expected an integer"));
  j = tiny_json();
  j["bias"] = 1;
  EXPECT_TRUE(error_contains(load_mutated("type2.json", j), "type2.json: field \"bias\"",
                             "expected true or false"));
  j = tiny_json();
  j["norm_eps"] = "small";
  EXPECT_TRUE(error_contains(load_mutated("type3.json", j), "type3.json: field \"norm_eps\"",
                             "expected a number"));
}

TEST(ModelConfigErrors, NegativeAndZero) {
  Json j = tiny_json();
  j["seq_len"] = -32;
  EXPECT_TRUE(
      error_contains(load_mutated("neg.json", j), "neg.json: field \"seq_len\"", "must be >= 1"));
  j = tiny_json();
  j["num_layers"] = 0;
  EXPECT_TRUE(error_contains(load_mutated("zero.json", j), "zero.json: field \"num_layers\""));
  j = tiny_json();
  j["norm_eps"] = -1e-5;
  EXPECT_TRUE(error_contains(load_mutated("eps.json", j), "eps.json: field \"norm_eps\""));
}

TEST(ModelConfigErrors, OverflowToInfinity) {
  // 1e999 overflows a double: nlohmann rejects it while parsing, so the message can only point
  // at the line and column (which is the field's line).
  const std::string path = repo_path("tests/data/bad/model-inf-eps.json");
  try {
    EXPECT_TRUE(error_contains(load_model_config(path).status(), path + ":17:", "1e999"));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "read_json_file let an exception escape (json_reader.cpp must catch every "
                     "nlohmann::json::exception, not only parse_error): "
                  << e.what();
  }
  // An infinite value that reaches the reader (built in memory) is rejected by name.
  Json j = tiny_json();
  j["norm_eps"] = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(error_contains(model_config_from_json(j, "inf.json").status(),
                             "inf.json: field \"norm_eps\"", "must be finite"));
}

TEST(ModelConfigErrors, BadEnumAndVersion) {
  Json j = tiny_json();
  j["norm"] = "batchnorm";
  EXPECT_TRUE(error_contains(load_mutated("enum.json", j), "enum.json: field \"norm\"",
                             "\"layernorm\", \"rmsnorm\"", "\"batchnorm\""));
  j = tiny_json();
  j["format_version"] = 2;
  EXPECT_TRUE(error_contains(load_mutated("ver.json", j), "ver.json: field \"format_version\"",
                             "unsupported version 2"));
}

TEST(ModelConfigErrors, StructuralChecks) {
  Json j = tiny_json();
  j["hidden"] = 65;
  EXPECT_TRUE(error_contains(load_mutated("h.json", j), "h.json: field \"hidden\"",
                             "must be divisible by heads (65 % 8 != 0)"));
  j = tiny_json();
  j["kv_heads"] = 3;
  EXPECT_TRUE(error_contains(load_mutated("kv.json", j), "kv.json: field \"kv_heads\"",
                             "must divide heads"));
  j = tiny_json();
  j["kv_heads"] = 16;
  EXPECT_TRUE(error_contains(load_mutated("kv2.json", j), "kv2.json: field \"kv_heads\"",
                             "must be <= heads"));
}

TEST(ModelConfigErrors, NeitherFormat) {
  const std::string path = repo_path("tests/data/bad/neither-format.json");
  EXPECT_TRUE(error_contains(load_model_config(path).status(), path, "\"format_version\"",
                             "\"model_type\""));
  EXPECT_TRUE(error_contains(load_model_config(write_temp("arr.json", "[1, 2]")).status(),
                             "arr.json", "not a model config"));
}

TEST(ModelConfigErrors, HuggingFaceMissingAndWrongKeys) {
  const std::string path = repo_path("tests/data/bad/hf-llama-missing-hidden.json");
  EXPECT_TRUE(error_contains(load_model_config(path).status(), path + ": field \"hidden_size\"",
                             "missing"));
  Json j = read_json_file(repo_path("tests/data/hf/mistral-7b.json")).value();
  j["num_hidden_layers"] = "32";
  EXPECT_TRUE(error_contains(model_config_from_hf_json(j, "cfg.json").status(),
                             "cfg.json: field \"num_hidden_layers\"", "expected an integer"));
  j = read_json_file(repo_path("tests/data/hf/mistral-7b.json")).value();
  j["model_type"] = "bert";
  EXPECT_TRUE(error_contains(model_config_from_hf_json(j, "cfg.json").status(),
                             "cfg.json: field \"model_type\"", "\"qwen2\"", "\"bert\""));
  j = read_json_file(repo_path("tests/data/hf/mistral-7b.json")).value();
  j["head_dim"] = 96;
  EXPECT_TRUE(error_contains(model_config_from_hf_json(j, "cfg.json").status(),
                             "cfg.json: field \"head_dim\"", "not supported"));
  j = read_json_file(repo_path("tests/data/hf/mistral-7b.json")).value();
  j["torch_dtype"] = "int8";
  EXPECT_TRUE(error_contains(model_config_from_hf_json(j, "cfg.json").status(),
                             "cfg.json: field \"torch_dtype\"", "\"bfloat16\""));
  j = read_json_file(repo_path("tests/data/hf/mistral-7b.json")).value();
  j["num_key_value_heads"] = 5;
  EXPECT_TRUE(error_contains(model_config_from_hf_json(j, "cfg.json").status(),
                             "cfg.json: field \"num_key_value_heads\"",
                             "must divide num_attention_heads"));
}

}  // namespace
}  // namespace paratune
