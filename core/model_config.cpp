// Model configuration: paratune's format, Hugging Face import, parameter and FLOP counts.
//
// Parameters of one transformer layer (h = hidden, f = ffn_hidden, kv = kv_heads * head_dim):
//   attention  q: h*h   k: h*kv   v: h*kv   o: h*h        (+ biases h + kv + kv + h)
//   MLP        gelu: 2*h*f (+ biases f + h)   swiglu: 3*h*f (+ biases 2f + h)
//   norms      2 per layer; layernorm 2h each (weight + bias), rmsnorm h each
// Embedding: vocab*h (+ seq_len*h learned positions). Head: final norm + (tied ? 0 : vocab*h).
//
// Forward FLOPs for one sample of s = seq_len tokens (a multiply-add counts 2):
//   layer = 2 * (linear weight count) * s + 2 * 2 * s * s * h      (QK^T and AV, unmasked)
//   head  = 2 * vocab * h * s
// Backward is ~2x forward; the estimator, not this file, decides that.
//
// Hugging Face import (config.json): keys paratune does not need are ignored (HF files carry
// many); a needed key that is missing or has the wrong type is an error naming it.
//   gpt2:  n_layer, n_embd, n_head, n_inner (null/absent -> 4*n_embd), n_positions (or n_ctx)
//          -> seq_len, vocab_size, layer_norm_epsilon, tie_word_embeddings (default true),
//          torch_dtype (default fp32: GPT-2's released weights are fp32); layernorm, gelu,
//          learned positions, biases.
//   llama / mistral / qwen2: num_hidden_layers, hidden_size, num_attention_heads,
//          num_key_value_heads (default = heads), intermediate_size, max_position_embeddings
//          -> seq_len (as is: the model's context length; lower it in a copy for training runs),
//          vocab_size, rms_norm_eps, tie_word_embeddings (default false), torch_dtype or dtype
//          (default bf16); rmsnorm, swiglu, rope, no biases. Qwen2's q/k/v projections carry
//          biases (and Llama's attention_bias may add them): these are dropped — bias=false —
//          as they are < 0.01% of the parameters and change no matmul shape. A head_dim key
//          that differs from hidden_size / num_attention_heads is rejected (not representable).
#include "core/model_config.h"

#include <cinttypes>
#include <cstdio>

#include "core/units.h"

namespace paratune {

const char* to_string(NormKind k) { return k == NormKind::kLayerNorm ? "layernorm" : "rmsnorm"; }
const char* to_string(ActivationKind k) { return k == ActivationKind::kGelu ? "gelu" : "swiglu"; }
const char* to_string(PositionKind k) { return k == PositionKind::kLearned ? "learned" : "rope"; }
const char* to_string(DType k) {
  switch (k) {
    case DType::kFp32: return "fp32";
    case DType::kBf16: return "bf16";
    case DType::kFp16: return "fp16";
  }
  return "?";
}
int dtype_bytes(DType d) { return d == DType::kFp32 ? 4 : 2; }

namespace {

int64_t attention_weights(const ModelConfig& m) {
  const int64_t h = m.hidden;
  const int64_t kv = static_cast<int64_t>(m.kv_heads) * m.head_dim();
  return 2 * h * h + 2 * h * kv;
}
int64_t mlp_weights(const ModelConfig& m) {
  const int64_t mats = m.activation == ActivationKind::kSwiGlu ? 3 : 2;
  return mats * m.hidden * static_cast<int64_t>(m.ffn_hidden);
}
int64_t norm_params(const ModelConfig& m) {
  return m.norm == NormKind::kLayerNorm ? 2 * static_cast<int64_t>(m.hidden) : m.hidden;
}

NormKind parse_norm(const std::string& s) {
  return s == "rmsnorm" ? NormKind::kRmsNorm : NormKind::kLayerNorm;
}
ActivationKind parse_activation(const std::string& s) {
  return s == "swiglu" ? ActivationKind::kSwiGlu : ActivationKind::kGelu;
}
PositionKind parse_position(const std::string& s) {
  return s == "rope" ? PositionKind::kRope : PositionKind::kLearned;
}
DType parse_dtype(const std::string& s) {
  if (s == "bf16") return DType::kBf16;
  if (s == "fp16") return DType::kFp16;
  return DType::kFp32;
}

constexpr int64_t kMaxInt = 0x7fffffff;

std::string file_field(const std::string& file, const std::string& field, const std::string& what) {
  return file + ": field \"" + field + "\": " + what;
}

}  // namespace

int64_t ModelConfig::layer_param_count() const {
  int64_t p = attention_weights(*this) + mlp_weights(*this) + 2 * norm_params(*this);
  if (bias) {
    const int64_t kv = static_cast<int64_t>(kv_heads) * head_dim();
    p += 2 * static_cast<int64_t>(hidden) + 2 * kv;  // q, k, v, o
    p += (activation == ActivationKind::kSwiGlu ? 2 : 1) * static_cast<int64_t>(ffn_hidden) +
         hidden;
  }
  return p;
}

int64_t ModelConfig::embedding_param_count() const {
  int64_t p = static_cast<int64_t>(vocab) * hidden;
  if (position == PositionKind::kLearned) p += static_cast<int64_t>(seq_len) * hidden;
  return p;
}

int64_t ModelConfig::head_param_count() const {
  return norm_params(*this) + (tied_embeddings ? 0 : static_cast<int64_t>(vocab) * hidden);
}

int64_t ModelConfig::layer_tp_replicated_param_count() const {
  // Two norms; the biases of the two row-parallel linears (attention output, MLP down/fc2),
  // added after the TP reduction.
  return 2 * norm_params(*this) + (bias ? 2 * static_cast<int64_t>(hidden) : 0);
}

int64_t ModelConfig::embedding_tp_replicated_param_count() const {
  return position == PositionKind::kLearned ? static_cast<int64_t>(seq_len) * hidden : 0;
}

int64_t ModelConfig::head_tp_replicated_param_count() const { return norm_params(*this); }

int64_t ModelConfig::total_param_count() const {
  return static_cast<int64_t>(num_layers) * layer_param_count() + embedding_param_count() +
         head_param_count();
}

double ModelConfig::layer_forward_flops_per_sample() const {
  const double s = seq_len;
  const double linear = static_cast<double>(attention_weights(*this) + mlp_weights(*this));
  return 2.0 * linear * s + 4.0 * s * s * hidden;
}

double ModelConfig::head_forward_flops_per_sample() const {
  return 2.0 * static_cast<double>(vocab) * hidden * seq_len;
}

bool ModelConfig::operator==(const ModelConfig& o) const {
  return name == o.name && num_layers == o.num_layers && hidden == o.hidden && heads == o.heads &&
         kv_heads == o.kv_heads && ffn_hidden == o.ffn_hidden && seq_len == o.seq_len &&
         vocab == o.vocab && norm == o.norm && activation == o.activation &&
         position == o.position && dtype == o.dtype && tied_embeddings == o.tied_embeddings &&
         bias == o.bias && norm_eps == o.norm_eps;
}

namespace {

/// The key each checked field has in the file being read (paratune's or a HF config.json).
struct FieldNames {
  const char* num_layers = "num_layers";
  const char* hidden = "hidden";
  const char* heads = "heads";
  const char* kv_heads = "kv_heads";
  const char* ffn_hidden = "ffn_hidden";
  const char* seq_len = "seq_len";
  const char* vocab = "vocab";
  const char* norm_eps = "norm_eps";
};

FieldNames hf_names(bool gpt2) {
  if (gpt2) {
    return FieldNames{"n_layer", "n_embd",      "n_head",     "n_head",
                      "n_inner", "n_positions", "vocab_size", "layer_norm_epsilon"};
  }
  return FieldNames{"num_hidden_layers", "hidden_size",
                    "num_attention_heads", "num_key_value_heads",
                    "intermediate_size",   "max_position_embeddings",
                    "vocab_size",          "rms_norm_eps"};
}

Status validate_named(const ModelConfig& m, const std::string& file, const FieldNames& n) {
  const std::pair<const char*, int> sizes[] = {
      {n.num_layers, m.num_layers}, {n.hidden, m.hidden},   {n.heads, m.heads},
      {n.kv_heads, m.kv_heads},     {n.ffn_hidden, m.ffn_hidden}, {n.seq_len, m.seq_len},
      {n.vocab, m.vocab}};
  for (const auto& [field, v] : sizes) {
    if (v < 1) {
      return InvalidArgument(file_field(file, field, "must be >= 1, got " + std::to_string(v)));
    }
  }
  if (m.hidden % m.heads != 0) {
    return InvalidArgument(file_field(file, n.hidden,
                                      std::string("must be divisible by ") + n.heads + " (" +
                                          std::to_string(m.hidden) + " % " +
                                          std::to_string(m.heads) + " != 0)"));
  }
  if (m.kv_heads > m.heads) {
    return InvalidArgument(file_field(file, n.kv_heads,
                                      std::string("must be <= ") + n.heads + " (" +
                                          std::to_string(m.kv_heads) + " > " +
                                          std::to_string(m.heads) + ")"));
  }
  if (m.heads % m.kv_heads != 0) {
    return InvalidArgument(file_field(file, n.kv_heads,
                                      std::string("must divide ") + n.heads + " (" +
                                          std::to_string(m.heads) + " % " +
                                          std::to_string(m.kv_heads) + " != 0)"));
  }
  if (!(m.norm_eps > 0.0) || !is_finite(m.norm_eps)) {
    return InvalidArgument(file_field(file, n.norm_eps, "must be finite and > 0"));
  }
  return Status::Ok();
}

}  // namespace

Status validate(const ModelConfig& m, const std::string& file) {
  return validate_named(m, file, FieldNames{});
}

StatusOr<ModelConfig> model_config_from_json(const Json& j, const std::string& file) {
  ObjectReader r(j, file);
  ModelConfig m;
  r.format_version(ModelConfig::kFormatVersion);
  m.name = r.string("name");
  m.num_layers = static_cast<int>(r.integer("num_layers", 1, kMaxInt));
  m.hidden = static_cast<int>(r.integer("hidden", 1, kMaxInt));
  m.heads = static_cast<int>(r.integer("heads", 1, kMaxInt));
  m.kv_heads = static_cast<int>(r.integer("kv_heads", 1, kMaxInt));
  m.ffn_hidden = static_cast<int>(r.integer("ffn_hidden", 1, kMaxInt));
  m.seq_len = static_cast<int>(r.integer("seq_len", 1, kMaxInt));
  m.vocab = static_cast<int>(r.integer("vocab", 1, kMaxInt));
  m.norm = parse_norm(r.enumeration("norm", {"layernorm", "rmsnorm"}));
  m.activation = parse_activation(r.enumeration("activation", {"gelu", "swiglu"}));
  m.position = parse_position(r.enumeration("position", {"learned", "rope"}));
  m.dtype = parse_dtype(r.enumeration("dtype", {"fp32", "bf16", "fp16"}));
  m.tied_embeddings = r.boolean("tied_embeddings");
  m.bias = r.boolean("bias");
  m.norm_eps = r.number("norm_eps");
  PARATUNE_RETURN_IF_ERROR(r.finish());
  PARATUNE_RETURN_IF_ERROR(validate(m, file));
  return m;
}

StatusOr<ModelConfig> model_config_from_hf_json(const Json& j, const std::string& file) {
  if (!j.is_object()) return InvalidArgument(file + ": top level: expected a JSON object");
  ObjectReader top(j, file);
  const std::string type =
      top.enumeration("model_type", {"gpt2", "llama", "mistral", "qwen2"});
  if (!top.ok()) return top.finish();

  // Only the keys paratune needs go through the strict reader (null counts as absent, as
  // transformers writes e.g. "n_inner": null); everything else in the file is ignored.
  const bool gpt2 = type == "gpt2";
  const std::vector<std::string> keys =
      gpt2 ? std::vector<std::string>{"n_layer", "n_embd", "n_head", "n_inner", "n_positions",
                                      "n_ctx", "vocab_size", "layer_norm_epsilon",
                                      "tie_word_embeddings", "torch_dtype", "dtype",
                                      "activation_function", "_name_or_path"}
           : std::vector<std::string>{"num_hidden_layers", "hidden_size", "num_attention_heads",
                                      "num_key_value_heads", "intermediate_size",
                                      "max_position_embeddings", "vocab_size", "rms_norm_eps",
                                      "tie_word_embeddings", "torch_dtype", "dtype",
                                      "hidden_act", "head_dim", "_name_or_path"};
  Json sub = Json::object();
  for (const std::string& k : keys) {
    auto it = j.find(k);
    if (it != j.end() && !it->is_null()) sub[k] = *it;
  }
  ObjectReader r(sub, file);
  ModelConfig m;
  m.name = r.string_or("_name_or_path", "");
  if (m.name.empty()) m.name = type;
  const std::vector<std::string> dtypes = {"float32", "bfloat16", "float16"};
  auto read_dtype = [&](const std::string& fallback) {
    std::string d = fallback;
    if (r.has("torch_dtype")) d = r.enumeration("torch_dtype", dtypes);
    else if (r.has("dtype")) d = r.enumeration("dtype", dtypes);
    r.string_or("torch_dtype", "");  // mark both known
    r.string_or("dtype", "");
    return d == "bfloat16" ? DType::kBf16 : d == "float16" ? DType::kFp16 : DType::kFp32;
  };
  if (gpt2) {
    m.num_layers = static_cast<int>(r.integer("n_layer", 1, kMaxInt));
    m.hidden = static_cast<int>(r.integer("n_embd", 1, kMaxInt));
    m.heads = static_cast<int>(r.integer("n_head", 1, kMaxInt));
    m.kv_heads = m.heads;
    m.ffn_hidden = static_cast<int>(r.integer_or("n_inner", 4 * int64_t{m.hidden}, 1, kMaxInt));
    if (r.has("n_positions") || !r.has("n_ctx")) {
      m.seq_len = static_cast<int>(r.integer("n_positions", 1, kMaxInt));
      r.integer_or("n_ctx", 0, 1, kMaxInt);
    } else {
      m.seq_len = static_cast<int>(r.integer("n_ctx", 1, kMaxInt));
      r.integer_or("n_positions", 0, 1, kMaxInt);
    }
    m.vocab = static_cast<int>(r.integer("vocab_size", 1, kMaxInt));
    m.norm_eps = r.number_or("layer_norm_epsilon", 1e-5);
    m.tied_embeddings = r.boolean_or("tie_word_embeddings", true);
    m.dtype = read_dtype("float32");
    r.enumeration_or("activation_function", {"gelu", "gelu_new", "gelu_fast",
                                             "gelu_pytorch_tanh"}, "gelu_new");
    m.norm = NormKind::kLayerNorm;
    m.activation = ActivationKind::kGelu;
    m.position = PositionKind::kLearned;
    m.bias = true;
  } else {
    m.num_layers = static_cast<int>(r.integer("num_hidden_layers", 1, kMaxInt));
    m.hidden = static_cast<int>(r.integer("hidden_size", 1, kMaxInt));
    m.heads = static_cast<int>(r.integer("num_attention_heads", 1, kMaxInt));
    m.kv_heads = static_cast<int>(r.integer_or("num_key_value_heads", m.heads, 1, kMaxInt));
    m.ffn_hidden = static_cast<int>(r.integer("intermediate_size", 1, kMaxInt));
    m.seq_len = static_cast<int>(r.integer("max_position_embeddings", 1, kMaxInt));
    m.vocab = static_cast<int>(r.integer("vocab_size", 1, kMaxInt));
    m.norm_eps = r.number_or("rms_norm_eps", 1e-6);
    m.tied_embeddings = r.boolean_or("tie_word_embeddings", false);
    m.dtype = read_dtype("bfloat16");
    r.enumeration_or("hidden_act", {"silu", "swish"}, "silu");
    const int64_t head_dim = r.integer_or("head_dim", 0, 1, kMaxInt);
    if (r.ok() && head_dim != 0 && m.hidden % m.heads == 0 && head_dim != m.hidden / m.heads) {
      r.fail("head_dim", "head_dim " + std::to_string(head_dim) +
                             " != hidden_size / num_attention_heads (" +
                             std::to_string(m.hidden / m.heads) + ") is not supported");
    }
    m.norm = NormKind::kRmsNorm;
    m.activation = ActivationKind::kSwiGlu;
    m.position = PositionKind::kRope;
    m.bias = false;
  }
  PARATUNE_RETURN_IF_ERROR(r.finish());
  PARATUNE_RETURN_IF_ERROR(validate_named(m, file, hf_names(gpt2)));
  return m;
}

StatusOr<ModelConfig> load_model_config(const std::string& path) {
  PARATUNE_ASSIGN_OR_RETURN(Json j, read_json_file(path));
  if (j.is_object() && j.contains("format_version")) return model_config_from_json(j, path);
  if (j.is_object() && j.contains("model_type")) return model_config_from_hf_json(j, path);
  return InvalidArgument(path +
                         ": top level: not a model config: expected \"format_version\" "
                         "(paratune format) or \"model_type\" (Hugging Face config.json)");
}

Json to_json(const ModelConfig& m) {
  Json j;
  j["format_version"] = ModelConfig::kFormatVersion;
  j["name"] = m.name;
  j["num_layers"] = m.num_layers;
  j["hidden"] = m.hidden;
  j["heads"] = m.heads;
  j["kv_heads"] = m.kv_heads;
  j["ffn_hidden"] = m.ffn_hidden;
  j["seq_len"] = m.seq_len;
  j["vocab"] = m.vocab;
  j["norm"] = to_string(m.norm);
  j["activation"] = to_string(m.activation);
  j["position"] = to_string(m.position);
  j["dtype"] = to_string(m.dtype);
  j["tied_embeddings"] = m.tied_embeddings;
  j["bias"] = m.bias;
  j["norm_eps"] = m.norm_eps;
  return j;
}

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string fingerprint(const ModelConfig& m) {
  Json j = to_json(m);
  j.erase("name");
  char buf[24];
  std::snprintf(buf, sizeof buf, "m-%016" PRIx64, fnv1a64(j.dump()));
  return buf;
}

}  // namespace paratune
